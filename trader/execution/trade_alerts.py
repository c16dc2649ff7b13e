"""Order and fill facts from the bus, said to the operator as alerts.

The engine publishes what happened to orders (placed, rejected, cancelled) and every fill on
the never-drop topics; this component words them for the notifier, which decides whether
each kind rings, stays silent or is off (the operator's alert settings), folds bursts and
deduplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from trader.bus import Bus, Subscription
from trader.domain import Alert, Fill, Order, OrderStatus, Severity

TitleOf = Callable[[str], str]  # token id -> "question — outcome"

_ORDER_KINDS = {
    OrderStatus.LIVE: ("order_placed", Severity.INFO, "Order placed"),
    OrderStatus.MATCHED: ("order_placed", Severity.INFO, "Order placed and matched"),
    OrderStatus.SUBMITTED: ("order_placed", Severity.WARNING, "Order sent, outcome unknown"),
    OrderStatus.REJECTED: ("order_rejected", Severity.WARNING, "Order rejected"),
    OrderStatus.CANCELED: ("order_cancelled", Severity.INFO, "Order cancelled"),
}


def order_alert(order: Order, title_of: TitleOf) -> Alert | None:
    wording = _ORDER_KINDS.get(order.status)
    if wording is None:
        return None
    kind, severity, title = wording
    line = f"{order.side.value} {order.original_size} @ {order.price}"
    if order.size_matched > 0:
        line += f" (filled {order.size_matched})"
    body = title_of(order.token_id)
    if order.status is OrderStatus.REJECTED and order.reason:
        body = f"{body}\n{order.reason}"  # the why, and for an account refusal the fix
    return Alert(kind, severity, f"{title}: {line}", body, dedupe_key=f"{kind}:{order.order_id}")


def fill_alert(fill: Fill, title_of: TitleOf) -> Alert:
    return Alert(
        "order_filled",
        Severity.INFO,
        f"Filled: {fill.side.value} {fill.size} @ {fill.price} (fee {fill.fee})",
        title_of(fill.token_id),
        dedupe_key=f"order_filled:{fill.trade_id}:{fill.order_id}",
    )


class TradeAlerts:
    """Subscribes at construction (so nothing published after start is missed)."""

    def __init__(self, bus: Bus, title_of: TitleOf) -> None:
        self._bus = bus
        self._title_of = title_of
        self._orders: Subscription[Order] = bus.orders.subscribe()
        self._fills: Subscription[Fill] = bus.fills.subscribe()

    async def run_orders(self) -> None:
        async for envelope in self._orders:
            alert = order_alert(envelope.payload, self._title_of)
            if alert is not None:
                corr = envelope.correlation_id
                self._bus.alerts.publish(replace(alert, correlation_id=corr), corr)

    async def run_fills(self) -> None:
        async for envelope in self._fills:
            alert = fill_alert(envelope.payload, self._title_of)
            corr = envelope.correlation_id
            self._bus.alerts.publish(replace(alert, correlation_id=corr), corr)

    def close(self) -> None:
        self._orders.close()
        self._fills.close()
