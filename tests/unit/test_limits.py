"""Every limit has a type and a sane range; a bad stored value never stops start-up."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D
from typing import Any

import pytest

from trader.clock import FakeClock
from trader.limits import LIMIT_RULES, LimitKind, RiskLimits, SettingError
from trader.state import RISK_LIMITS_KEY, ControlState


class _Store:
    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values = dict(values or {})

    async def get_all(self) -> dict[str, Any]:
        return dict(self.values)

    async def set(self, key: str, value: Any, *, updated_by: str) -> None:
        self.values[key] = value


def test_every_limit_has_a_rule() -> None:
    assert set(LIMIT_RULES) == {f.name for f in dataclasses.fields(RiskLimits)}


def test_defaults_pass_their_own_rules() -> None:
    RiskLimits().validate()  # raises if a default were outside its range
    assert RiskLimits().with_value("cooldown_s", "300").cooldown_s == D(300)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("cooldown_s", "1e20", "plain decimal number"),  # the value that bricked start-up
        ("cooldown_s", "100000000", "at most"),  # over 30 days, written out
        ("cooldown_s", "1E+309", "plain decimal number"),
        ("min_edge", "1E-400", "plain decimal number"),
        ("max_order_notional", "-0", "cannot be negative"),
        ("max_order_notional", "\u0665\u0660", "plain decimal number"),  # Arabic-Indic 50
        ("max_open_orders", "\u0665", "whole number"),
        ("max_open_orders", "5.0", "whole number"),
        ("max_open_orders", "20000", "at most"),
        ("max_exposure", "inf", "plain decimal number"),
        ("max_exposure", "1_000", "plain decimal number"),
        ("max_exposure", "99999999", "at most"),
        ("halt_venue_errors", "0", "above 0"),
    ],
)
def test_absurd_values_are_refused_with_a_reason(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingError, match=message):
        RiskLimits().with_value(name, value)


def test_amounts_are_bounded_by_the_bankroll_order_of_magnitude() -> None:
    limits = RiskLimits()

    assert limits.with_value("max_exposure", "5000", bankroll=D(1000)).max_exposure == D(5000)
    with pytest.raises(SettingError, match=r"10x the bankroll of \$1000.00"):
        limits.with_value("max_exposure", "50000", bankroll=D(1000))
    # fractions and counts do not scale with the bankroll
    assert limits.with_value("min_edge", "0.5", bankroll=D(1)).min_edge == D("0.5")


def test_seconds_limits_always_fit_a_timedelta() -> None:
    from datetime import timedelta

    for name, rule in LIMIT_RULES.items():
        if rule.kind is LimitKind.SECONDS:
            ceiling = rule.ceiling(None)
            assert timedelta(seconds=float(ceiling)) <= timedelta(days=30), name


async def test_a_bad_stored_limit_falls_back_to_its_default_and_is_reported() -> None:
    stored = RiskLimits().to_json() | {"cooldown_s": "1e20", "max_position": "150"}
    store = _Store({RISK_LIMITS_KEY: stored})
    state = ControlState(store, FakeClock())

    await state.load()  # must not raise: start-up goes on

    assert state.risk_limits.cooldown_s == D(300)
    assert state.risk_limits.max_position == D(150)  # the good values are kept
    assert [p.name for p in state.limit_problems] == ["cooldown_s"]
    assert state.limit_problems[0].stored == "1e20"
    assert store.values[RISK_LIMITS_KEY]["cooldown_s"] == "300"  # the bad value is replaced


async def test_inconsistent_stored_limits_fall_back_as_a_pair() -> None:
    stored = {"price_band_low": "0.9", "price_band_high": "0.5"}
    state = ControlState(_Store({RISK_LIMITS_KEY: stored}), FakeClock())

    await state.load()

    limits = state.risk_limits
    assert (limits.price_band_low, limits.price_band_high) == (D("0.02"), D("0.98"))
    assert {p.name for p in state.limit_problems} == {"price_band_low", "price_band_high"}


async def test_a_bad_stored_alert_setting_does_not_stop_start_up() -> None:
    store = _Store({"alert_settings": {"quiet_start": "25:99"}})
    state = ControlState(store, FakeClock())

    await state.load()

    assert state.alert_settings.quiet_start is None
    assert [p.name for p in state.limit_problems] == ["alert_settings"]
