from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trader.domain import OrderRequest, OrderType, Side
from trader.venue.base import OrderRefused
from trader.venue.rounding import is_marketable, round_order, round_price, round_size

TICKS = [Decimal("0.1"), Decimal("0.01"), Decimal("0.001"), Decimal("0.0001")]
NOW = datetime(2026, 5, 1, tzinfo=UTC)
REFUSAL_CODES = {"invalid_size", "below_min_size", "price_out_of_range", "below_min_notional"}

prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("0.9999"), places=6)
sizes = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(100000), places=4)


def request(
    side: Side = Side.BUY,
    price: str | Decimal = "0.5",
    size: str | Decimal = "10",
    **kwargs: object,
) -> OrderRequest:
    return OrderRequest(
        token_id="tok",
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        client_order_id="c1",
        **kwargs,  # type: ignore[arg-type]
    )


@given(price=prices, tick=st.sampled_from(TICKS))
def test_round_price_buy_never_above_limit_and_on_grid(price: Decimal, tick: Decimal) -> None:
    rounded = round_price(price, tick, Side.BUY)

    assert rounded <= price
    assert price - rounded < tick
    assert rounded % tick == 0


@given(price=prices, tick=st.sampled_from(TICKS))
def test_round_price_sell_never_below_limit_and_on_grid(price: Decimal, tick: Decimal) -> None:
    rounded = round_price(price, tick, Side.SELL)

    assert rounded >= price
    assert rounded - price < tick
    assert rounded % tick == 0


@given(size=sizes)
def test_round_size_rounds_down_to_two_decimals(size: Decimal) -> None:
    rounded = round_size(size)

    assert rounded <= size
    assert size - rounded < Decimal("0.01")
    assert rounded == rounded.quantize(Decimal("0.01"))


@given(
    side=st.sampled_from(list(Side)),
    price=prices,
    size=sizes,
    tick=st.sampled_from(TICKS),
    best_ask=st.none() | prices,
)
def test_round_order_either_refuses_or_returns_a_valid_order(
    side: Side, price: Decimal, size: Decimal, tick: Decimal, best_ask: Decimal | None
) -> None:
    original = request(side, price, size)
    refusal: OrderRefused | None = None

    try:
        rounded = round_order(
            original, tick_size=tick, min_order_size=Decimal(5), best_ask=best_ask
        )
    except OrderRefused as refused:
        refusal = refused
    if refusal is not None:
        assert refusal.code in REFUSAL_CODES
        return

    assert tick <= rounded.price <= 1 - tick
    assert Decimal(5) <= rounded.size <= size
    if side is Side.BUY:
        assert rounded.price <= price
    else:
        assert rounded.price >= price
    if side is Side.BUY and best_ask is not None and rounded.price >= best_ask:
        assert rounded.price * rounded.size >= 1


def test_round_order_keeps_the_request_identity() -> None:
    original = request(Side.SELL, "0.5031", "12.349", market="0xabc")

    rounded = round_order(original, tick_size=Decimal("0.01"), min_order_size=Decimal(5))

    assert rounded.price == Decimal("0.51")
    assert rounded.size == Decimal("12.34")
    assert (rounded.client_order_id, rounded.token_id, rounded.market) == ("c1", "tok", "0xabc")


def test_round_order_below_min_size_is_refused_with_a_reason() -> None:
    with pytest.raises(OrderRefused, match="below the market's minimum order size 5") as info:
        round_order(request(size="4.999"), tick_size=Decimal("0.01"), min_order_size=Decimal(5))

    assert info.value.code == "below_min_size"


@pytest.mark.parametrize(
    ("side", "price"), [(Side.BUY, "0.0099"), (Side.SELL, "0.9901"), (Side.BUY, "1.2")]
)
def test_round_order_price_outside_tick_range_is_refused(side: Side, price: str) -> None:
    with pytest.raises(OrderRefused) as info:
        round_order(request(side, price), tick_size=Decimal("0.01"), min_order_size=Decimal(5))

    assert info.value.code == "price_out_of_range"


def test_round_order_marketable_buy_below_one_dollar_is_refused() -> None:
    small = request(price="0.10", size="5", order_type=OrderType.FOK)

    with pytest.raises(OrderRefused, match="below the venue's 1 minimum") as info:
        round_order(small, tick_size=Decimal("0.01"), min_order_size=Decimal(5))

    assert info.value.code == "below_min_notional"


def test_round_order_resting_buy_below_one_dollar_is_allowed() -> None:
    resting = request(price="0.10", size="5")

    rounded = round_order(
        resting, tick_size=Decimal("0.01"), min_order_size=Decimal(5), best_ask=Decimal("0.12")
    )

    assert rounded.price * rounded.size == Decimal("0.50")


def test_round_order_crossing_gtc_buy_counts_as_marketable() -> None:
    crossing = request(price="0.15", size="5")

    with pytest.raises(OrderRefused):
        round_order(
            crossing, tick_size=Decimal("0.01"), min_order_size=Decimal(5), best_ask=Decimal("0.12")
        )


def test_is_marketable_post_only_never_takes() -> None:
    assert not is_marketable(request(price="0.9", post_only=True), best_ask=Decimal("0.5"))
    assert is_marketable(request(Side.SELL, price="0.4"), best_bid=Decimal("0.5"))
    assert not is_marketable(request(Side.SELL, price="0.6"), best_bid=Decimal("0.5"))


def test_round_order_gtd_needs_an_expiration_three_minutes_ahead() -> None:
    soon = request(order_type=OrderType.GTD, expiration=NOW + timedelta(seconds=60))
    later = request(order_type=OrderType.GTD, expiration=NOW + timedelta(minutes=10))
    missing = request(order_type=OrderType.GTD)

    for bad in (soon, missing):
        with pytest.raises(OrderRefused) as info:
            round_order(bad, tick_size=Decimal("0.01"), min_order_size=Decimal(5), now=NOW)
        assert info.value.code == "invalid_expiration"
    assert round_order(later, tick_size=Decimal("0.01"), min_order_size=Decimal(5), now=NOW)


def test_round_order_post_only_fok_is_refused() -> None:
    bad = request(order_type=OrderType.FOK, post_only=True)

    with pytest.raises(OrderRefused, match="post-only"):
        round_order(bad, tick_size=Decimal("0.01"), min_order_size=Decimal(5))


@pytest.mark.parametrize("tick", [Decimal(0), Decimal(-1), Decimal(1), Decimal("NaN")])
def test_round_price_unusable_tick_is_refused(tick: Decimal) -> None:
    with pytest.raises(OrderRefused, match="tick size"):
        round_price(Decimal("0.5"), tick, Side.BUY)


def test_round_size_refuses_non_finite() -> None:
    with pytest.raises(OrderRefused):
        round_size(Decimal("Infinity"))
