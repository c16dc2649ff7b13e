"""`SignalRuntime`: one signal cycle at a time, as the trader runs it; the intent groups
published as their legs (`group_legs`)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from trader.bus import Bus
from trader.clock import Clock
from trader.domain import Alert, Market, OrderIntent, Severity, new_correlation_id
from trader.events import EventSink, RecordedEvent, SignalCycleCompleted, SignalCycleFailed
from trader.signals.budget import DailyBudget
from trader.signals.exits import ExitWatch
from trader.signals.pipeline import CycleReport, SignalPipeline
from trader.signals.records import ForecastRecord, InMemoryForecastRecorder
from trader.signals.refit import CalibrationRefit
from trader.signals.runtime.config import SignalRuntimeConfig
from trader.signals.trace import MARKET_ANALYSED
from trader.signals.values import IntentGroup, Source, UnwindAction
from trader.store.signals_repo import BrierScores, ForecastEntry, SqlForecastStore, SqlNewsCache

if TYPE_CHECKING:  # imported by make_client only when ANTHROPIC_API_KEY is set
    import anthropic


log = logging.getLogger(__name__)

MarketSource = Callable[[], Awaitable[Sequence[Market]]]
BankrollSource = Callable[[], Awaitable[Decimal]]
ACTOR = "scheduler:signals"
SCORE_DAYS = 30


def group_legs(group: IntentGroup) -> tuple[OrderIntent, ...]:
    """The group's intents as published: correlation ids and reasons that name the group."""
    legs = group.intents
    if len(legs) == 1:
        return (replace(legs[0], correlation_id=group.group_id),)
    notes = ["all-or-none"] if group.all_or_none else []
    if group.unwind is not UnwindAction.NONE:
        notes.append(f"unwind: {group.unwind}")
    published = []
    for number, intent in enumerate(legs, start=1):
        tag = ", ".join([f"group {group.group_id} leg {number}/{len(legs)}", *notes])
        published.append(
            replace(
                intent,
                correlation_id=f"{group.group_id}-{number}",
                reason=f"{intent.reason} [{tag}]".strip(),
            )
        )
    return tuple(published)


def fallback_reasons(report: CycleReport) -> Counter[str]:
    """Why markets were analysed by the heuristic although the LLM is the primary model."""
    reasons: Counter[str] = Counter()
    for market in report.markets:
        why = market.analysis.removeprefix("heuristic: ")
        if why != market.analysis and why != "no API key":
            reasons[why.split(" (", 1)[0]] += 1
    return reasons


