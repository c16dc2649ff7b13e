"""How well a backtest's forecasts did: Brier scores of the model, the market and the blend, and
the calibration table behind the chart.

Each market that resolved inside the window is scored once, by its last forecast before its
resolution, against what its YES share paid (1, 0 or 0.5). Three probabilities are scored: the
model's own (its calibrated aggregate, or the samples' aggregate when nothing was calibrated),
the market's (the YES mid the forecast saw) and the blend the trader traded
(`Forecast.model_probability`). Calibration puts the same forecasts in ten bins of width 0.1 and
gives, per bin that holds any, the mean forecast probability and the mean YES payout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from trader.domain import ZERO, Market, Payouts

FOUR = Decimal("0.0001")
BINS = 10
SCORED = ("model", "market", "blend")
NOTE = "each resolved market's last forecast before resolution vs its YES payout"


@dataclass(frozen=True, slots=True)
class Scored:
    """One resolved market: the three probabilities of its last forecast, and the outcome."""

    market: str
    model: Decimal
    market_price: Decimal
    blend: Decimal
    outcome: Decimal

    def probability(self, name: str) -> Decimal:
        return {"model": self.model, "market": self.market_price, "blend": self.blend}[name]


def scored_markets(
    last: Mapping[str, tuple[Decimal, Decimal, Decimal]],
    resolutions: Mapping[str, Payouts],
    markets: Mapping[str, Market],
) -> list[Scored]:
    """`last`: condition id -> (model, market, blend) of its last forecast."""
    found = []
    for condition_id, payouts in sorted(resolutions.items()):
        forecast, listed = last.get(condition_id), markets.get(condition_id)
        yes = listed.token("Yes") if listed else None
        if forecast is None or yes is None or yes.token_id not in payouts:
            continue
        model, market, blend = forecast
        found.append(Scored(condition_id, model, market, blend, payouts[yes.token_id]))
    return found


def _ratio(value: Decimal) -> str:
    return str(value.quantize(FOUR))


def brier(scored: Sequence[Scored]) -> dict[str, Any]:
    count = len(scored)
    result: dict[str, Any] = {"markets": count}
    for name in SCORED:
        errors = [(s.probability(name) - s.outcome) ** 2 for s in scored]
        result[name] = _ratio(sum(errors, ZERO) / count) if count else None
    result["note"] = NOTE
    return result


def calibration(scored: Sequence[Scored]) -> dict[str, Any]:
    """Per scored probability, the non-empty bins: [low, high), count, mean forecast, mean YES."""
    table: dict[str, Any] = {"bins": BINS, "markets": len(scored)}
    for name in SCORED:
        rows = []
        for index in range(BINS):
            low, high = Decimal(index) / BINS, Decimal(index + 1) / BINS
            members = [s for s in scored if _bin(s.probability(name)) == index]
            if not members:
                continue
            rows.append(
                {
                    "low": str(low),
                    "high": str(high),
                    "count": len(members),
                    "mean_probability": _ratio(
                        sum((s.probability(name) for s in members), ZERO) / len(members)
                    ),
                    "frequency": _ratio(sum((s.outcome for s in members), ZERO) / len(members)),
                }
            )
        table[name] = rows
    return table


def _bin(probability: Decimal) -> int:
    return min(BINS - 1, max(0, int(probability * BINS)))
