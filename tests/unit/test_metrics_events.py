"""Metrics subscribe to typed events: recording a typed event through the metered event log
moves its counter (and writes its row as before); a plain line with the same type string
counts nothing, since nothing parses type strings any more."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

import pytest

from tests.support.memory import MemoryEvents
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
from trader.ops.metrics import Metrics
from trader.store.eventlog import EventLog
from trader.wiring import MeteredEventLog


def metered() -> tuple[MeteredEventLog, MemoryEvents, Metrics]:
    rows, metrics = MemoryEvents(), Metrics()
    return MeteredEventLog(cast(EventLog, rows), metrics), rows, metrics  # the log's seam


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def fill() -> FillApplied:
    return FillApplied(
        trade_id="t1",
        order_id="o1",
        side="BUY",
        price=Decimal("0.40"),
        size=Decimal(10),
        fee=Decimal("0.01"),
        source="venue",
        position=Decimal(10),
        realized=Decimal(0),
    )


def test_a_typed_denial_moves_the_denials_counter_and_is_written_down() -> None:
    log, rows, metrics = metered()

    log.record(IntentDenied("max_exposure", "over the limit"), correlation_id="c1")

    assert value(metrics, "polyops_risk_denials_total", rule="max_exposure") == 1
    (row,) = rows.rows
    assert (row.type, row.correlation_id) == ("intent_denied", "c1")
    assert row.payload == {"rule": "max_exposure", "message": "over the limit"}


@pytest.mark.parametrize(
    ("event", "sample", "labels"),
    [
        (fill(), "polyops_fills_total", {}),
        (
            VenueErrored("submit", "rate_limited", "RateLimited", "429"),
            "polyops_venue_errors_total",
            {"code": "rate_limited"},
        ),
        (
            VenueErrored("prepare", None, "VenueUnavailable", "502"),
            "polyops_venue_errors_total",
            {"code": "unknown"},
        ),
        (
            OrderSubmitted("o1", "LIVE", Decimal(0)),
            "polyops_orders_total",
            {"outcome": "submitted"},
        ),
        (OrderRefusedByVenue("tick", "bad tick"), "polyops_orders_total", {"outcome": "refused"}),
        (
            SubmitOutcomeUnknown("o1", "timeout"),
            "polyops_orders_total",
            {"outcome": "submit_unknown"},
        ),
        (SignalCycleCompleted(12.5, {"intents": 1}), "polyops_cycles_total", {"result": "ok"}),
        (SignalCycleFailed("boom", 3.0), "polyops_cycles_total", {"result": "failed"}),
    ],
)
def test_each_typed_event_moves_its_metric(
    event: object, sample: str, labels: dict[str, str]
) -> None:
    log, rows, metrics = metered()

    log.record(event, correlation_id="c1")  # type: ignore[arg-type]  # the parametrised union

    assert value(metrics, sample, **labels) == 1
    assert rows.rows[0].type == type(event).type  # type: ignore[attr-defined]


def test_a_completed_cycle_is_timed_and_its_summary_kept() -> None:
    log, rows, metrics = metered()

    log.record(SignalCycleCompleted(12.5, {"intents": 2}), correlation_id="cy")

    assert value(metrics, "polyops_cycle_duration_seconds_sum") == 12.5
    assert rows.rows[0].payload == {"intents": 2, "duration_s": 12.5}


def test_a_plain_line_with_a_counted_type_string_counts_nothing() -> None:
    log, rows, metrics = metered()

    log.append("intent_denied", {"rule": "max_exposure"}, correlation_id="c1")
    log.append("fill", {}, correlation_id="c1")

    assert [row.type for row in rows.rows] == ["intent_denied", "fill"]  # written down
    assert value(metrics, "polyops_risk_denials_total", rule="max_exposure") == 0
    assert value(metrics, "polyops_fills_total") == 0


def test_a_failing_handler_never_loses_the_event_or_the_other_handlers() -> None:
    handlers, seen = EventHandlers(), []

    def broken(event: IntentDenied) -> None:
        raise RuntimeError("metrics bug")

    handlers.subscribe(IntentDenied, broken)
    handlers.subscribe(IntentDenied, seen.append)
    handlers.publish(IntentDenied("cooldown", "too soon"))

    assert seen == [IntentDenied("cooldown", "too soon")]
