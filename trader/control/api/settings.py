"""The Control API's settings: the approval mode and heuristic live trading, a signal cycle run
now, the risk limits, the strategies and their stages, and the alert settings. Each change is
audited, persisted in the control state and logged as an event. `ControlSettings` holds these
methods for `ControlAPI` (`core`), over the attributes declared here.
"""

from __future__ import annotations

from trader.control.api.base import ControlBase
from trader.control.types import (
    ControlError,
    CycleHook,
    SettingChange,
    StrategyRecordSource,
    StrategyView,
    TradingDesk,
)
from trader.domain import Actor, TradingMode
from trader.stages import Stage, StageError, StrategyRecord, parse_stage
from trader.state import AlertSettings, ControlState, RiskLimits, SettingError


class ControlSettings(ControlBase):
    """Approval mode, limits, stages and alert settings (mixed into `ControlAPI`, which sets
    these attributes in its constructor)."""

    _state: ControlState
    _desk: TradingDesk
    _mode: TradingMode
    _cycle: CycleHook | None
    _strategy_records: StrategyRecordSource | None

    # approval settings -----------------------------------------------------------------

    async def set_approval_mode(self, actor: Actor, on: bool) -> SettingChange:
        before = self._state.approval_mode
        corr = self._audit(actor, "approval_mode", on=on)
        await self._state.set_approval_mode(on, str(actor))
        self._events.append(
            "approval_mode_changed", {"on": on}, correlation_id=corr, actor=str(actor)
        )
        return SettingChange("approval_mode", _on_off(before), _on_off(on))

    async def set_allow_heuristic_live(self, actor: Actor, on: bool) -> SettingChange:
        """Whether heuristic forecasts may trade in live mode (audited, persisted)."""
        before = self._state.allow_heuristic_live
        corr = self._audit(actor, "allow_heuristic_live", on=on)
        await self._state.set_allow_heuristic_live(on, str(actor))
        self._events.append(
            "allow_heuristic_live_changed", {"on": on}, correlation_id=corr, actor=str(actor)
        )
        return SettingChange("allow_heuristic_live", _on_off(before), _on_off(on))

    # cycle, limits, alert settings -------------------------------------------------------

    async def run_cycle(self, actor: Actor) -> str:
        self._audit(actor, "run_cycle")
        if self._cycle is None:
            raise ControlError("no signal cycle is scheduled in this process")
        return await self._cycle.run_now()

    async def limits(self, actor: Actor) -> RiskLimits:
        self._audit(actor, "limits")
        return self._state.risk_limits

    async def set_limit(self, actor: Actor, name: str, value: object) -> SettingChange:
        corr = self._audit(actor, "set_limit", name=name, value=str(value))
        before = self._state.risk_limits
        # amounts are judged against the account's size: at most ten times its equity
        bankroll = self._desk.portfolio_view().equity if self._desk is not None else None
        try:
            after = await self._state.set_risk_limit(name, value, str(actor), bankroll=bankroll)
        except SettingError as error:
            raise ControlError(str(error)) from None
        change = SettingChange(name, str(getattr(before, name)), str(getattr(after, name)))
        self._events.append(
            "limit_changed",
            {"name": name, "from": change.before, "to": change.after},
            correlation_id=corr,
            actor=str(actor),
        )
        return change

    # strategy stages -------------------------------------------------------------------

    async def strategies(self, actor: Actor) -> list[StrategyView]:
        """Every strategy with its stage and what its orders did here."""
        self._audit(actor, "strategies")
        records = await self._strategy_records.strategy_records() if self._strategy_records else {}
        stages = self._state.stages
        return [
            StrategyView(
                name=name,
                stage=stage,
                trades_now=stage.allows(self._mode),
                record=records.get(name, StrategyRecord()),
            )
            for name, stage in sorted(stages.stages.items())
        ]

    async def stage_step(self, actor: Actor, name: str, *, up: bool) -> SettingChange:
        """What `/promote` (up) or `/demote` would change, changing nothing (the preview the
        operator confirms). Raises `ControlError` for an unknown strategy or a move past the
        first or last stage."""
        stages = self._state.stages
        try:
            target = stages.step(name, up=up)
        except StageError as error:
            raise ControlError(str(error)) from None
        return SettingChange(name, str(stages.stage_of(name)), str(target))

    async def set_stage(
        self, actor: Actor, name: str, target: Stage | str, *, expected: Stage | str
    ) -> SettingChange:
        """Move `name` to `target`, only if it is still at `expected` (what the operator saw
        when confirming): a second tap, or a change by someone else in between, is refused
        rather than moving it twice. Audited, persisted before it takes effect."""
        corr = self._audit(actor, "set_stage", strategy=name, to=str(target))
        try:
            wanted, seen = parse_stage(target), parse_stage(expected)
            current = self._state.stages.stage_of(name)
            if current is None:
                self._state.stages.step(name, up=True)  # raises the unknown-strategy message
            if current != seen:
                raise StageError(f"{name} is now at stage {current}, not {seen}: nothing changed")
            await self._state.set_stage(name, wanted, str(actor))
        except StageError as error:
            raise ControlError(str(error)) from None
        self._events.append(
            "strategy_stage_changed",
            {"strategy": name, "from": str(seen), "to": str(wanted)},
            correlation_id=corr,
            actor=str(actor),
        )
        return SettingChange(name, str(seen), str(wanted))

    async def alert_settings(self, actor: Actor) -> AlertSettings:
        self._audit(actor, "alert_settings")
        return self._state.alert_settings

    async def set_alert_setting(self, actor: Actor, name: str, value: object) -> SettingChange:
        corr = self._audit(actor, "set_alert_setting", name=name, value=str(value))
        before = self._state.alert_settings.to_json().get(name)
        try:
            after = await self._state.set_alert_setting(name, value, str(actor))
        except SettingError as error:
            raise ControlError(str(error)) from None
        change = SettingChange(name, str(before), str(after.to_json()[name]))
        self._events.append(
            "alert_setting_changed",
            {"name": name, "from": change.before, "to": change.after},
            correlation_id=corr,
            actor=str(actor),
        )
        return change


def _on_off(value: bool) -> str:
    return "on" if value else "off"
