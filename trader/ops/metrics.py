"""Prometheus metrics for one trader process, on a dedicated `CollectorRegistry`.

Nothing here touches prometheus_client's global registry: the composition root builds one
`Metrics`, which `subscribe`s its counters to the typed events the event log records
(`trader.events`: orders, fills, denials, venue errors, cycles; by event class, never by
parsing a type string), and wires the gauges that are read at scrape time (`set_sources`).
`/metrics` on the app's HTTP server serves `render()`.

Counters only go up; gauges read at scrape time are evaluated in the event loop's thread (the
HTTP handler runs there), so providers may read in-memory state without locks. A provider that
raises or returns None shows as NaN rather than breaking the scrape.

Names follow Prometheus conventions: `polyops_` prefix, base units (seconds, USD), `_total` on
counters. Label values are bounded sets (outcomes, risk rules, venue error codes, model names).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from trader.events import (
    EventHandlers,
    FillApplied,
    IntentDenied,
    OrderRefusedByVenue,
    OrderSubmitted,
    SignalCycleCompleted,
    SignalCycleFailed,
    SubmitOutcomeUnknown,
    VenueErrored,
)

log = logging.getLogger(__name__)

CYCLE_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)

Number = float | int | Decimal
NumberSource = Callable[[], Number | None]


class ExecutionOutcome(Protocol):
    """What `record_execution` reads (trader.control.types.ExecutionResult fits)."""

    @property
    def outcome(self) -> str: ...

    @property
    def rule(self) -> str | None: ...


class LlmUsage(Protocol):
    """What `record_llm_usage` reads (trader.signals.records.UsageRecord fits)."""

    @property
    def model(self) -> str: ...

    @property
    def provider(self) -> str: ...

    @property
    def input_tokens(self) -> int: ...

    @property
    def output_tokens(self) -> int: ...

    @property
    def cache_read_tokens(self) -> int: ...

    @property
    def cache_write_tokens(self) -> int: ...

    @property
    def cost(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class GaugeSources:
    """Values read at scrape time; each is optional (an unwired gauge reads NaN)."""

    heartbeat_age_s: NumberSource | None = None
    equity_usd: NumberSource | None = None
    drawdown: NumberSource | None = None  # a fraction of peak equity
    alert_queue_depth: NumberSource | None = None
    open_orders: NumberSource | None = None
    supervisor_restarts: NumberSource | None = None


def _safe(source: NumberSource | None) -> Callable[[], float]:
    def read() -> float:
        if source is None:
            return math.nan
        try:
            value = source()
        except Exception:
            log.debug("metrics source failed", exc_info=True)
            return math.nan
        return math.nan if value is None else float(value)

    return read


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.heartbeat_age = Gauge(
            "polyops_heartbeat_age_seconds", "Seconds since the last heartbeat write", registry=r
        )
        self.cycle_duration = Histogram(
            "polyops_cycle_duration_seconds",
            "Duration of completed signal cycles",
            buckets=CYCLE_BUCKETS,
            registry=r,
        )
        self.cycles = Counter(
            "polyops_cycles_total", "Signal cycles by result", ["result"], registry=r
        )
        self.orders = Counter(
            "polyops_orders_total", "Order attempts by outcome", ["outcome"], registry=r
        )
        self.fills = Counter("polyops_fills_total", "Fills received", registry=r)
        self.denials = Counter(
            "polyops_risk_denials_total", "Orders denied by risk, by rule", ["rule"], registry=r
        )
        self.venue_errors = Counter(
            "polyops_venue_errors_total", "Venue errors by code", ["code"], registry=r
        )
        self.equity = Gauge("polyops_equity_usd", "Portfolio equity in USD", registry=r)
        self.drawdown = Gauge(
            "polyops_drawdown_ratio", "Drawdown from peak equity (0..1)", registry=r
        )
        self.open_orders = Gauge("polyops_open_orders", "Open orders", registry=r)
        self.llm_tokens = Counter(
            "polyops_llm_tokens_total",
            "LLM tokens by provider, model and kind",
            ["provider", "model", "kind"],
            registry=r,
        )
        self.llm_cost = Counter(
            "polyops_llm_cost_usd_total",
            "LLM spend in USD by provider and model",
            ["provider", "model"],
            registry=r,
        )
        self.alert_queue = Gauge(
            "polyops_alert_queue_depth", "Alerts waiting to be delivered", registry=r
        )
        self.supervisor_restarts = Gauge(
            "polyops_supervisor_restarts", "Supervised component restarts since start", registry=r
        )
        self.health_failing = Gauge(
            "polyops_health_check_failing", "1 while a health check fails", ["check"], registry=r
        )
        self.recorder_dropped = Gauge(
            "polyops_recorder_dropped",
            "Recorder entries dropped since start (its buffer was full): never blocked on",
            registry=r,
        )
        self.recorder_pending = Gauge(
            "polyops_recorder_pending", "Recorder entries waiting to be written", registry=r
        )
        self.recorder_write_errors = Gauge(
            "polyops_recorder_write_errors", "Recorder batches that failed to write", registry=r
        )
        self.set_sources(GaugeSources())
        self.set_recorder(None, None, None)

    def set_recorder(
        self,
        dropped: NumberSource | None,
        pending: NumberSource | None,
        write_errors: NumberSource | None,
    ) -> None:
        """The recorder's gauges (RECORDER_ENABLED; NaN without a recorder)."""
        self.recorder_dropped.set_function(_safe(dropped))
        self.recorder_pending.set_function(_safe(pending))
        self.recorder_write_errors.set_function(_safe(write_errors))

    def set_sources(self, sources: GaugeSources) -> None:
        """Wire the scrape-time gauges (call again to rewire; unset ones read NaN)."""
        self.heartbeat_age.set_function(_safe(sources.heartbeat_age_s))
        self.equity.set_function(_safe(sources.equity_usd))
        self.drawdown.set_function(_safe(sources.drawdown))
        self.alert_queue.set_function(_safe(sources.alert_queue_depth))
        self.open_orders.set_function(_safe(sources.open_orders))
        self.supervisor_restarts.set_function(_safe(sources.supervisor_restarts))

    # --- recording ------------------------------------------------------------------------

    def subscribe(self, handlers: EventHandlers) -> None:
        """Count the typed events recorded through `handlers` (the metered event log's)."""
        handlers.subscribe(IntentDenied, lambda event: self.record_denial(event.rule))
        handlers.subscribe(FillApplied, lambda _: self.record_fill())
        handlers.subscribe(VenueErrored, lambda event: self.record_venue_error(event.code))
        handlers.subscribe(OrderSubmitted, lambda _: self.record_order("submitted"))
        handlers.subscribe(OrderRefusedByVenue, lambda _: self.record_order("refused"))
        handlers.subscribe(SubmitOutcomeUnknown, lambda _: self.record_order("submit_unknown"))
        handlers.subscribe(
            SignalCycleCompleted, lambda event: self.record_cycle(event.duration_s, ok=True)
        )
        handlers.subscribe(
            SignalCycleFailed, lambda event: self.record_cycle(event.duration_s, ok=False)
        )

    def record_cycle(self, seconds: float, *, ok: bool = True) -> None:
        self.cycles.labels(result="ok" if ok else "failed").inc()
        if ok:
            self.cycle_duration.observe(max(0.0, seconds))

    def record_execution(self, result: ExecutionOutcome) -> None:
        outcome = str(result.outcome)
        self.orders.labels(outcome=outcome).inc()
        if outcome == "denied":
            self.denials.labels(rule=result.rule or "unknown").inc()

    def record_order(self, outcome: str) -> None:
        """An order attempt's outcome as recorded in the event log (submitted, refused...)."""
        self.orders.labels(outcome=outcome).inc()

    def record_denial(self, rule: str) -> None:
        self.denials.labels(rule=rule or "unknown").inc()

    def record_fill(self, count: int = 1) -> None:
        self.fills.inc(count)

    def record_venue_error(self, code: str | None) -> None:
        self.venue_errors.labels(code=code or "unknown").inc()

    def record_llm_usage(self, usage: LlmUsage) -> None:
        model, provider = usage.model or "unknown", usage.provider or "unknown"
        for kind, tokens in (
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cache_read", usage.cache_read_tokens),
            ("cache_write", usage.cache_write_tokens),
        ):
            if tokens > 0:
                self.llm_tokens.labels(provider=provider, model=model, kind=kind).inc(tokens)
        if usage.cost > 0:
            self.llm_cost.labels(provider=provider, model=model).inc(float(usage.cost))

    def set_health(self, check: str, failing: bool) -> None:
        self.health_failing.labels(check=check).set(1.0 if failing else 0.0)

    # --- exposition -----------------------------------------------------------------------

    def render(self) -> bytes:
        """The text exposition format (version 0.0.4) of this registry only."""
        return generate_latest(self.registry)
