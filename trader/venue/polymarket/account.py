"""Our account on Polymarket through the SDK's `AsyncSecureClient`: keys, orders, trades, money.

`WalletConfig` holds the private key; it never appears in a repr, a log line or an exception
message (errors from client creation are redacted before they are raised, and chained from
nothing so a traceback cannot carry the SDK's own message either).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Literal, TypeVar

from eth_account import Account
from polymarket import AsyncSecureClient, Environment, OrderHeartbeatMismatchError, SignedOrder
from polymarket.errors import RequestRejectedError, UnexpectedResponseError

from trader.clock import Clock
from trader.domain import (
    ZERO,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
)
from trader.logs import REDACTOR
from trader.venue.base import VenueError
from trader.venue.parsing.rest import AccountIdentity
from trader.venue.polymarket import wallet as wallet_setup
from trader.venue.polymarket.convert import (
    COLLATERAL_SCALE,
    fills_from_sdk,
    order_from_sdk,
    position_from_sdk,
)
from trader.venue.polymarket.errors import map_read_error, retry_read

log = logging.getLogger(__name__)
T = TypeVar("T")

CENT = Decimal("0.01")
WALLET_TYPES = {0: "EOA", 1: "POLY_PROXY", 2: "GNOSIS_SAFE", 3: "DEPOSIT_WALLET"}


@dataclass(frozen=True, slots=True)
class WalletConfig:
    """Signature type 0: the key's own address trades (EOA). 1 (Polymarket proxy) and 2 (Gnosis
    Safe) need `funder`, the wallet holding the funds. 3: a deposit wallet (`funder`, or the
    SDK's default one for this key). The relayer key deploys a deposit wallet and sends its
    transactions (`trader setup`, redemptions)."""

    private_key: str = field(repr=False)
    signature_type: int = 0
    funder: str | None = None
    relayer_api_key: str | None = field(default=None, repr=False)
    relayer_api_key_address: str | None = None

    def signer(self) -> str:
        try:
            return str(Account.from_key(self.private_key).address)
        except Exception:
            raise VenueError("the private key is not a valid key", code="config") from None

    def wallet(self) -> str | None:
        """The wallet the SDK should act for (None: the SDK's default deposit wallet)."""
        if self.signature_type not in WALLET_TYPES:
            raise VenueError(f"unknown signature type {self.signature_type}", code="config")
        if self.signature_type == 0:
            signer = self.signer()
            if self.funder and self.funder.lower() != signer.lower():
                raise VenueError(
                    "signature type 0 trades from the key's own address; a separate funder "
                    "needs signature type 1, 2 or 3",
                    code="config",
                )
            return signer
        if self.signature_type in (1, 2) and not self.funder:
            raise VenueError(
                f"signature type {self.signature_type} needs the funder address", code="config"
            )
        return self.funder


def redact(text: str, *secrets: str) -> str:
    for secret in secrets:
        for form in sorted({secret, secret.removeprefix("0x")}, key=len, reverse=True):
            if len(form) >= 8:
                text = text.replace(form, "<redacted>")
    return text


class PolymarketAccount:
    def __init__(
        self,
        wallet: WalletConfig,
        *,
        environment: Environment,
        clock: Clock,
        read_attempts: int = 3,
        read_backoff: float = 0.5,
    ) -> None:
        self._wallet = wallet
        self._environment = environment
        self._clock = clock
        self._read_attempts = read_attempts
        self._read_backoff = read_backoff
        self._client: AsyncSecureClient | None = None
        self._identity = AccountIdentity()

    # --- connection -------------------------------------------------------------------------

    async def connect(self) -> AsyncSecureClient:
        """Create the SDK client: derives (or creates) the L2 API key from the private key.
        A wallet that is not deployed, or not the configured kind of this key's wallet, is
        refused (`WalletNotReady`, naming the setting or `trader setup`), never deployed here."""
        if self._client is not None:
            return self._client
        client = await self.open()
        try:
            mismatch = wallet_setup.wallet_problem(client, self._wallet.signature_type)
            if mismatch is not None:
                raise mismatch
            if not await self.read(lambda: wallet_setup.is_deployed(client), what="deployed"):
                raise wallet_setup.not_deployed(client)
        except BaseException:
            await client.close()
            raise
        self._client = client
        credentials = client.credentials  # derived, so no setting registered them
        REDACTOR.register(credentials.secret, credentials.passphrase)
        self._identity = AccountIdentity.of(
            client.credentials.key, str(client.wallet), str(client.signer)
        )
        log.info("polymarket account %s (%s) connected", client.wallet, client.wallet_type)
        return client

    async def open(self) -> AsyncSecureClient:
        """A new SDK client for this wallet, nothing checked (`connect` and `trader setup`)."""
        wallet = self._wallet.wallet()
        api_key = wallet_setup.relayer_key(
            self._wallet.relayer_api_key, self._wallet.relayer_api_key_address
        )
        try:
            return await wallet_setup.open_client(
                private_key=self._wallet.private_key,
                wallet=wallet,
                environment=self._environment,
                api_key=api_key,
            )
        except Exception as error:
            secrets = (self._wallet.private_key, self._wallet.relayer_api_key or "")
            message = redact(f"{type(error).__name__}: {error}", *secrets)
            raise VenueError(f"could not open the Polymarket account: {message}") from None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    @property
    def client(self) -> AsyncSecureClient:
        if self._client is None:
            raise RuntimeError("the Polymarket account is not connected (await start())")
        return self._client

    @property
    def identity(self) -> AccountIdentity:
        return self._identity

    def user_subscribe_frame(self) -> str:
        """The user-channel subscription: carries the API secret. Send it; never log it."""
        credentials = self.client.credentials
        auth = {
            "apiKey": credentials.key,
            "secret": credentials.secret,
            "passphrase": credentials.passphrase,
        }
        return json.dumps({"type": "user", "auth": auth})

    async def sign(self, request: OrderRequest) -> SignedOrder:
        """Sign a rounded order without sending it. GTC/GTD: a limit order. FOK/FAK: the SDK's
        protected market order, whose amounts follow the venue's rules for immediate orders
        (BUY spends `amount`, or price * size, rounded down to cents, capped at `price`;
        SELL sells `size` shares at no less than `price`)."""
        side: Literal["BUY", "SELL"] = "BUY" if request.side is Side.BUY else "SELL"
        if request.order_type in (OrderType.GTC, OrderType.GTD):
            expiration = (
                int(request.expiration.timestamp())
                if request.order_type is OrderType.GTD and request.expiration
                else None
            )
            return await self.client.create_limit_order(
                token_id=request.token_id,
                price=request.price,
                size=request.size,
                side=side,
                post_only=request.post_only,
                expiration=expiration,
            )
        kind: Literal["FOK", "FAK"] = "FOK" if request.order_type is OrderType.FOK else "FAK"
        if request.side is Side.BUY:
            planned = request.amount if request.amount is not None else request.price * request.size
            spend = planned.quantize(CENT, rounding=ROUND_DOWN)
            return await self.client.create_market_order(
                token_id=request.token_id,
                side="BUY",
                amount=spend,
                max_price=request.price,
                order_type=kind,
            )
        return await self.client.create_market_order(
            token_id=request.token_id,
            side="SELL",
            shares=request.size,
            min_price=request.price,
            order_type=kind,
        )

    async def read(self, call: Callable[[], Awaitable[T]], *, what: str) -> T:
        return await retry_read(
            call,
            clock=self._clock,
            what=what,
            attempts=self._read_attempts,
            base_delay=self._read_backoff,
        )

    # --- orders and trades ------------------------------------------------------------------

    async def get_order(self, order_id: str, *, client_order_id: str | None = None) -> Order | None:
        """The order, or None when the venue does not know it (404, or an empty answer)."""

        async def fetch() -> Order | None:
            try:
                raw = await self.client.get_order(order_id=order_id)
            except RequestRejectedError as error:
                if error.status == 404:
                    return None
                raise
            except UnexpectedResponseError:
                return None  # the venue may answer an empty body once an order is done
            return order_from_sdk(raw, client_order_id=client_order_id)

        return await self.read(fetch, what=f"order {order_id[:12]}")

    async def open_orders(
        self, *, market: str | None = None, order_id: str | None = None
    ) -> list[Order]:
        async def fetch() -> list[Order]:
            pages = self.client.list_open_orders(market=market, id=order_id)
            return [order_from_sdk(item) async for item in pages.iter_items()]

        return await self.read(fetch, what="open orders")

    async def trades(
        self, *, market: str | None = None, after: datetime | None = None
    ) -> list[Fill]:
        """Our fills in our trades (filtered by market, not asset: cross-asset maker fills)."""
        since = str(int(after.timestamp())) if after is not None else None

        async def fetch() -> list[Fill]:
            pages = self.client.list_account_trades(market=market, after=since)
            fills: list[Fill] = []
            async for trade in pages.iter_items():
                fills.extend(fills_from_sdk(trade, self._identity))
            return fills

        return await self.read(fetch, what="trades")

    async def resolve_unknown(self, order_id: str, request: OrderRequest | None) -> Order | None:
        """Find an order whose submit outcome was lost: by hash, in open orders, in our trades."""
        client_order_id = request.client_order_id if request else None
        found = await self.get_order(order_id, client_order_id=client_order_id)
        if found is not None:
            return found
        listed = await self.open_orders(order_id=order_id)
        if listed:
            return listed[0]
        market = request.market if request and request.market else None
        fills = [f for f in await self.trades(market=market) if f.order_id == order_id]
        if not fills:
            return None
        return _order_from_fills(order_id, fills, request)

    # --- money ------------------------------------------------------------------------------

    async def collateral(self) -> Decimal:
        async def fetch() -> Decimal:
            answer = await self.client.get_balance_allowance(asset_type="COLLATERAL")
            return Decimal(answer.balance) / COLLATERAL_SCALE

        return await self.read(fetch, what="balance")

    async def positions(self) -> list[Position]:
        async def fetch() -> list[Position]:
            pages = self.client.list_positions(user=str(self.client.wallet))
            return [position_from_sdk(p) async for p in pages.iter_items()]

        return [p for p in await self.read(fetch, what="positions") if p.size != ZERO]

    async def heartbeat(self, last_id: str) -> str:
        """Send one order heartbeat; returns the id to send next. A stale id is retried once
        with the id the venue expects."""
        try:
            try:
                return (await self.client.send_order_heartbeat(heartbeat_id=last_id)).heartbeat_id
            except OrderHeartbeatMismatchError as mismatch:
                expected = mismatch.heartbeat_id
                return (await self.client.send_order_heartbeat(heartbeat_id=expected)).heartbeat_id
        except Exception as error:
            raise map_read_error(error) from error


def _order_from_fills(order_id: str, fills: Sequence[Fill], request: OrderRequest | None) -> Order:
    """An order the venue no longer lists but that traded: filled, or done with a part."""
    matched = sum((f.size for f in fills), ZERO)
    first = min(fills, key=lambda f: f.timestamp)
    size = request.size if request else matched
    return Order(
        order_id=order_id,
        token_id=first.token_id,
        side=first.side,
        price=request.price if request else first.price,
        original_size=size,
        size_matched=matched,
        status=OrderStatus.MATCHED if matched >= size else OrderStatus.CANCELED,
        created_at=first.timestamp,
        market=first.market,
        order_type=request.order_type if request else OrderType.GTC,
        client_order_id=request.client_order_id if request else None,
    )
