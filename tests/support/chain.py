"""A paper venue whose chain operations are scripted: the fake `ChainOps` at the redemption
service's boundary. Its holdings and cash are the paper venue's own, so what the service reads
back (`positions`, `balance`) follows what was really "sent".

- `hold`: a redeem or merge is accepted (a tx id) but stays pending until `release()`;
- `lose_answer`: the operation happens, but the call raises a timeout (sent, no tx id);
- `lose_request`: the call raises a timeout and nothing happened (never reached the venue);
- `refuse`: the venue refuses (a definite error, nothing happened);
- `forget()`: the venue no longer knows the transactions it took (a relayer restarted: a 404),
  whether or not they were mined: `tx_status` answers UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from trader.venue.base import VenueError
from trader.venue.chain import ChainKind, ChainTx, ChainTxState
from trader.venue.paper.venue import PaperVenue

Call = Callable[[], Awaitable[ChainTx]]


class ScriptedChainVenue(PaperVenue):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, str, dict[str, Decimal]]] = []
        self.hold = False
        self.lose_answer = False
        self.lose_request = False
        self.refuse: str | None = None
        self._held: list[tuple[str, Call]] = []
        self._released: dict[str, ChainTx] = {}
        self._forgotten: set[str] = set()

    async def redeem(
        self, condition_id: str, *, neg_risk: bool, amounts: Mapping[str, Decimal]
    ) -> ChainTx:
        self.calls.append(("redeem", condition_id, dict(amounts)))
        parent = super()
        return await self._scripted(
            "redeem", lambda: parent.redeem(condition_id, neg_risk=neg_risk, amounts=amounts)
        )

    async def merge(self, condition_id: str, *, neg_risk: bool, amount: Decimal) -> ChainTx:
        self.calls.append(("merge", condition_id, {"pairs": amount}))
        parent = super()
        return await self._scripted(
            "merge", lambda: parent.merge(condition_id, neg_risk=neg_risk, amount=amount)
        )

    async def _scripted(self, kind: ChainKind, call: Call) -> ChainTx:
        if self.refuse is not None or self.lose_request:
            if self.lose_request:
                raise VenueError("timed out before an answer", code="timeout")
            raise VenueError(self.refuse or "refused", code="execution_reverted")
        if self.hold:
            tx_id = f"held-{len(self._held) + len(self._released)}"
            self._held.append((tx_id, call))
            return ChainTx(tx_id, kind, ChainTxState.PENDING)
        tx = await call()
        if self.lose_answer:
            raise VenueError("timed out after sending", code="timeout")
        return tx

    async def release(self, *, fail: bool = False) -> None:
        """Mine every held operation (or fail them: nothing moves)."""
        held, self._held = self._held, []
        for tx_id, call in held:
            if fail:
                self._released[tx_id] = ChainTx(
                    tx_id, "redeem", ChainTxState.FAILED, message="reverted"
                )
            else:
                self._released[tx_id] = replace(await call(), tx_id=tx_id)

    def forget(self) -> None:
        self._forgotten |= {t for t, _ in self._held} | set(self._released)

    async def tx_status(self, tx_id: str) -> ChainTx:
        if tx_id in self._forgotten:
            return ChainTx(tx_id, "redeem", ChainTxState.UNKNOWN, message="unknown transaction")
        if tx_id in self._released:
            return self._released[tx_id]
        if any(t == tx_id for t, _ in self._held):
            return ChainTx(tx_id, "redeem", ChainTxState.PENDING)
        return await super().tx_status(tx_id)

    @property
    def sends(self) -> int:
        return len(self.calls)
