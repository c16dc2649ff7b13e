"""Pure functions from Polymarket REST payloads (plain dicts) to domain values.

No I/O and no SDK types: every function takes the JSON the venue sends (as `json.loads` gives it)
and returns `trader.domain` values, so it is tested against recorded fixtures. WebSocket messages
are in `trader.venue.parsing.stream`, built on the helpers here.

Wire facts handled here (see /work/shared/reference/polymarket.md):
- book levels arrive best-last (bids ascending, asks descending); the domain `Book` is best-first;
- order and trade statuses come bare (`LIVE`) or prefixed (`ORDER_STATUS_LIVE`);
- numbers come as strings, ints or floats; timestamps as epoch seconds, epoch milliseconds or ISO;
- Gamma encodes `outcomes`, `outcomePrices` and `clobTokenIds` as JSON strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from trader.domain import (
    NO_FEES,
    ONE,
    UNSTATED_FEES,
    ZERO,
    Book,
    BookLevel,
    FeeSchedule,
    Fill,
    Market,
    Order,
    OrderStatus,
    OrderType,
    OutcomeToken,
    Side,
    TradeStatus,
)
from trader.fees import schedule_from_bps, taker_fee
from trader.venue.parsing.values import (
    ParseError,
    Payload,
    as_payloads,
    json_list,
    optional_decimal,
    parse_side,
    parse_timestamp,
    require_timestamp,
    to_decimal,
)

_INSERT_STATUSES = {
    "LIVE": OrderStatus.LIVE,
    "MATCHED": OrderStatus.MATCHED,
    "DELAYED": OrderStatus.SUBMITTED,  # accepted, matching deferred: still open, outcome pending
    "UNMATCHED": OrderStatus.CANCELED,  # an immediate order that found nothing to match
}


# --- statuses ------------------------------------------------------------------------------


def normalize_order_status(raw: object) -> OrderStatus:
    """`LIVE`, `ORDER_STATUS_LIVE`, `live`, and `CANCELED_<reason>` (FOK kills) alike."""
    text = str(raw or "").strip().upper()
    text = text.removeprefix("ORDER_STATUS_")
    if text in OrderStatus.__members__:
        return OrderStatus[text]
    if text in _INSERT_STATUSES:
        return _INSERT_STATUSES[text]
    if text.startswith(("CANCELED", "CANCELLED")):
        return OrderStatus.CANCELED
    raise ParseError(f"unknown order status {raw!r}")


def normalize_insert_status(raw: object) -> OrderStatus:
    """The `status` of a POST /order answer: live | matched | delayed | unmatched."""
    return normalize_order_status(raw)


def normalize_trade_status(raw: object) -> TradeStatus:
    """`CONFIRMED` or `TRADE_STATUS_CONFIRMED`; `MATCHED_NOT_BROADCASTED` is still matched."""
    text = str(raw or "").strip().upper().removeprefix("TRADE_STATUS_")
    if text == "MATCHED_NOT_BROADCASTED":
        return TradeStatus.MATCHED
    if text in TradeStatus.__members__:
        return TradeStatus[text]
    raise ParseError(f"unknown trade status {raw!r}")


def parse_order_type(raw: object) -> OrderType:
    text = str(raw or "").strip().upper()
    return OrderType[text] if text in OrderType.__members__ else OrderType.GTC


# --- books ---------------------------------------------------------------------------------


def parse_levels(levels: object, *, best_first_descending: bool) -> tuple[BookLevel, ...]:
    """Levels sorted best-first (descending for bids), zero sizes dropped, any wire order."""
    if levels is None:
        return ()
    if not isinstance(levels, list):
        raise ParseError(f"book levels must be a list, got {type(levels).__name__}")
    parsed = []
    for level in levels:
        if not isinstance(level, Mapping):
            raise ParseError("a book level must be an object with price and size")
        size = to_decimal(level.get("size"), "level size")
        if size > ZERO:
            parsed.append(BookLevel(to_decimal(level.get("price"), "level price"), size))
    parsed.sort(key=lambda lvl: lvl.price, reverse=best_first_descending)
    return tuple(parsed)


def parse_book(
    payload: Payload,
    *,
    tick_size: Decimal | None = None,
    min_order_size: Decimal | None = None,
    received_at: datetime | None = None,
) -> Book:
    """A REST `/book` answer or a WebSocket `book` message (`bids`/`asks`, or `buys`/`sells`)."""
    token_id = str(payload.get("asset_id") or payload.get("token_id") or "")
    if not token_id:
        raise ParseError("book has no asset_id")
    timestamp = parse_timestamp(payload.get("timestamp")) or received_at
    if timestamp is None:
        raise ParseError("book has no timestamp")
    bids = payload["bids"] if "bids" in payload else payload.get("buys")
    asks = payload["asks"] if "asks" in payload else payload.get("sells")
    return Book(
        token_id=token_id,
        bids=parse_levels(bids, best_first_descending=True),
        asks=parse_levels(asks, best_first_descending=False),
        timestamp=timestamp,
        tick_size=optional_decimal(payload.get("tick_size"), "tick_size")
        or tick_size
        or Decimal("0.01"),
        min_order_size=optional_decimal(payload.get("min_order_size"), "min_order_size")
        or min_order_size
        or Decimal(5),
        market=str(payload.get("market") or ""),
        hash=str(payload.get("hash") or ""),
    )


# --- orders --------------------------------------------------------------------------------


def parse_order(payload: Payload, *, client_order_id: str | None = None) -> Order:
    """A REST open order (`/data/order`, `/data/orders`) or a user-channel `order` message."""
    order_id = str(payload.get("id") or payload.get("order_id") or "")
    if not order_id:
        raise ParseError("order has no id")
    return Order(
        order_id=order_id,
        token_id=str(payload.get("asset_id") or payload.get("token_id") or ""),
        side=parse_side(payload.get("side")),
        price=to_decimal(payload.get("price"), "price"),
        original_size=to_decimal(payload.get("original_size"), "original_size"),
        size_matched=to_decimal(payload.get("size_matched"), "size_matched", default=ZERO),
        status=normalize_order_status(payload.get("status")),
        created_at=require_timestamp(payload, "created_at", "timestamp"),
        market=str(payload.get("market") or ""),
        order_type=parse_order_type(payload.get("order_type")),
        client_order_id=client_order_id,
        outcome=str(payload.get("outcome") or ""),
    )


def parse_orders_page(payload: object) -> tuple[list[Order], str | None]:
    """A `/data/orders` page: the orders and the next cursor (None on the last page)."""
    if isinstance(payload, list):
        return [parse_order(item) for item in payload], None
    if not isinstance(payload, Mapping):
        raise ParseError("orders page must be an object or a list")
    orders = [parse_order(item) for item in payload.get("data") or []]
    cursor = payload.get("next_cursor")
    return orders, None if cursor in (None, "", "LTE=") else str(cursor)


# --- trades and fills ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountIdentity:
    """Who "we" are in a trade: our API key (order `owner`) and our wallet addresses."""

    api_key: str | None = None
    addresses: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, api_key: str | None, *addresses: str | None) -> AccountIdentity:
        return cls(api_key, frozenset(a.lower() for a in addresses if a))

    def owns(self, maker_order: Payload) -> bool:
        owner = maker_order.get("owner")
        if self.api_key and owner == self.api_key:
            return True
        address = str(maker_order.get("maker_address") or "").lower()
        return bool(address) and address in self.addresses


def fee_for(price: Decimal, size: Decimal, fee_rate_bps: Decimal, exponent: int = 1) -> Decimal:
    """The fee a trade states by its `fee_rate_bps`, on the one fee curve (`trader.fees`):
    shares * rate * (p * (1 - p)) ** exponent; the exponent is per market (`fd.e` in
    `/clob-markets`) and 1 unless told otherwise. Symmetric in p and 1 - p, largest at 0.5."""
    return taker_fee(size, price, schedule_from_bps(fee_rate_bps, exponent))


def parse_trade(
    payload: Payload, identity: AccountIdentity, *, fee_exponent: int = 1
) -> tuple[Fill, ...]:
    """Our fills in one trade. REST `/data/trades` items and user-channel `trade` messages.

    One trade can fill several of our maker orders; each becomes its own `Fill` keyed by
    (trade id, order id). `trader_side` says whether we were the taker: then the fill is the
    taker order at the trade's side, price and size. Our maker orders are those whose owner is
    our API key or whose maker address is ours; a maker on the same token took the other side,
    a maker on the complementary token (a mint or merge match) took the same side.
    """
    trade_id = str(payload.get("id") or "")
    if not trade_id:
        raise ParseError("trade has no id")
    common = _TradeCommon(
        trade_id=trade_id,
        market=str(payload.get("market") or ""),
        status=normalize_trade_status(payload.get("status")),
        timestamp=require_timestamp(payload, "match_time", "timestamp", "last_update"),
        taker_side=parse_side(payload.get("side")),
        taker_token=str(payload.get("asset_id") or ""),
        fee_exponent=fee_exponent,
    )
    fills: list[Fill] = []
    if str(payload.get("trader_side") or "").upper() == "TAKER":
        fills.append(_taker_fill(payload, common))
    for maker in payload.get("maker_orders") or []:
        if isinstance(maker, Mapping) and identity.owns(maker):
            fills.append(_maker_fill(maker, common))
    return tuple(fills)


@dataclass(frozen=True, slots=True)
class _TradeCommon:
    trade_id: str
    market: str
    status: TradeStatus
    timestamp: datetime
    taker_side: Side
    taker_token: str
    fee_exponent: int


def _taker_fill(payload: Payload, common: _TradeCommon) -> Fill:
    price = to_decimal(payload.get("price"), "price")
    size = to_decimal(payload.get("size"), "size")
    rate = to_decimal(payload.get("fee_rate_bps"), "fee_rate_bps", default=ZERO)
    return Fill(
        trade_id=common.trade_id,
        order_id=str(payload.get("taker_order_id") or ""),
        token_id=common.taker_token,
        side=common.taker_side,
        price=price,
        size=size,
        fee=fee_for(price, size, rate, common.fee_exponent),
        timestamp=common.timestamp,
        market=common.market,
        status=common.status,
        liquidity="TAKER",
    )


def _maker_fill(maker: Payload, common: _TradeCommon) -> Fill:
    token = str(maker.get("asset_id") or common.taker_token)
    if maker.get("side"):
        side = parse_side(maker.get("side"))
    elif token == common.taker_token:
        side = common.taker_side.opposite
    else:
        side = common.taker_side
    price = to_decimal(maker.get("price"), "maker price")
    size = to_decimal(maker.get("matched_amount"), "matched_amount")
    rate = to_decimal(maker.get("fee_rate_bps"), "maker fee_rate_bps", default=ZERO)
    return Fill(
        trade_id=common.trade_id,
        order_id=str(maker.get("order_id") or ""),
        token_id=token,
        side=side,
        price=price,
        size=size,
        fee=fee_for(price, size, rate, common.fee_exponent),
        timestamp=common.timestamp,
        market=common.market,
        status=common.status,
        liquidity="MAKER",
    )


# --- markets -------------------------------------------------------------------------------


def parse_gamma_market(payload: Payload) -> Market:
    """A Gamma `/markets` item; outcomes and token ids may be JSON-encoded strings."""
    condition_id = str(payload.get("conditionId") or payload.get("condition_id") or "")
    if not condition_id:
        raise ParseError("market has no conditionId")
    outcomes = [str(o) for o in json_list(payload.get("outcomes"), "outcomes")]
    token_ids = [str(t) for t in json_list(payload.get("clobTokenIds"), "clobTokenIds")]
    if token_ids and len(token_ids) != len(outcomes):
        raise ParseError(f"{len(outcomes)} outcomes but {len(token_ids)} clobTokenIds")
    return Market(
        condition_id=condition_id,
        question=str(payload.get("question") or ""),
        tokens=tuple(OutcomeToken(t, o) for t, o in zip(token_ids, outcomes, strict=False)),
        end_date=parse_timestamp(payload.get("endDate") or payload.get("endDateIso"), "endDate"),
        active=_flag(payload, "active", default=True),
        closed=bool(payload.get("closed", False)),
        accepting_orders=_flag(payload, "acceptingOrders", default=True),
        tick_size=_first_decimal(payload, "orderPriceMinTickSize", default=Decimal("0.01")),
        min_order_size=_first_decimal(payload, "orderMinSize", default=Decimal(5)),
        neg_risk=bool(payload.get("negRisk", False)),
        event_id=_neg_risk_event(payload),
        volume=_first_decimal(payload, "volumeNum", "volume", default=ZERO),
        liquidity=_first_decimal(payload, "liquidityNum", "liquidity", default=ZERO),
        slug=str(payload.get("slug") or ""),
        description=str(payload.get("description") or ""),
        fees=parse_fee_schedule(payload),
        seconds_delay=parse_seconds_delay(payload.get("secondsDelay")),
    )


def parse_seconds_delay(value: object) -> int:
    """The venue's match delay in whole seconds (`secondsDelay` / `seconds_delay`); 0 when
    not stated."""
    if value is None or value == "":
        return 0
    delay = to_decimal(value, "seconds_delay")
    if delay < ZERO or delay != delay.to_integral_value():
        raise ParseError(f"seconds_delay {value!r} is not a whole number of seconds >= 0")
    return int(delay)


def _flag(payload: Payload, name: str, *, default: bool) -> bool:
    """A flag Gamma may leave out or send as null: the default then."""
    value = payload.get(name)
    return default if value is None else bool(value)


def _neg_risk_event(payload: Payload) -> str:
    """The id of the neg-risk event a Gamma market is one outcome of, or ""."""
    events = payload.get("events")
    if not payload.get("negRisk") or not isinstance(events, list) or not events:
        return ""
    first = events[0]
    return str(first.get("id") or "") if isinstance(first, dict) else ""


def parse_fee_schedule(payload: Payload) -> FeeSchedule:
    """Gamma's `feesEnabled` + `feeSchedule` ({rate, exponent, takerOnly, rebateRate}).
    `feesEnabled: false` is no fee; a schedule is its fee; anything else (fees enabled, or not
    said, with no schedule) is `UNSTATED_FEES`: no rate is guessed."""
    schedule = payload.get("feeSchedule")
    if payload.get("feesEnabled") is False:
        return NO_FEES
    if not isinstance(schedule, Mapping):
        return UNSTATED_FEES
    exponent = to_decimal(schedule.get("exponent"), "feeSchedule.exponent", default=ONE)
    if exponent != exponent.to_integral_value() or exponent < ONE:
        raise ParseError(f"feeSchedule.exponent {exponent} is not a whole number >= 1")
    return FeeSchedule(
        rate=to_decimal(schedule.get("rate"), "feeSchedule.rate", default=ZERO),
        exponent=int(exponent),
        taker_only=bool(schedule.get("takerOnly", True)),
        rebate_rate=to_decimal(schedule.get("rebateRate"), "feeSchedule.rebateRate", default=ZERO),
    )


def parse_clob_market(payload: Payload) -> Market:
    """A CLOB `/markets` item (snake_case, with a `tokens` list)."""
    condition_id = str(payload.get("condition_id") or "")
    if not condition_id:
        raise ParseError("market has no condition_id")
    tokens = tuple(
        OutcomeToken(str(t.get("token_id") or ""), str(t.get("outcome") or ""))
        for t in payload.get("tokens") or []
        if isinstance(t, Mapping) and t.get("token_id")
    )
    return Market(
        condition_id=condition_id,
        question=str(payload.get("question") or ""),
        tokens=tokens,
        end_date=parse_timestamp(payload.get("end_date_iso"), "end_date_iso"),
        active=bool(payload.get("active", True)),
        closed=bool(payload.get("closed", False)),
        accepting_orders=bool(payload.get("accepting_orders", True)),
        tick_size=_first_decimal(payload, "minimum_tick_size", default=Decimal("0.01")),
        min_order_size=_first_decimal(payload, "minimum_order_size", default=Decimal(5)),
        neg_risk=bool(payload.get("neg_risk", False)),
        slug=str(payload.get("market_slug") or ""),
        description=str(payload.get("description") or ""),
        # the CLOB's market states no fee schedule (`taker_base_fee` is not the rate charged)
        fees=UNSTATED_FEES,
        seconds_delay=parse_seconds_delay(payload.get("seconds_delay")),
    )


def _first_decimal(payload: Payload, *names: str, default: Decimal) -> Decimal:
    for name in names:
        value = optional_decimal(payload.get(name), name)
        if value is not None:
            return value
    return default


__all__ = [
    "AccountIdentity",
    "ParseError",
    "Payload",
    "as_payloads",
    "fee_for",
    "json_list",
    "normalize_insert_status",
    "normalize_order_status",
    "normalize_trade_status",
    "optional_decimal",
    "parse_book",
    "parse_clob_market",
    "parse_gamma_market",
    "parse_levels",
    "parse_order",
    "parse_order_type",
    "parse_orders_page",
    "parse_seconds_delay",
    "parse_side",
    "parse_timestamp",
    "parse_trade",
    "require_timestamp",
    "to_decimal",
]
