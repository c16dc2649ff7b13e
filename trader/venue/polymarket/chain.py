"""`ChainOps` on Polymarket through the official SDK: redeem, merge, and the transaction's fate.

- `redeem` calls `AsyncSecureClient.redeem_positions(condition_id=)`: the SDK finds the closed
  market on Gamma, builds the CTF `redeemPositions` call for its collateral adapter (neg-risk
  markets: the neg-risk adapter) and sends it. A deposit wallet, proxy or Safe sends it through
  the relayer (gasless, the client needs a relayer or builder key); an EOA broadcasts it
  itself (and pays the gas). The whole holding of the market is redeemed, whatever `amounts`.
- `merge` calls `merge_positions(condition_id=, amount=)` with `amount` pairs in the token's
  six-decimal base units (rounded down: never more than held).
- `tx_status` reads the relayer's transaction (`GET /v1/account/transactions/{id}`), or for an
  EOA the receipt of the hash it broadcast (`eth_getTransactionReceipt`). A hash without a
  receipt that the node still holds (`eth_getTransactionByHash`: waiting in the mempool, say
  at a gas price too low) is PENDING: followed, however long it waits, never failed and so
  never sent a second time beside it. A relayer's 404 (it lost the id, say in a restart) and
  a hash the node does not know (dropped) are UNKNOWN, never FAILED: the redemption service
  settles them from the holdings (after its unsent grace), not by sending again. The SDK has
  no public call for any of these (its handles only wait), so this module reaches the
  client's relayer and RPC transports by their private names, the one place that does;
  pinned SDK 0.14.0.

A call returns once the relayer (or the RPC node) accepted the transaction. What failed
before anything was sent (the market not closed on Gamma yet, nothing to merge, a relayer's
4xx) is a refusal (`code="chain_refused"`); a timeout, a lost connection or a 5xx may come after
the relayer took it, so they are reported as such (`code="timeout"` / `"transport"`) and the
redemption service settles them from the holdings, never by sending again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from decimal import ROUND_DOWN, Decimal
from typing import Any, Protocol

from polymarket import AsyncSecureClient
from polymarket._internal.actions.relayer.poll import fetch_gasless_transaction
from polymarket.errors import (
    RateLimitError,
    RequestRejectedError,
    TransactionFailedError,
    TransportError,
    UnexpectedResponseError,
    UserInputError,
)
from polymarket.models.clob.relayer import RelayerTransactionState

from trader.logs import REDACTOR
from trader.venue.base import VenueError, VenueUnavailable
from trader.venue.chain import ChainKind, ChainTx, ChainTxState
from trader.venue.polymarket.convert import COLLATERAL_SCALE

log = logging.getLogger(__name__)

PENDING_STATES = frozenset(
    {RelayerTransactionState.NEW, RelayerTransactionState.EXECUTED, RelayerTransactionState.MINED}
)
FAILED_STATES = frozenset({RelayerTransactionState.FAILED, RelayerTransactionState.INVALID})
HASH_LENGTH = 66  # "0x" and 32 bytes: an EOA's broadcast transaction, not a relayer id


class Handle(Protocol):
    """What the SDK's redeem and merge return (a relayer's or a broadcast transaction)."""

    @property
    def transaction_id(self) -> str | None: ...

    @property
    def transaction_hash(self) -> str | None: ...


class PolymarketChain:
    def __init__(
        self, client: Callable[[], AsyncSecureClient], *, send_timeout: float = 30.0
    ) -> None:
        self._client = client
        self._send_timeout = send_timeout
        self._kinds: dict[str, ChainKind] = {}

    async def redeem(
        self, condition_id: str, *, neg_risk: bool, amounts: Mapping[str, Decimal]
    ) -> ChainTx:
        client = self._client()
        metadata = f"polyops redeem {condition_id}"
        return await self._send(
            "redeem", lambda: client.redeem_positions(condition_id=condition_id, metadata=metadata)
        )

    async def merge(self, condition_id: str, *, neg_risk: bool, amount: Decimal) -> ChainTx:
        units = int((amount * COLLATERAL_SCALE).to_integral_value(rounding=ROUND_DOWN))
        if units <= 0:
            raise VenueError(f"cannot merge {amount} pairs", code="chain_refused")
        client = self._client()
        metadata = f"polyops merge {amount} of {condition_id}"
        return await self._send(
            "merge",
            lambda: client.merge_positions(
                condition_id=condition_id, amount=units, metadata=metadata
            ),
        )

    async def tx_status(self, tx_id: str) -> ChainTx:
        kind = self._kinds.get(tx_id, "redeem")
        try:
            if tx_id.startswith("0x") and len(tx_id) == HASH_LENGTH:
                return await self._receipt(tx_id, kind)
            ctx: Any = self._client()._ctx  # private: the SDK has no public transaction read
            tx = await fetch_gasless_transaction(ctx.relayer, transaction_id=tx_id)
        except RequestRejectedError as error:
            if error.status == 404:  # lost by the relayer, maybe mined: not a failure
                message = "the relayer does not know the transaction"
                return ChainTx(tx_id, kind, ChainTxState.UNKNOWN, message=message)
            raise _read_error(error) from error
        except Exception as error:
            raise _read_error(error) from error
        hash_ = str(tx.transaction_hash) if tx.transaction_hash else None
        if tx.state is RelayerTransactionState.CONFIRMED:
            return ChainTx(tx_id, kind, ChainTxState.CONFIRMED, tx_hash=hash_)
        if tx.state in FAILED_STATES:
            reason = tx.error_msg or f"the relayer reports {tx.state.value}"
            return ChainTx(tx_id, kind, ChainTxState.FAILED, tx_hash=hash_, message=reason)
        return ChainTx(tx_id, kind, ChainTxState.PENDING, tx_hash=hash_)

    async def _receipt(self, tx_hash: str, kind: ChainKind) -> ChainTx:
        ctx: Any = self._client()._ctx  # private: as above
        receipt = await ctx.rpc.eth_get_transaction_receipt(tx_hash)
        if receipt is None:
            waiting = await ctx.rpc._call("eth_getTransactionByHash", [tx_hash])
            if isinstance(waiting, dict):  # still in the node's mempool: wait for it
                message = "waiting to be mined"
                return ChainTx(
                    tx_hash, kind, ChainTxState.PENDING, tx_hash=tx_hash, message=message
                )
            # dropped, or never reached this node: only the holdings can tell in the end
            message = "no receipt, and the node does not know the transaction"
            return ChainTx(tx_hash, kind, ChainTxState.UNKNOWN, tx_hash=tx_hash, message=message)
        if str(receipt.get("status")) == "0x1":
            return ChainTx(tx_hash, kind, ChainTxState.CONFIRMED, tx_hash=tx_hash)
        return ChainTx(tx_hash, kind, ChainTxState.FAILED, tx_hash=tx_hash, message="reverted")

    async def _send(self, kind: ChainKind, call: Callable[[], Awaitable[Handle]]) -> ChainTx:
        try:
            handle = await asyncio.wait_for(call(), timeout=self._send_timeout)
        except Exception as error:
            raise send_error(kind, error) from error
        tx_id = handle.transaction_id or handle.transaction_hash
        if not tx_id:
            raise VenueError(f"the {kind} was accepted without an id", code="unexpected_response")
        self._kinds[tx_id] = kind
        log.info("%s sent: transaction %s", kind, tx_id)
        return ChainTx(tx_id, kind, ChainTxState.PENDING, tx_hash=handle.transaction_hash)


def send_error(kind: ChainKind, error: BaseException) -> VenueError:
    """Refused (nothing was sent) or unknown (it may have been): never both. The text is
    redacted: an SDK error names the request's URL, which may carry the provider's key."""
    mapped = _send_error(kind, error)
    return mapped if mapped is error else VenueError(REDACTOR(str(mapped)), code=mapped.code)


def _send_error(kind: ChainKind, error: BaseException) -> VenueError:
    if isinstance(error, VenueError):
        return error
    if isinstance(error, UserInputError | TransactionFailedError):
        return VenueError(f"{kind} refused: {error}", code="chain_refused")
    if isinstance(error, RateLimitError):
        return VenueError(f"{kind} rate limited by the relayer: {error}", code="transport")
    if isinstance(error, RequestRejectedError):
        if error.status < 500:
            return VenueError(f"{kind} refused ({error.status}): {error}", code="chain_refused")
        return VenueError(f"{kind} outcome unknown ({error.status}): {error}", code="transport")
    if isinstance(error, TransportError | asyncio.TimeoutError | TimeoutError):
        return VenueError(f"{kind} outcome unknown: {error or 'timed out'}", code="timeout")
    return VenueError(f"{kind} outcome unknown: {type(error).__name__}: {error}", code="timeout")


def _read_error(error: BaseException) -> VenueError:
    if isinstance(error, VenueError):
        return error
    if isinstance(error, UnexpectedResponseError):
        return VenueError(
            REDACTOR(f"unexpected answer from the relayer: {error}"), code="unexpected_response"
        )
    return VenueUnavailable(
        REDACTOR(f"transaction status unreadable: {type(error).__name__}: {error}")
    )


__all__ = ["PolymarketChain", "send_error"]
