"""The flatten's durable intent: what a kill with flatten set out to sell, kept until it is done.

A kill with flatten first cancels every order and then sells every position; a crash between
the two (or during the sells) would leave KILLED in force but the positions open, and nobody
told. So before the first sell is sent the kill switch records a `FlattenIntent` (the slippage
cap, who asked, when, and the tokens and sizes it will sell) in the control-state table, and
clears it when the flatten has run. At start-up, after reconciliation, a record still there
means the flatten was cut short: the kill switch resumes it (sells what is still held of
those tokens, within the same cap) or, when `KILL_RESUME_FLATTEN` is off, only reports what
is still held; either way a critical alert says what happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from trader.state import ControlState

log = logging.getLogger(__name__)
PENDING_FLATTEN_KEY = "pending_flatten"


@dataclass(frozen=True, slots=True)
class FlattenSell:
    token_id: str
    market: str
    size: Decimal


@dataclass(frozen=True, slots=True)
class FlattenIntent:
    slippage: Decimal
    requested_by: str
    requested_at: datetime
    correlation_id: str
    reason: str
    sells: tuple[FlattenSell, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "slippage": str(self.slippage),
            "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(),
            "correlation_id": self.correlation_id,
            "reason": self.reason,
            "sells": [
                {"token_id": s.token_id, "market": s.market, "size": str(s.size)}
                for s in self.sells
            ],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FlattenIntent:
        """Raises ValueError (or KeyError/TypeError) on a document it cannot read."""
        requested_at = datetime.fromisoformat(str(raw["requested_at"]))
        if requested_at.tzinfo is None:
            raise ValueError("requested_at has no time zone")
        try:
            return cls(
                slippage=Decimal(str(raw["slippage"])),
                requested_by=str(raw["requested_by"]),
                requested_at=requested_at,
                correlation_id=str(raw["correlation_id"]),
                reason=str(raw.get("reason", "")),
                sells=tuple(
                    FlattenSell(str(s["token_id"]), str(s["market"]), Decimal(str(s["size"])))
                    for s in raw["sells"]
                ),
            )
        except InvalidOperation as error:
            raise ValueError(f"a number in the flatten record is not a decimal: {error}") from None


class FlattenIntentRepository:
    """The one pending flatten, as a control-state key (written through to the database)."""

    def __init__(self, state: ControlState) -> None:
        self._state = state

    def pending(self) -> FlattenIntent | str | None:
        """The unfinished flatten; None if there is none; the raw text if it is unreadable
        (the caller reports it: an unreadable record must not be silently dropped)."""
        raw = self._state.get(PENDING_FLATTEN_KEY)
        if raw is None:
            return None
        try:
            return FlattenIntent.from_json(raw)
        except (ValueError, KeyError, TypeError) as error:
            log.error("unreadable flatten record: %s", error)
            return str(raw)

    async def record(self, intent: FlattenIntent) -> None:
        """Committed to the database before this returns."""
        await self._state.put(PENDING_FLATTEN_KEY, intent.to_json(), intent.requested_by)

    async def clear(self, by: str) -> None:
        await self._state.put(PENDING_FLATTEN_KEY, None, by)
