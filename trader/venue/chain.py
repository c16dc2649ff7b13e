"""On-chain position operations: redeem a resolved market, merge a YES+NO pair, track the tx.

The contract between the redemption/merge service (`trader.execution`) and the venues that
implement it: the live venue through the official SDK (`redeem_positions`, `merge_positions`,
sent through the relayer for a deposit wallet, or broadcast for an EOA), the paper venue in its
own ledger. A venue that cannot do these raises `VenueError(code="chain_unsupported")`.

A call returns once the venue accepted the transaction; `tx_id` names it for `tx_status`
(the relayer's transaction id, or the tx hash when there is no relayer). A restart resumes
tracking from `tx_id`; a call that may have been sent but returned no id is settled by reading
the holdings (`Venue.positions`), never by sending again; so is a sent one whose status the
venue cannot tell (`ChainTxState.UNKNOWN`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

ChainKind = Literal["redeem", "merge", "split", "deploy", "approve"]


class ChainTxState(StrEnum):
    PENDING = "pending"  # accepted, not yet mined
    CONFIRMED = "confirmed"  # mined and successful: the collateral moved
    FAILED = "failed"  # mined and reverted, or refused: nothing moved
    # the venue cannot say: a relayer that no longer knows the id (a 404 after its restart), a
    # hash with no receipt. Never "failed" (that would send again): settled from the holdings
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ChainTx:
    tx_id: str
    kind: ChainKind
    state: ChainTxState
    tx_hash: str | None = None
    message: str = ""


@runtime_checkable
class ChainOps(Protocol):
    async def redeem(
        self, condition_id: str, *, neg_risk: bool, amounts: Mapping[str, Decimal]
    ) -> ChainTx:
        """Redeem every held outcome token of a resolved market (`amounts`: token id -> shares)."""
        ...

    async def merge(self, condition_id: str, *, neg_risk: bool, amount: Decimal) -> ChainTx:
        """Merge `amount` YES and `amount` NO of one market back into `amount` collateral."""
        ...

    async def tx_status(self, tx_id: str) -> ChainTx: ...
