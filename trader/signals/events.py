"""Multi-outcome (neg-risk) events: one binary market per outcome, mutually exclusive, so at
most one pays YES and the YES probabilities across them sum to at most 1.

The model forecasts each outcome's market on its own and can say 0.50, 0.40 and 0.30 for three
outcomes of one event: 1.20 in all, which no money can be worth. Before sizing, the event's
YES probabilities are made coherent by proportional scaling when they sum above 1 (0.50,
0.40, 0.30 -> 0.4167, 0.3333, 0.25); a set that sums to 1 or less is left as it is (an
outcome not listed, or "none of these", may take the rest). The other outcomes' views are the
model's latest forecast for each, else its YES price (`EventViews`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from trader.domain import ONE, ZERO, Market


def coherent(probabilities: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """The YES probabilities of one event's outcomes, scaled down to sum to 1 if above it."""
    total = sum(probabilities.values(), ZERO)
    if total <= ONE:
        return dict(probabilities)
    return {key: value / total for key, value in probabilities.items()}


def coherent_yes(market: str, probability: Decimal, others: Mapping[str, Decimal]) -> Decimal:
    """`market`'s YES probability made coherent with the event's other outcomes."""
    views = {key: value for key, value in others.items() if key != market}
    return coherent({**views, market: probability})[market]


class EventViews:
    """The latest YES view of each neg-risk market: the model's forecast, else its price."""

    def __init__(self) -> None:
        self._events: dict[str, str] = {}  # market -> event id
        self._model: dict[str, Decimal] = {}
        self._price: dict[str, Decimal] = {}

    def know(self, markets: list[Market]) -> None:
        self._events.update({m.condition_id: m.event_id for m in markets if m.event_id})

    def priced(self, market: str, price: Decimal) -> None:
        self._price[market] = price

    def forecast(self, market: str, probability: Decimal) -> None:
        self._model[market] = probability

    def siblings(self, market: str) -> dict[str, Decimal]:
        """The other outcomes of `market`'s event with a view; {} when it is in none."""
        event = self._events.get(market)
        if not event:
            return {}
        found: dict[str, Decimal] = {}
        for other, its_event in self._events.items():
            if its_event != event or other == market:
                continue
            view = self._model.get(other, self._price.get(other))
            if view is not None:
                found[other] = view
        return found
