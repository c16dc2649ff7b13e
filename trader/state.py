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
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from trader.clock import Clock
from trader.domain import Alert, Severity
from trader.limits import LimitProblem, RiskLimits, SettingError
from trader.stages import Stage, StageBook

__all__ = [
    "AlertSettings",
    "ControlState",
    "KeyValueStore",
    "LimitProblem",
    "RiskLimits",
    "SettingError",
    "fallback_alert",
    "fallback_payload",
]

TRADING_STATE_KEY = "trading_state"
APPROVAL_MODE_KEY = "approval_mode"
RISK_LIMITS_KEY = "risk_limits"
ALERT_SETTINGS_KEY = "alert_settings"
ALLOW_HEURISTIC_LIVE_KEY = "allow_heuristic_live"
STRATEGY_STAGES_KEY = "strategy_stages"
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def fallback_alert(problems: Sequence[LimitProblem]) -> Alert | None:
    """The critical alert that names each stored setting replaced by its default at load
    (None when every stored value was usable): said once per start, which never dies on it."""
    if not problems:
        return None
    lines = [f"{p.name}: stored {p.stored!r}, using {p.used} ({p.message})" for p in problems]
    return Alert(
        "settings_fallback",
        Severity.CRITICAL,
        f"{len(problems)} stored setting(s) unusable: defaults in force",
        "\n".join([*lines, "check them with /limits and /set"]),
    )


def fallback_payload(problems: Sequence[LimitProblem]) -> dict[str, Any]:
    """The `settings_fallback` event's payload: what was stored and what is used instead."""
    return {"problems": [{"name": p.name, "stored": p.stored, "used": p.used} for p in problems]}


class KeyValueStore(Protocol):
    async def get_all(self) -> dict[str, Any]: ...

    async def set(self, key: str, value: Any, *, updated_by: str) -> None: ...


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
        self,
        store: KeyValueStore,
        clock: Clock,
        *,
        risk_defaults: RiskLimits | None = None,
        stage_defaults: StageBook | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._values: dict[str, Any] = {}
        self._trading: dict[str, Any] | None = None
        self._risk_defaults = risk_defaults or RiskLimits()
        self._limits = self._risk_defaults
        self._alerts = AlertSettings()
        self._limit_problems: tuple[LimitProblem, ...] = ()
        self._stage_defaults = stage_defaults or StageBook.defaults()
        self._stages = self._stage_defaults

    async def load(self) -> None:
        """Read everything; on first start, persist the risk limits' defaults."""
        self._values = dict(await self._store.get_all())
        self._trading = self._values.pop(TRADING_STATE_KEY, None)
        self._limits, self._limit_problems = RiskLimits.from_stored(
            self._values.get(RISK_LIMITS_KEY), self._risk_defaults
        )
        try:
            self._alerts = AlertSettings.from_json(self._values.get(ALERT_SETTINGS_KEY))
        except SettingError as error:
            self._alerts = AlertSettings()
            self._limit_problems += (
                LimitProblem(ALERT_SETTINGS_KEY, "(stored document)", "defaults", str(error)),
            )
        stored_stages = self._values.get(STRATEGY_STAGES_KEY)
        self._stages, stage_problems = StageBook.from_json(stored_stages, self._stage_defaults)
        self._limit_problems += tuple(
            LimitProblem(STRATEGY_STAGES_KEY, "(stored entry)", "kept", problem)
            for problem in stage_problems
        )
        if RISK_LIMITS_KEY not in self._values or self._limit_problems:
            # persist the values in force, so the bad stored value cannot come back
            await self._set(RISK_LIMITS_KEY, self._limits.to_json(), "system:trader")
        if stored_stages is None or stage_problems or self._stages.to_json() != stored_stages:
            # first start (or a strategy added by an upgrade): its starting stage is stored
            await self._set(STRATEGY_STAGES_KEY, self._stages.to_json(), "system:trader")

    @property
    def limit_problems(self) -> tuple[LimitProblem, ...]:
        """Stored settings that were unusable at the last `load` and fell back to defaults."""
        return self._limit_problems

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

    # heuristic forecasts in live mode -------------------------------------------------

    @property
    def allow_heuristic_live(self) -> bool:
        """Whether a heuristic forecast may become a live order (off unless an operator set
        it on: the heuristic never trades real money by default)."""
        return bool(self._values.get(ALLOW_HEURISTIC_LIVE_KEY, False))

    async def set_allow_heuristic_live(self, on: bool, by: str) -> None:
        await self._set(ALLOW_HEURISTIC_LIVE_KEY, on, by)

    # strategy stages ------------------------------------------------------------------

    @property
    def stages(self) -> StageBook:
        """The stage of every strategy (read on the hot path: synchronous, from memory)."""
        return self._stages

    async def set_stage(self, strategy: str, stage: Stage, by: str) -> StageBook:
        """Move one strategy to `stage` (raises `StageError` for an unknown one); persisted
        before memory changes, so a failed write changes nothing."""
        changed = self._stages.with_stage(strategy, stage)
        await self._set(STRATEGY_STAGES_KEY, changed.to_json(), by)
        self._stages = changed
        return changed

    # risk limits and alert settings ---------------------------------------------------

    @property
    def risk_limits(self) -> RiskLimits:
        return self._limits

    @property
    def risk_defaults(self) -> RiskLimits:
        return self._risk_defaults

    async def set_risk_limit(
        self, name: str, value: object, by: str, *, bankroll: Decimal | None = None
    ) -> RiskLimits:
        """Change one limit (validated, raises `SettingError`) and persist it. USD limits may
        be at most ten times `bankroll` when it is known."""
        changed = self._limits.with_value(name, value, bankroll=bankroll)
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
