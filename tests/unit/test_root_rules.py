"""Rules that once lived in the composition root, tested where they live now: the exposure
warning (trader.execution.exposure), how alerts name a token (MarketBoard.title_of) and the
alert for stored settings replaced by their defaults (trader.state)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

from trader.clock import FakeClock
from trader.domain import Market, OutcomeToken, Severity
from trader.execution.exposure import exposure_warning
from trader.execution.market_data import MarketBoard
from trader.limits import LimitProblem
from trader.state import fallback_alert, fallback_payload
from trader.venue.base import Venue


def test_exposure_below_nine_tenths_of_the_limit_warns_nothing() -> None:
    assert exposure_warning(Decimal("89.99"), Decimal(100)) is None


def test_exposure_from_nine_tenths_of_the_limit_warns_with_the_share() -> None:
    alert = exposure_warning(Decimal(90), Decimal(100))

    assert alert is not None
    assert alert.severity is Severity.WARNING
    assert alert.title == "Exposure $90.00 is 90% of the limit"
    assert "max exposure $100.00" in alert.body
    assert alert.dedupe_key == "exposure:near-limit"  # the notifier folds the repeats


def test_exposure_past_the_limit_still_warns() -> None:
    alert = exposure_warning(Decimal(150), Decimal(100))

    assert alert is not None
    assert "150%" in alert.title


def test_no_exposure_limit_means_no_warning() -> None:
    assert exposure_warning(Decimal(1000), Decimal(0)) is None


def _board() -> MarketBoard:
    clock = FakeClock(datetime(2026, 1, 15, tzinfo=UTC))
    board = MarketBoard(cast(Venue, object()), clock)  # naming never asks the venue
    board.put_market(
        Market(
            "0xcond",
            "Will it rain?",
            (OutcomeToken("tok-yes", "Yes"), OutcomeToken("tok-no", "No")),
            None,
        )
    )
    return board


def test_a_known_token_is_named_by_its_question_and_outcome() -> None:
    assert _board().title_of("tok-no") == "Will it rain? — No"


def test_an_unknown_token_is_named_by_the_start_of_its_id() -> None:
    assert _board().title_of("1234567890abcdefghij") == "1234567890ab — "


def test_usable_stored_settings_raise_no_fallback_alert() -> None:
    assert fallback_alert(()) is None


def test_each_unusable_stored_setting_is_named_in_one_critical_alert() -> None:
    problems = (
        LimitProblem("cooldown_s", "1e20", "300", "not a plain decimal number"),
        LimitProblem("min_edge", "-1", "0.05", "below 0"),
    )

    alert = fallback_alert(problems)

    assert alert is not None
    assert alert.severity is Severity.CRITICAL
    assert alert.title == "2 stored setting(s) unusable: defaults in force"
    assert "cooldown_s: stored '1e20', using 300 (not a plain decimal number)" in alert.body
    assert "min_edge: stored '-1', using 0.05 (below 0)" in alert.body
    assert fallback_payload(problems)["problems"][0] == {
        "name": "cooldown_s",
        "stored": "1e20",
        "used": "300",
    }
