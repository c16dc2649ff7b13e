"""The Control API's inquiries: the daily report, charts and the last signal cycle (through
`trader.control.reports.Reporting`), backtests run in a separate process, and /why, the chain
behind a decision. `ControlAnalysis` holds these methods for `ControlAPI` (`core`), over the
attributes declared here; a trader without a backtest runner or a /why source says so
(`NotConfiguredError`).
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from trader.control.api.base import ControlBase
from trader.control.reports import Reporting
from trader.control.types import (
    BacktestRunner,
    BacktestStatus,
    ControlError,
    NotConfiguredError,
    ReportView,
    SignalsView,
)
from trader.control.why import DecisionChain, DenialFacts, WhySource
from trader.domain import Actor
from trader.state import ControlState

MAX_BACKTEST_DAYS = 90


class ControlAnalysis(ControlBase):
    """Reports, charts, signals, backtests and /why (mixed into `ControlAPI`, which sets these
    attributes in its constructor)."""

    _state: ControlState
    _reporting: Reporting
    _backtests: BacktestRunner | None
    _why: WhySource | None

    # reports and signals ---------------------------------------------------------------

    async def report(self, actor: Actor, day: date | None = None) -> ReportView:
        """The daily report for `day` (default: the operator's yesterday): the text and the
        dashboard PNG, drawn off the event loop by the report source."""
        self._audit(actor, "report", day=day.isoformat() if day else None)
        return await self._reporting.report(day)

    async def chart(self, actor: Actor, kind: str, window_days: int = 30) -> Path:
        """One chart's PNG (`kind` one of `CHART_KINDS`) over the last `window_days` days."""
        self._audit(actor, "chart", kind=str(kind)[:40], window_days=window_days)
        return await self._reporting.chart(kind, window_days)

    async def signals(self, actor: Actor) -> SignalsView:
        """The last completed signal cycle: the model, and per market what it decided."""
        self._audit(actor, "signals")
        return self._reporting.signals()

    # backtests -------------------------------------------------------------------------

    async def start_backtest(self, actor: Actor, strategy: str, days: int) -> BacktestStatus:
        """Backtest `strategy` over the last `days` days in a separate process (one at a
        time); the status to follow it by. Refused: an unknown strategy, days outside
        1..MAX_BACKTEST_DAYS, one already running."""
        if not 1 <= days <= MAX_BACKTEST_DAYS:
            raise ControlError(f"the number of days must be between 1 and {MAX_BACKTEST_DAYS}")
        if self._state.stages.stage_of(strategy) is None:
            known = ", ".join(self._state.stages.names)
            raise ControlError(f"unknown strategy {strategy[:40]!r} (known: {known})")
        self._audit(actor, "backtest", strategy=strategy, days=days)
        # spawning the child, or waiting for one stopped at its deadline, is off the loop
        return await asyncio.to_thread(self._backtest_runner().start, strategy, days)

    async def backtest_status(self, actor: Actor, job_id: str) -> BacktestStatus:
        """How far the backtest `job_id` got (not audited: the chat asks as it goes)."""
        return self._backtest_runner().status(job_id)

    def _backtest_runner(self) -> BacktestRunner:
        if self._backtests is None:
            raise NotConfiguredError(
                "backtests cannot run on this trader (it has no backtest runner)"
            )
        return self._backtests

    # why ---------------------------------------------------------------------------------

    async def why(self, actor: Actor, ref: str | None = None) -> DecisionChain:
        """The chain behind a decision: `ref` an order id, approval ref, correlation id or
        market; None for the last decision. Steps without a record are marked missing."""
        if ref is not None and not 1 <= len(ref.strip()) <= 200:
            raise ControlError("give an order id, an approval ref or a market")
        self._audit(actor, "why", ref=ref)
        try:
            return await self._why_source().explain(ref)
        except LookupError as error:
            raise ControlError(str(error.args[0] if error.args else error)) from None

    async def why_denied(self, actor: Actor, limit: int = 5) -> list[DenialFacts]:
        """The last denied intents with the rule that denied each, newest first."""
        if not 1 <= limit <= 20:
            raise ControlError("the number of denials must be between 1 and 20")
        self._audit(actor, "why_denied", limit=limit)
        return await self._why_source().denials(limit)

    def _why_source(self) -> WhySource:
        if self._why is None:
            raise NotConfiguredError("decisions cannot be explained in this process")
        return self._why
