"""The persisted settings schema in trader.state: risk limits and alert settings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support.memory import MemoryStore
from trader.clock import FakeClock
from trader.domain import Severity
from trader.state import AlertSettings, ControlState, RiskLimits, SettingError

D = Decimal


def test_limits_round_trip_through_json_as_exact_strings() -> None:
    limits = RiskLimits(max_order_notional=D("12.34"), max_open_orders=3)

    stored = limits.to_json()

    assert stored["max_order_notional"] == "12.34"
    assert RiskLimits.from_json(stored) == limits


def test_a_limit_missing_from_the_stored_document_takes_its_default() -> None:
    defaults = RiskLimits(max_exposure=D(777))

    limits = RiskLimits.from_json({"max_order_notional": "5", "retired_limit": "1"}, defaults)

    assert (limits.max_order_notional, limits.max_exposure) == (D(5), D(777))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("max_open_orders", "1.5", "whole number"),
        ("max_order_notional", "abc", "plain decimal number"),
        ("max_order_notional", "NaN", "plain decimal number"),
        ("min_edge", "2", "fraction"),
        ("reduced_drawdown", "0.5", "not be above"),
        ("cooldown_s", "-1", "cannot be negative"),
    ],
)
def test_bad_limit_values_are_refused_with_a_reason(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingError, match=message):
        RiskLimits().with_value(name, value)


def test_limits_accept_dollar_signs_and_floats() -> None:
    assert RiskLimits().with_value("max_exposure", "$250").max_exposure == D(250)
    assert RiskLimits().with_value("min_edge", 0.05).min_edge == D("0.05")


async def test_first_start_persists_the_defaults_and_later_starts_keep_changes() -> None:
    store = MemoryStore()
    clock = FakeClock()
    first = ControlState(store, clock, risk_defaults=RiskLimits(max_open_orders=4))
    await first.load()
    await first.set_risk_limit("max_open_orders", "9", "telegram:1")

    second = ControlState(store, clock, risk_defaults=RiskLimits(max_open_orders=4))
    await second.load()

    assert second.risk_limits.max_open_orders == 9
    # the limits' and the strategy stages' defaults once each, the change once
    assert store.writes == 3


def test_alert_settings_parse_and_refuse() -> None:
    settings = (
        AlertSettings().with_value("min_severity", "critical").with_value("fill_alerts", "off")
    )

    assert settings.min_severity is Severity.CRITICAL
    assert settings.fill_alerts is False
    assert AlertSettings.from_json(settings.to_json()) == settings
    with pytest.raises(SettingError):
        AlertSettings().with_value("fill_alerts", "maybe")
    with pytest.raises(SettingError):
        AlertSettings().with_value("volume", "11")


async def test_silent_kinds_are_kept_like_muted_kinds_across_a_restart() -> None:
    store = MemoryStore({"alert_settings": {"muted_kinds": ["kill"]}})  # written before the field
    state = ControlState(store, FakeClock())
    await state.load()
    assert state.alert_settings.silent_kinds == ()

    await state.set_alert_setting("silent_kinds", "venue_errors, order_filled ,", "telegram:1")
    again = ControlState(store, FakeClock())
    await again.load()

    assert again.alert_settings.silent_kinds == ("order_filled", "venue_errors")
    assert again.alert_settings.muted_kinds == ("kill",)
    assert store.values["alert_settings"]["silent_kinds"] == ["order_filled", "venue_errors"]
    with pytest.raises(SettingError, match="silent_kinds is a comma-separated list"):
        AlertSettings().with_value("silent_kinds", 3)
