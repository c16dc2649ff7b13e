"""The live venue: Polymarket's CLOB through the official SDK (`polymarket-client` 0.14.0).

- Credentials: L2 API keys are derived from the private key when the SDK client is created. The
  SDK infers the signature type from the wallet it acts for (EOA = the signer itself, Polymarket
  proxy, Gnosis Safe, deposit wallet), so `signature_type` and `funder` choose that wallet and the
  type the SDK infers is checked against the one asked for.
- Orders are signed in `prepare` and sent in `submit`: the SDK separates the two
  (`create_limit_order` / `create_market_order` sign, `post_order(s)` sends), so the engine can
  persist the signed order and its id (the EIP-712 hash) before anything leaves the process.
  GTC/GTD orders are limit orders; FOK/FAK orders are the SDK's protected market orders (BUY:
  spend `price * size` rounded down to cents with `max_price = price`; SELL: `size` shares with
  `min_price = price`), whose amounts follow the venue's precision rules for immediate orders.
  So an immediate BUY never spends more than `price * size`, but when the book is better than
  its limit it may receive more than `size` shares (the venue fills the spend).
- A submit that times out or loses its connection raises `UnknownOutcome(order_id)`; it is never
  retried or re-signed: `resolve_unknown(order_id)` looks the hash up. Reads are retried after the
  advertised delay a bounded number of times; submits never.
- The SDK client is async throughout (httpx), so nothing here blocks the event loop; signing is
  a few milliseconds of CPU inside `prepare`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import httpx
from polymarket import (
    AcceptedOrder,
    AsyncSecureClient,
    CancelOrdersResponse,
    OrderResponse,
    SignedOrder,
)

from trader.clock import Clock
from trader.domain import (
    ZERO,
    Balance,
    Book,
    Fill,
    Market,
    Order,
    OrderRequest,
    OrderStatus,
    Payouts,
    Position,
    Side,
)
from trader.venue.base import (
    CancelResult,
    OrderRejected,
    PostOnlyMode,
    PreparedOrder,
    SubmitResult,
)
from trader.venue.chain import ChainTx
from trader.venue.parsing.rest import AccountIdentity, normalize_insert_status
from trader.venue.parsing.stream import OrderUpdate
from trader.venue.polymarket.account import PolymarketAccount, WalletConfig
from trader.venue.polymarket.chain import PolymarketChain
from trader.venue.polymarket.convert import (
    ExchangeDomain,
    order_hash,
    signed_from_json,
    signed_to_json,
)
from trader.venue.polymarket.errors import map_read_error, map_submit_error, venue_code
from trader.venue.polymarket.market_data import PolymarketEndpoints, PolymarketMarketData
from trader.venue.polymarket.sdk_env import exchange_addresses
from trader.venue.polymarket.user import UserChannel
from trader.venue.rounding import round_order

log = logging.getLogger(__name__)

KILLED = {"FOK_ORDER_NOT_FILLED_ERROR", "FAK_ORDER_NOT_FILLED_ERROR"}


class PolymarketVenue:
    name = "polymarket"

    def __init__(
        self,
        *,
        private_key: str,
        clock: Clock,
        signature_type: int = 0,
        funder: str | None = None,
        relayer_api_key: str | None = None,
        relayer_api_key_address: str | None = None,
        endpoints: PolymarketEndpoints | None = None,
        submit_timeout: float = 5.0,
        read_attempts: int = 3,
        read_backoff: float = 0.5,
        fill_poll_interval: float | None = 30.0,
        reconnect_base: float = 0.5,
        snapshot_grace: float = 2.0,
        fee_override_bps: Decimal | None = None,
    ) -> None:
        self.endpoints = endpoints or PolymarketEndpoints()
        self._clock = clock
        self._submit_timeout = submit_timeout
        self._fill_poll_interval = fill_poll_interval
        self._reconnect_base = reconnect_base
        self.market_data = PolymarketMarketData(
            clock=clock,
            endpoints=self.endpoints,
            fee_override_bps=fee_override_bps,
            read_attempts=read_attempts,
            read_backoff=read_backoff,
            reconnect_base=reconnect_base,
            snapshot_grace=snapshot_grace,
        )
        self.account = PolymarketAccount(
            WalletConfig(
                private_key=private_key,
                signature_type=signature_type,
                funder=funder,
                relayer_api_key=relayer_api_key,
                relayer_api_key_address=relayer_api_key_address,
            ),
            environment=self.endpoints.environment(),
            clock=clock,
            read_attempts=read_attempts,
            read_backoff=read_backoff,
        )
        self._domain = ExchangeDomain.from_addresses(
            exchange_addresses(self.endpoints.environment())
        )
        self._signed: dict[str, SignedOrder] = {}
        self._requests: dict[str, OrderRequest] = {}
        self._user: UserChannel | None = None
        self._heartbeat_id = ""
        self._heartbeat_lock = asyncio.Lock()
        self.chain = PolymarketChain(lambda: self.account.client)

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self._user is not None:
            return
        await self.account.connect()
        await self.market_data.start()  # public reads on its own httpx client
        self._user = UserChannel(
            self.endpoints.user_ws_url,
            clock=self._clock,
            identity=self.identity,
            subscribe_frame=self.account.user_subscribe_frame,
            backfill=self._trades_after,
            poll_interval=self._fill_poll_interval,
            reconnect_base=self._reconnect_base,
        )
        self._user.start()

    async def close(self) -> None:
        user, self._user = self._user, None
        if user is not None:
            await user.close()
        await self.market_data.close()
        await self.account.close()

    @property
    def client(self) -> AsyncSecureClient:
        return self.account.client

    @property
    def identity(self) -> AccountIdentity:
        return self.account.identity

    @property
    def user(self) -> UserChannel:
        if self._user is None:
            raise RuntimeError("PolymarketVenue.start() has not been awaited")
        return self._user

    # --- market data ------------------------------------------------------------------------

    async def list_markets(self, *, limit: int = 500) -> Sequence[Market]:
        return await self.market_data.list_markets(limit=limit)

    async def get_book(self, token_id: str) -> Book:
        return await self.market_data.get_book(token_id)

    def book_updates(self, token_ids: Sequence[str]) -> AsyncIterator[Book]:
        return self.market_data.book_updates(token_ids)

    def book_age(self, token_id: str) -> float | None:
        return self.market_data.book_age(token_id)

    def feed_age(self) -> float | None:
        """The market socket's liveness: seconds since it last delivered anything (PONG
        included), infinite while disconnected, None when not started."""
        return self.market_data.feed_age()

    async def resolved_markets(self, condition_ids: Sequence[str]) -> dict[str, Payouts]:
        """Resolved markets among `condition_ids` -> payout per share by token, from Gamma.
        The payout itself is on-chain (redemption): the execution core counts it as
        redeemable."""
        return await self.market_data.resolved_markets(condition_ids)

    # --- orders -----------------------------------------------------------------------------

    async def prepare(self, request: OrderRequest) -> PreparedOrder:
        """Round, validate and sign; nothing is sent. Raises `OrderRefused`."""
        book = await self.market_data.get_book(request.token_id)
        rounded = round_order(
            request,
            tick_size=book.tick_size,
            min_order_size=book.min_order_size,
            best_bid=book.best_bid,
            best_ask=book.best_ask,
            now=self._clock.now(),
        )
        try:
            signed = await self.account.sign(rounded)
        except Exception as error:
            raise map_read_error(error) from error
        if rounded.token_id not in self.market_data.neg_risk:  # the book came from the socket
            await self.market_data.fetch_book(rounded.token_id)
        neg_risk = self.market_data.neg_risk.get(rounded.token_id, False)
        order_id = order_hash(signed, self._domain, neg_risk=neg_risk)
        self._signed[order_id] = signed
        self._requests[order_id] = rounded
        return PreparedOrder(request=rounded, order_id=order_id, payload=signed_to_json(signed))

    async def submit(self, order: PreparedOrder) -> SubmitResult:
        """Post the signed order once. Lost answer: `UnknownOutcome`; never retried here."""
        signed = self._signed_for(order)
        try:
            response = await asyncio.wait_for(
                self.client.post_order(signed), timeout=self._submit_timeout
            )
        except Exception as error:
            raise map_submit_error(error, order.order_id) from error
        return self._result(order, response)

    async def cancel(self, order_ids: Sequence[str]) -> CancelResult:
        if not order_ids:
            return CancelResult()
        ids = list(order_ids)
        response = await self.account.read(
            lambda: self.client.cancel_orders(order_ids=ids), what="cancel orders"
        )
        return _cancel_result(response)

    async def cancel_all(self) -> CancelResult:
        response = await self.account.read(self.client.cancel_all, what="cancel all")
        return _cancel_result(response)

    async def get_order(self, order_id: str) -> Order | None:
        return await self.account.get_order(
            order_id, client_order_id=self._client_order_id(order_id)
        )

    async def resolve_unknown(self, order_id: str) -> Order | None:
        """After `UnknownOutcome`: the order as the venue knows it, or None if it never arrived.

        Looks the hash up (the order itself, then open orders, then our trades); never re-signs.
        """
        return await self.account.resolve_unknown(order_id, self._requests.get(order_id))

    async def open_orders(self, *, market: str | None = None) -> Sequence[Order]:
        orders = await self.account.open_orders(market=market)
        return [
            dataclasses.replace(o, client_order_id=self._client_order_id(o.order_id))
            for o in orders
        ]

    async def trades(
        self, *, market: str | None = None, after: datetime | None = None
    ) -> Sequence[Fill]:
        return await self.account.trades(market=market, after=after)

    def fills(self) -> AsyncIterator[Fill]:
        return self.user.fills()

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self.user.order_updates()

    async def sync_fills(self) -> int:
        """Pull REST trades now and emit the fills the socket has not delivered."""
        return await self.user.sync()

    async def balance(self) -> Balance:
        cash = await self.account.collateral()
        reserved = sum(
            (o.price * o.remaining for o in await self.open_orders() if o.side is Side.BUY), ZERO
        )
        return Balance(cash=cash, reserved=reserved)

    async def positions(self) -> Sequence[Position]:
        return await self.account.positions()

    async def server_time(self) -> datetime:
        async def read() -> datetime:
            async with httpx.AsyncClient(base_url=self.endpoints.clob_url, timeout=5.0) as http:
                response = await http.get("/time")
                response.raise_for_status()
                seconds = json.loads(response.text)
            return datetime.fromtimestamp(float(seconds), self._clock.now().tzinfo)

        return await self.account.read(read, what="server time")

    async def heartbeat(self) -> None:
        """One order heartbeat (the app sends one every 5 s). The first accepted one arms the
        venue's dead-man switch: if they stop for ~10 s, the venue cancels all our orders."""
        async with self._heartbeat_lock:
            self._heartbeat_id = await self.account.heartbeat(self._heartbeat_id)

    # --- chain operations (trader.venue.chain.ChainOps, through the SDK: chain.py) ---------

    async def redeem(
        self, condition_id: str, *, neg_risk: bool, amounts: Mapping[str, Decimal]
    ) -> ChainTx:
        return await self.chain.redeem(condition_id, neg_risk=neg_risk, amounts=amounts)

    async def merge(self, condition_id: str, *, neg_risk: bool, amount: Decimal) -> ChainTx:
        return await self.chain.merge(condition_id, neg_risk=neg_risk, amount=amount)

    async def tx_status(self, tx_id: str) -> ChainTx:
        return await self.chain.tx_status(tx_id)

    # --- internals --------------------------------------------------------------------------

    def _signed_for(self, order: PreparedOrder) -> SignedOrder:
        signed = self._signed.get(order.order_id)
        if signed is None:  # prepared by an earlier process: the stored payload is the order
            signed = signed_from_json(order.payload)
            self._signed[order.order_id] = signed
            self._requests[order.order_id] = order.request
        return signed

    def _client_order_id(self, order_id: str) -> str | None:
        request = self._requests.get(order_id)
        return request.client_order_id if request else None

    def _result(self, order: PreparedOrder, response: OrderResponse) -> SubmitResult:
        if isinstance(response, AcceptedOrder):
            status = normalize_insert_status(response.status)
            if response.order_id.lower() != order.order_id.lower():
                log.error(
                    "venue order id %s differs from our hash %s", response.order_id, order.order_id
                )
                return SubmitResult(
                    str(response.order_id),
                    status,
                    error_code="order_id_mismatch",
                    message=f"the venue knows this order as {response.order_id}",
                )
            return SubmitResult(order.order_id, status)
        code = venue_code(response.message, response.code)
        if code in KILLED:
            return SubmitResult(
                order.order_id, OrderStatus.CANCELED, error_code=code, message=response.message
            )
        if code == "post_only_mode":
            raise PostOnlyMode(response.message)
        raise OrderRejected(response.message, code=code)

    async def _trades_after(self, after: datetime | None) -> Sequence[Fill]:
        return await self.account.trades(market=None, after=after)


def _cancel_result(response: CancelOrdersResponse) -> CancelResult:
    return CancelResult(
        canceled=tuple(str(i) for i in response.canceled),
        not_canceled={str(k): v for k, v in response.not_canceled.items()},
    )
