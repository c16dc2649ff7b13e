"""Brier of model, market and blend, and the calibration bins, from scored markets."""

from __future__ import annotations

from decimal import Decimal

from trader.backtest.scoring import Scored, brier, calibration


def d(text: str) -> Decimal:
    return Decimal(text)


SCORED = [
    Scored("0xa", model=d("0.9"), market_price=d("0.6"), blend=d("0.7"), outcome=d("1")),
    Scored("0xb", model=d("0.15"), market_price=d("0.4"), blend=d("0.3"), outcome=d("0")),
    Scored("0xc", model=d("0.55"), market_price=d("0.5"), blend=d("0.52"), outcome=d("0.5")),
]


def test_brier_scores_model_market_and_blend_separately() -> None:
    scores = brier(SCORED)

    assert scores["markets"] == 3
    assert scores["model"] == "0.0117"  # (0.01 + 0.0225 + 0.0025) / 3
    assert scores["market"] == "0.1067"  # (0.16 + 0.16 + 0) / 3
    assert scores["blend"] == "0.0601"  # (0.09 + 0.09 + 0.0004) / 3


def test_brier_without_resolved_markets_is_none() -> None:
    assert brier([]) == {
        "markets": 0,
        "model": None,
        "market": None,
        "blend": None,
        "note": brier([])["note"],
    }


def test_calibration_bins_hold_mean_forecast_and_yes_frequency() -> None:
    table = calibration(SCORED)

    assert [(b["low"], b["count"], b["frequency"]) for b in table["model"]] == [
        ("0.1", 1, "0.0000"),
        ("0.5", 1, "0.5000"),
        ("0.9", 1, "1.0000"),
    ]
    assert [(b["low"], b["count"], b["mean_probability"]) for b in table["market"]] == [
        ("0.4", 1, "0.4000"),
        ("0.5", 1, "0.5000"),
        ("0.6", 1, "0.6000"),
    ]
    one = calibration([Scored("0xd", d("1"), d("1"), d("1"), d("1"))])
    assert one["model"][0]["low"] == "0.9"  # a certain forecast falls in the top bin
