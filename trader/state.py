"""Operator-controlled state that survives restarts: approval mode and settings.

Reads are synchronous from an in-memory copy (the risk checks on the hot path read it);
every change is written through to the database before the call returns, and appended to
the event log by the caller (the Control API).

The trading state (RUNNING / PAUSED / KILLED / HALTED) is stored in the same table but is
not ControlState's: `trader.execution.trading_state` owns and writes it. `load` hands the
stored value over (`stored_trading`) and `get`/`put` refuse its key.

The typed settings the operator changes from the chat live here too: `RiskLimits` (every
limit of the risk engine, the automatic-halt thresholds and the flatten slippage cap) and
`AlertSettings` (read by the notifier). Both are stored as one JSON document each, with
decimals as strings; a field missing from the stored document takes its default, so a new
limit added in a later version starts at its default.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from trader.clock import Clock
from trader.domain import Severity

TRADING_STATE_KEY = "trading_state"
APPROVAL_MODE_KEY = "approval_mode"
RISK_LIMITS_KEY = "risk_limits"
ALERT_SETTINGS_KEY = "alert_settings"
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class KeyValueStore(Protocol):
    async def get_all(self) -> dict[str, Any]: ...

    async def set(self, key: str, value: Any, *, updated_by: str) -> None: ...


class SettingError(ValueError):
    """A setting name or value the operator gave is not acceptable; the message says why."""


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Every limit the risk engine and the automatic halt enforce. USD amounts are pUSD."""

    max_order_notional: Decimal = Decimal(50)
    max_position: Decimal = Decimal(200)  # per market, at cost
    max_exposure: Decimal = Decimal(1000)  # all positions at cost plus open BUY orders
    max_open_orders: int = 20
    max_orders_per_minute: int = 10
    daily_loss_limit: Decimal = Decimal(100)  # realized + unrealized, operator's day
    min_edge: Decimal = Decimal("0.03")  # model probability - price - fee per share
    fee_rate_bps: Decimal = Decimal(0)  # taker fee rate used in the edge check
    stale_book_s: Decimal = Decimal(30)
    min_time_to_end_s: Decimal = Decimal(3600)  # no entries this close to a market's end
    price_band_low: Decimal = Decimal("0.02")
    price_band_high: Decimal = Decimal("0.98")
    max_price_deviation: Decimal = Decimal("0.10")  # |limit - mid| at most this
    reduced_drawdown: Decimal = Decimal("0.10")  # drawdown from peak: REDUCED from here
    halted_drawdown: Decimal = Decimal("0.20")  # and HALTED (no new entries) from here
    reduced_scale: Decimal = Decimal("0.5")  # order sizes times this in REDUCED
    cooldown_s: Decimal = Decimal(300)  # the same (market, token, side) not again before
    flatten_slippage: Decimal = Decimal("0.05")  # kill-flatten sells no lower than bid * (1-x)
    halt_venue_errors: int = 5  # this many venue errors ...
    halt_venue_error_window_s: Decimal = Decimal(60)  # ... within this window halt trading
    halt_feed_down_s: Decimal = Decimal(120)  # market feed silent this long halts trading
    halt_reconcile_tolerance: Decimal = Decimal(5)  # USD of position difference that halts

    def to_json(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(
        cls, raw: dict[str, Any] | None, defaults: RiskLimits | None = None
    ) -> RiskLimits:
        """Read a stored document; unknown keys are ignored, missing ones take `defaults`."""
        base = defaults or cls()
        values: dict[str, Any] = {}
        for name, value in (raw or {}).items():
            if name in _LIMIT_TYPES:
                values[name] = _parse_limit(name, value)
        limits = dataclasses.replace(base, **values)
        limits.validate()
        return limits

    def with_value(self, name: str, value: object) -> RiskLimits:
        """A copy with one limit changed, validated (raises `SettingError`)."""
        if name not in _LIMIT_TYPES:
            known = ", ".join(sorted(_LIMIT_TYPES))
            raise SettingError(f"unknown limit {name!r}; the limits are: {known}")
        parsed: dict[str, Any] = {name: _parse_limit(name, value)}
        changed = dataclasses.replace(self, **parsed)
        changed.validate()
        return changed

    def validate(self) -> None:
        for name in _LIMIT_TYPES:
            value = getattr(self, name)
            if value < 0 or (value == 0 and name in _POSITIVE):
                floor = "above 0" if name in _POSITIVE else "at least 0"
                raise SettingError(f"{name} must be {floor}, got {value}")
            if name in _FRACTIONS and value > 1:
                raise SettingError(f"{name} is a fraction: at most 1, got {value}")
        if not self.price_band_low < self.price_band_high:
            raise SettingError("price_band_low must be below price_band_high")
        if not self.reduced_drawdown <= self.halted_drawdown:
            raise SettingError("reduced_drawdown must not be above halted_drawdown")


_LIMIT_TYPES: dict[str, type] = {
    f.name: int if f.type in ("int", int) else Decimal for f in dataclasses.fields(RiskLimits)
}
_POSITIVE = frozenset(
    {
        "max_order_notional",
        "max_position",
        "max_exposure",
        "max_open_orders",
        "max_orders_per_minute",
        "daily_loss_limit",
        "stale_book_s",
        "reduced_scale",
        "halt_venue_errors",
        "halt_venue_error_window_s",
        "halt_feed_down_s",
        "halted_drawdown",
    }
)
_FRACTIONS = frozenset(
    {
        "min_edge",
        "price_band_low",
        "price_band_high",
        "max_price_deviation",
        "reduced_drawdown",
        "halted_drawdown",
        "reduced_scale",
        "flatten_slippage",
    }
)


def _parse_limit(name: str, value: object) -> Decimal | int:
    if isinstance(value, float):
        value = repr(value)
    try:
        number = Decimal(str(value).strip().removeprefix("$"))
    except InvalidOperation:
        raise SettingError(f"{name}: {value!r} is not a number") from None
    if not number.is_finite():
        raise SettingError(f"{name}: {value!r} is not a finite number")
    if _LIMIT_TYPES[name] is int:
        if number != number.to_integral_value():
            raise SettingError(f"{name} must be a whole number, got {value!r}")
        return int(number)
    return number


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """What the notifier forwards. Quiet hours are in the operator's time zone, HH:MM."""

    min_severity: Severity = Severity.INFO
    quiet_start: str | None = None
    quiet_end: str | None = None
    muted_kinds: tuple[str, ...] = ()  # not delivered (critical alerts are, always)
    silent_kinds: tuple[str, ...] = ()  # delivered without a notification sound
    fill_alerts: bool = True
    daily_report: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "min_severity": self.min_severity.value,
            "quiet_start": self.quiet_start,
            "quiet_end": self.quiet_end,
            "muted_kinds": list(self.muted_kinds),
            "silent_kinds": list(self.silent_kinds),
            "fill_alerts": self.fill_alerts,
            "daily_report": self.daily_report,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> AlertSettings:
        base = cls()
        for name, value in (raw or {}).items():
            if name in _ALERT_FIELDS:
                base = base.with_value(name, value)
        return base

    def with_value(self, name: str, value: object) -> AlertSettings:
        """A copy with one setting changed, validated (raises `SettingError`)."""
        if name not in _ALERT_FIELDS:
            raise SettingError(f"unknown alert setting {name!r}; known: {', '.join(_ALERT_FIELDS)}")
        parsed: Any
        if name == "min_severity":
            try:
                parsed = Severity(str(value).casefold())
            except ValueError:
                raise SettingError("min_severity is one of info, warning, critical") from None
        elif name in ("quiet_start", "quiet_end"):
            parsed = _parse_hhmm(name, value)
        elif name in ("muted_kinds", "silent_kinds"):
            parsed = _parse_kinds(name, value)
        else:
            parsed = _parse_bool(name, value)
        return dataclasses.replace(self, **{name: parsed})


_ALERT_FIELDS = tuple(f.name for f in dataclasses.fields(AlertSettings))


def _parse_kinds(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        raise SettingError(f"{name} is a comma-separated list of alert kinds")
    return tuple(sorted({str(item).strip() for item in items if str(item).strip()}))


def _parse_hhmm(name: str, value: object) -> str | None:
    if value is None or str(value).strip().casefold() in ("", "off", "none"):
        return None
    text = str(value).strip()
    if not _HHMM.fullmatch(text):
        raise SettingError(f"{name} is a time of day HH:MM (24-hour) or 'off', got {text!r}")
    return text


def _parse_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().casefold()
    if text in ("on", "true", "yes", "1"):
        return True
    if text in ("off", "false", "no", "0"):
        return False
    raise SettingError(f"{name} is on or off, got {value!r}")


class ControlState:
    def __init__(
        self, store: KeyValueStore, clock: Clock, *, risk_defaults: RiskLimits | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._values: dict[str, Any] = {}
        self._trading: dict[str, Any] | None = None
        self._risk_defaults = risk_defaults or RiskLimits()
        self._limits = self._risk_defaults
        self._alerts = AlertSettings()

    async def load(self) -> None:
        """Read everything; on first start, persist the risk limits' defaults."""
        self._values = dict(await self._store.get_all())
        self._trading = self._values.pop(TRADING_STATE_KEY, None)
        self._limits = RiskLimits.from_json(self._values.get(RISK_LIMITS_KEY), self._risk_defaults)
        self._alerts = AlertSettings.from_json(self._values.get(ALERT_SETTINGS_KEY))
        if RISK_LIMITS_KEY not in self._values:
            await self._set(RISK_LIMITS_KEY, self._limits.to_json(), "system:trader")

    async def _set(self, key: str, value: Any, by: str) -> None:
        await self._store.set(key, value, updated_by=by)
        self._values[key] = value

    # the trading state's hand-over ------------------------------------------------------

    @property
    def store(self) -> KeyValueStore:
        """The store the trading-state machine persists to (it alone writes that key)."""
        return self._store

    @property
    def stored_trading(self) -> dict[str, Any] | None:
        """The trading state as stored when `load` ran (None on a first start)."""
        return self._trading

    # approval mode --------------------------------------------------------------------

    @property
    def approval_mode(self) -> bool:
        return bool(self._values.get(APPROVAL_MODE_KEY, False))

    async def set_approval_mode(self, on: bool, by: str) -> None:
        await self._set(APPROVAL_MODE_KEY, on, by)

    # risk limits and alert settings ---------------------------------------------------

    @property
    def risk_limits(self) -> RiskLimits:
        return self._limits

    @property
    def risk_defaults(self) -> RiskLimits:
        return self._risk_defaults

    async def set_risk_limit(self, name: str, value: object, by: str) -> RiskLimits:
        """Change one limit (validated, raises `SettingError`) and persist it."""
        changed = self._limits.with_value(name, value)
        await self._set(RISK_LIMITS_KEY, changed.to_json(), by)
        self._limits = changed
        return changed

    @property
    def alert_settings(self) -> AlertSettings:
        return self._alerts

    async def set_alert_setting(self, name: str, value: object, by: str) -> AlertSettings:
        changed = self._alerts.with_value(name, value)
        await self._set(ALERT_SETTINGS_KEY, changed.to_json(), by)
        self._alerts = changed
        return changed

    # generic settings -----------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        _not_trading(key)
        return self._values.get(key, default)

    async def put(self, key: str, value: Any, by: str) -> None:
        _not_trading(key)
        await self._set(key, value, by)


def _not_trading(key: str) -> None:
    if key == TRADING_STATE_KEY:
        raise KeyError("the trading state is trader.execution.trading_state's to read and write")
