"""The Control API's reading room: the daily report, single charts and the last signal cycle.

`ControlAPI` audits each request and hands it here. This module checks the request (a chart
kind, a window, a day), calls the source the composition root injected, and turns a missing
source or a failure into a `ControlError` the operator can read: a chart that cannot be drawn
must still get an answer in the chat. The sources are protocols:

    ReportSource   trader.reports.ReportService fits (report(day), chart(kind, window_days))
    SignalSource   trader.signals.views.SignalsAdapter(runtime) fits (last_cycle())

Like `trader.control.types`, nothing here imports the execution core, the store or the bus.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from trader.clock import Clock
from trader.control.types import (
    CHART_KINDS,
    MAX_CHART_DAYS,
    ControlError,
    NotConfiguredError,
    ReportView,
    SignalsView,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class RenderedReport(Protocol):
    """What a report source returns (`trader.reports.Report` has this shape)."""

    @property
    def text(self) -> str: ...

    @property
    def image_path(self) -> Path: ...


class ReportSource(Protocol):
    """The daily report and its charts (`trader.reports.ReportService` implements it)."""

    async def report(self, day: date | None = None, *, window_days: int = 30) -> RenderedReport:
        """The report for `day` (default: the operator's yesterday), with its dashboard."""
        ...

    async def chart(self, kind: str, window_days: int = 30, day: date | None = None) -> Path:
        """One chart's PNG; `kind` is one of `CHART_KINDS`."""
        ...


class SignalSource(Protocol):
    """The signal runtime's side (`trader.signals.views.SignalsAdapter` implements it)."""

    def last_cycle(self) -> SignalsView: ...


class Reporting:
    def __init__(
        self, clock: Clock, reports: ReportSource | None, signals: SignalSource | None
    ) -> None:
        self._clock = clock
        self._reports = reports
        self._signals = signals

    async def report(self, day: date | None) -> ReportView:
        # The operator's zone may be up to 14 hours ahead of UTC: their today is at most
        # UTC's tomorrow. A later day has no data yet.
        reports = self._need_reports()
        if day is not None and day > self._clock.now().date() + timedelta(days=1):
            raise ControlError(f"{day.isoformat()} is in the future: there is no report for it")
        made = await _made("the report", reports.report(day))
        return ReportView(made.text, made.image_path)

    async def chart(self, kind: str, window_days: int) -> Path:
        reports = self._need_reports()
        wanted = chart_kind(kind)
        if not 1 <= window_days <= MAX_CHART_DAYS:
            raise ControlError(f"the chart window is 1 to {MAX_CHART_DAYS} days, not {window_days}")
        return await _made(f"the {wanted} chart", reports.chart(wanted, window_days))

    def signals(self) -> SignalsView:
        if self._signals is None:
            raise NotConfiguredError("signals are not configured: no signal cycle in this process")
        return self._signals.last_cycle()

    def _need_reports(self) -> ReportSource:
        if self._reports is None:
            raise NotConfiguredError("reports are not configured in this process")
        return self._reports


def chart_kind(kind: str) -> str:
    """The chart kind, normalised; `ControlError` naming the kinds if it is not one."""
    wanted = str(kind).strip().casefold()
    if wanted not in CHART_KINDS:
        shown = wanted[:40]
        raise ControlError(f"there is no {shown!r} chart; the charts are: {', '.join(CHART_KINDS)}")
    return wanted


async def _made(what: str, pending: Awaitable[T]) -> T:
    """Await a report or chart; a failure becomes a refusal the operator can read."""
    try:
        return await pending
    except ValueError as error:  # the source refused the request (a day, a window)
        raise ControlError(f"{what} could not be made: {error}") from None
    except Exception as error:  # a database or drawing failure still gets an answer
        log.exception("%s could not be made", what)
        name = type(error).__name__
        raise ControlError(f"{what} could not be made ({name}); the log has the details") from None
