"""The maker desk's records: an entry as the desk keeps it, as the rest of the process sees
it, and what one review did (`trader/execution/maker.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trader.domain import ZERO, OrderIntent, Side


@dataclass
class MakerEntryState:
    """One maker intent and its order: `size` approved, `filled` by its orders that ended."""

    intent: OrderIntent
    size: Decimal
    filled: Decimal = ZERO
    order_id: str | None = None  # the order resting now
    last_order_id: str | None = None  # the last one sent (what a new order replaces)
    price: Decimal | None = None
    tick: Decimal | None = None
    seen_matched: Decimal = ZERO  # what the resting order had matched when last looked at


@dataclass(frozen=True, slots=True)
class MakerView:
    """A maker entry as the rest of the process sees it (`ExecutionCore.maker_entries`)."""

    correlation_id: str
    token_id: str
    side: Side
    order_id: str | None
    price: Decimal | None
    remaining: Decimal
    urgent: bool


@dataclass(frozen=True, slots=True)
class MakerCycle:
    """What one review of the maker entries did."""

    kept: int = 0
    repriced: int = 0
    lapsed: int = 0
    taken: int = 0