@dataclass(eq=False)
class SignalRuntime:
    """Runs signal cycles; built by `build_signal_runtime`. Call `close()` when done."""

    config: SignalRuntimeConfig
    pipeline: SignalPipeline
    collector: InMemoryForecastRecorder  # this cycle's forecasts, written after it
    forecasts: SqlForecastStore
    markets: MarketSource
    bankroll: BankrollSource
    bus: Bus
    clock: Clock
    events: EventSink | None = None  # the event log (typed cycle events are counted)
    news_cache: SqlNewsCache | None = None
    budget: DailyBudget | None = None
    client: anthropic.AsyncAnthropic | None = None  # owned: closed by `close()`
    other_clients: list[Any] = field(default_factory=list)  # owned too (the openai SDK's)
    # the operator's /set allow_heuristic_live (ControlState), read at each cycle's start
    allow_heuristic_live: Callable[[], bool] = field(default=lambda: False)
    refit: CalibrationRefit | None = None  # the daily job; `load()` at start
    exits: ExitWatch | None = None  # the open positions' exit rules, after each cycle
    last_report: CycleReport | None = field(default=None, init=False)
    last_cycle_at: datetime | None = field(default=None, init=False)  # the last one's start
    last_published: tuple[OrderIntent, ...] = field(default=(), init=False)
    last_error: str = field(default="", init=False)  # cleared by a completed cycle
    last_scores: BrierScores | None = field(default=None, init=False)  # read after each cycle
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    @property
    def analyser(self) -> str:
        """Which model analyses markets, for /status and /signals."""
        if self.config.uses_llm:
            return f"llm ({self.config.analysis_model})"
        return "heuristic (no ANTHROPIC_API_KEY)"

    def describe_last_cycle(self) -> str:
        """A line for /cycle: what the last completed cycle did."""
        report = self.last_report
        if report is None:
            return "No signal cycle has completed yet."
        reused = f" ({report.reused} on reused samples)" if report.reused else ""
        return (
            f"Signal cycle done ({self.analyser}): {report.selected} of {report.candidates} "
            f"markets selected, {report.analysed} analysed{reused}, "
            f"{len(self.last_published)} intent(s) published."
        )

    async def llm_spend_today(self) -> tuple[Decimal, Decimal]:
        """(spent today, daily budget) in USD, the Control API's `SpendSource`."""
        state = await self.budget.state() if self.budget is not None else None
        return (state.spent, state.limit) if state is not None else (Decimal(0), Decimal(0))

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None
        while self.other_clients:
            await self.other_clients.pop().close()
        if self.config.search.enabled:  # retrieval's article-parsing threads
            from trader.signals.retrieval.articles import close_extractor

            close_extractor()

    async def run_cycle(self) -> CycleReport:
        """One cycle; raises (after recording the failure) if it could not run at all."""
        async with self._lock:
            cycle_id = new_correlation_id()
            self._record("signal_cycle_started", {"analyser": self.analyser}, cycle_id)
            start = self.clock.monotonic()
            try:
                report = await self._cycle(cycle_id)
            except asyncio.CancelledError:  # shutdown mid-cycle: say so, then stop
                self._record(
                    "signal_cycle_cancelled",
                    {"duration_s": self.clock.monotonic() - start},
                    cycle_id,
                )
                raise
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                took = self.clock.monotonic() - start
                self._record_event(SignalCycleFailed(self.last_error, took), cycle_id)
                raise
            self.last_report, self.last_cycle_at, self.last_error = report, report.started_at, ""
            summary = self._summary(report, start)
            completed = SignalCycleCompleted(summary["duration_s"], summary)
            self._record_event(completed, cycle_id)
            self._alert_fallbacks(report, cycle_id)
            return report

    async def _cycle(self, cycle_id: str) -> CycleReport:
        markets = await self.markets()
        bankroll = await self.bankroll()
        self._take_forecasts()  # nothing from an earlier, interrupted cycle
        result = await self.pipeline.run_cycle(
            markets,
            bankroll=bankroll,
            mode=self.config.mode,
            allow_heuristic_live=self.allow_heuristic_live(),
        )
        legs = {group.group_id: group_legs(group) for group in result.groups}
        await self._store_forecasts(markets, result.groups, cycle_id)
        self._record_analyses(result.report, result.groups, cycle_id)
        published: list[OrderIntent] = []
        for group in result.groups:
            self._record("signal_group_published", _group_payload(group, cycle_id), group.group_id)
            for intent in legs[group.group_id]:
                self.bus.intents.publish(intent, intent.correlation_id)
                published.append(intent)
        published.extend(await self._exits(markets, result.groups, cycle_id))
        self.last_published = tuple(published)
        await self._prune_news()
        await self._read_scores()
        return result.report

    async def _exits(
        self, markets: Sequence[Market], groups: Sequence[IntentGroup], cycle_id: str
    ) -> list[OrderIntent]:
        """The open positions' exits, published; a market this cycle already decided is left
        to that decision. A failure costs this cycle its exits, with an alert."""
        if self.exits is None:
            return []
        traded = {intent.market for group in groups for intent in group.intents}
        try:
            decisions = await self.exits.run(markets, skip=traded, cycle_id=cycle_id)
        except Exception as exc:
            log.exception("signal cycle: the exit rules failed")
            self._warn(
                "exits_failed", "Exits not evaluated", f"{type(exc).__name__}: {exc}", cycle_id
            )
            return []
        return [decision.intent for decision in decisions]

    async def _read_scores(self) -> None:
        """The resolved forecasts' Brier scores over `SCORE_DAYS`, for /signals."""
        now = self.clock.now()
        try:
            self.last_scores = await self.forecasts.scores(now - timedelta(days=SCORE_DAYS), now)
        except Exception:  # a read for display: the next cycle tries again
            log.exception("signal cycle: could not read the forecasts' scores")

    @property
    def calibration(self) -> str:
        """The calibration and blend weight in force, with their sample size."""
        return self.refit.holder.current.describe() if self.refit is not None else ""

    async def _store_forecasts(
        self, markets: Sequence[Market], groups: Sequence[IntentGroup], cycle_id: str
    ) -> None:
        """Write the cycle's forecasts; a failure costs the record, never the cycle's intents."""
        yes_tokens = {m.condition_id: t.token_id for m in markets if (t := m.token("Yes"))}
        edge_groups = {g.intents[0].market: g.group_id for g in groups if g.strategy == "llm_edge"}
        entries = [
            ForecastEntry(
                record,
                token_id=yes_tokens.get(record.forecast.market, ""),
                model=self._model_name(record.forecast.source),
                correlation_id=edge_groups.get(record.forecast.market),
            )
            for record in self._take_forecasts()
        ]
        try:
            await self.forecasts.record_many(entries)
        except Exception as exc:
            log.exception("signal cycle: could not store %d forecasts", len(entries))
            title = f"{len(entries)} forecasts of this cycle were not stored"
            self._warn("forecasts_not_stored", title, f"{type(exc).__name__}: {exc}", cycle_id)

    def _record_analyses(
        self, report: CycleReport, groups: Sequence[IntentGroup], cycle_id: str
    ) -> None:
        """One `market_analysed` event per analysed market, before its intents go out: under
        the market's group id when it traded (the chain /why follows), the cycle's otherwise."""
        traded = {g.intents[0].market: g.group_id for g in groups if g.strategy == "llm_edge"}
        for market in report.markets:
            if market.trace is None:
                continue
            payload = {"cycle": cycle_id, **market.trace.to_json()}
            self._record(MARKET_ANALYSED, payload, traded.get(market.market, cycle_id))

    def _take_forecasts(self) -> list[ForecastRecord]:
        records, self.collector.records = self.collector.records, []
        return records

    def _model_name(self, source: Source) -> str:
        return self.config.analysis_model if source is Source.LLM else str(source)

    async def _prune_news(self) -> None:
        try:
            if self.news_cache is not None:
                await self.news_cache.prune(self.clock.now() - self.config.news_window)
        except Exception:  # housekeeping: the next cycle tries again
            log.exception("signal cycle: could not prune old news items")

    def _alert_fallbacks(self, report: CycleReport, cycle_id: str) -> None:
        reasons = fallback_reasons(report)
        if reasons:
            title = f"Heuristic used instead of the LLM for {sum(reasons.values())} market(s)"
            body = "; ".join(f"{why}: {n}" for why, n in sorted(reasons.items()))
            self._warn("llm_fallback", title, body, cycle_id)
        if report.news_error:
            title = "News stage failed: markets were triaged without news"
            self._warn("news_failed", title, report.news_error, cycle_id)
        failing = report.retrieval_failures
        if failing:
            title = "News search failed for some markets: the other providers answered"
            body = "; ".join(f"{name}: {n} market(s)" for name, n in sorted(failing.items()))
            self._warn("retrieval_failed", title, body, cycle_id)

    def _warn(self, kind: str, title: str, body: str, cycle_id: str) -> None:
        # positional: kind, severity, title, body, correlation id, dedupe key
        alert = Alert(kind, Severity.WARNING, title, body, cycle_id, f"signals:{kind}")
        self.bus.alerts.publish(alert, cycle_id)

    def _record(self, kind: str, payload: Mapping[str, Any], correlation_id: str) -> None:
        if self.events is None:
            return
        try:
            self.events.append(kind, payload, correlation_id=correlation_id, actor=ACTOR)
        except Exception:  # the event log refusing (closed at shutdown) never ends a cycle
            log.exception("signal cycle: could not record %s", kind)

    def _record_event(self, event: RecordedEvent, correlation_id: str) -> None:
        if self.events is None:
            return
        try:
            self.events.record(event, correlation_id=correlation_id, actor=ACTOR)
        except Exception:  # the event log refusing (closed at shutdown) never ends a cycle
            log.exception("signal cycle: could not record %s", event.type)

    def _summary(self, report: CycleReport, start: float) -> dict[str, Any]:
        return {
            "duration_s": self.clock.monotonic() - start,
            "candidates": report.candidates,
            "selected": report.selected,
            "analysed": report.analysed,
            "reused": report.reused,
            "trades": len(report.trades),
            "intents": len(self.last_published),
            "sources": report.sources,
            "llm_calls": report.llm.calls,
            "llm_cost": report.llm.cost,
            "cost_per_analysed": report.cost_per_analysed,
            "screened_out": report.screened_out,
            "screen_cost": report.screen_cost,
            "news_error": report.news_error,
            "retrieval_failures": report.retrieval_failures,
        }


_LEG_FIELDS = ("correlation_id", "market", "token_id", "side", "limit_price", "size", "notional")


def _group_payload(group: IntentGroup, cycle_id: str) -> dict[str, Any]:
    return {
        "cycle": cycle_id,
        "strategy": group.strategy,
        "reason": group.reason,
        "all_or_none": group.all_or_none,
        "unwind": group.unwind,
        "legs": [{name: getattr(leg, name) for name in _LEG_FIELDS} for leg in group_legs(group)],
    }
