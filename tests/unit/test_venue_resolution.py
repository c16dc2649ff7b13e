"""Market resolution at the venue layer: the payout vector read from Gamma's payloads, and the paper
venue redeeming a resolved market the way the execution core settles it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from polymarket import Market as GammaMarket

from tests.support.corpus import fixture, needs_corpus
from tests.support.paper import MemoryJournal, levels, make_book, order
from trader.clock import FakeClock
from trader.domain import OrderStatus, OrderType, Position, Side
from trader.execution import ledger as execution_ledger
from trader.venue.base import VenueError
from trader.venue.chain import ChainTxState
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.ledger import SETTLEMENT_LIQUIDITY, SETTLEMENT_ORDER_ID, ChainRecord
from trader.venue.paper.venue import PaperVenue
from trader.venue.polymarket.market_data import PolymarketMarketData
from trader.venue.polymarket.resolution import payouts_from_gamma

YES, NO = "tok-yes", "tok-no"
MARKET = "0xm"  # the market `order()` and `make_book()` use
YES_WINS = {YES: Decimal(1), NO: Decimal(0)}
NO_WINS = {YES: Decimal(0), NO: Decimal(1)}
SPLIT = {YES: Decimal("0.5"), NO: Decimal("0.5")}


def vector(tokens: list[str | None], prices: tuple[str, str]) -> dict[str | None, Decimal]:
    return dict(zip(tokens, map(Decimal, prices), strict=True))


def gamma(name: str) -> GammaMarket:
    return GammaMarket.parse_response(fixture(name))


@pytest.mark.parametrize(
    ("name", "payouts"),
    [
        ("rs_gamma_market_closed_binary_accepting_false.json", ("0", "1")),  # status resolved
        ("rs_gamma_market_closed_binary_accepting_true.json", ("1", "0")),  # no status stated
        ("rs_gamma_market_closed_zero_zero_legacy.json", None),  # closed, no payouts shown
        ("rs_gamma_market_closed_nonbinary_legacy.json", None),  # closed at trading prices
        ("rs_gamma_market.json", None),  # open
    ],
)
@needs_corpus
def test_payouts_from_gamma_are_a_closed_markets_outcome_prices(
    name: str, payouts: tuple[str, str] | None
) -> None:
    market = gamma(name)
    tokens = [market.outcomes.yes.token_id, market.outcomes.no.token_id]

    found = payouts_from_gamma(market)

    assert found == (None if payouts is None else vector(tokens, payouts))


@pytest.mark.parametrize(
    ("prices", "status", "expected"),
    [
        (["0.5", "0.5"], "resolved", ("0.5", "0.5")),  # a 50/50: half a dollar each side
        (["0.5", "0.5"], None, ("0.5", "0.5")),
        (["1", "0"], "proposed", None),  # the oracle has not answered yet
        (["1", "0"], "disputed", None),
        (["0.5", "0.4"], "resolved", None),  # not a payout vector
    ],
)
@needs_corpus
def test_a_50_50_resolution_pays_half_each_side_once_the_oracle_resolved(
    prices: list[str], status: str | None, expected: tuple[str, str] | None
) -> None:
    raw = dict(fixture("rs_gamma_market_closed_binary_accepting_false.json"))
    raw["outcomePrices"] = json.dumps(prices)
    raw["umaResolutionStatus"] = status or ""
    market = GammaMarket.parse_response(raw)
    tokens = [market.outcomes.yes.token_id, market.outcomes.no.token_id]

    found = payouts_from_gamma(market)

    assert found == (None if expected is None else vector(tokens, expected))


def test_paper_settlement_fills_look_like_the_execution_cores() -> None:
    position = Position(token_id=YES, size=Decimal(3), average_price=Decimal("0.4"), market="m")
    theirs = execution_ledger.settlement_fill(position, Decimal(1), FakeClock().now())

    assert (SETTLEMENT_ORDER_ID, SETTLEMENT_LIQUIDITY) == (
        execution_ledger.SETTLEMENT_ORDER_ID,
        execution_ledger.SETTLEMENT_LIQUIDITY,
    )
    assert theirs.trade_id == f"settlement:m:{YES}"


class Paper:
    def __init__(self, journal: MemoryJournal | None = None) -> None:
        self.clock = FakeClock()
        self.data = StaticMarketData(self.clock)
        self.data.set_book(make_book(bids=levels(("0.40", "100")), asks=levels(("0.50", "100"))))
        self.data.set_book(
            make_book(bids=levels(("0.45", "100")), asks=levels(("0.55", "100")), token=NO)
        )
        self.journal = journal or MemoryJournal()
        self.venue = PaperVenue(
            self.data,
            bankroll=Decimal(1000),
            clock=self.clock,
            journal=self.journal,
        )

    async def place(self, side: Side, price: str, size: str, kind: OrderType, token: str = YES):  # type: ignore[no-untyped-def]
        prepared = await self.venue.prepare(order(side, price, size, kind, token=token))
        return await self.venue.submit(prepared)


@pytest.fixture
async def paper() -> AsyncIterator[Paper]:
    rig = Paper()
    await rig.venue.start()
    yield rig
    await rig.venue.close()


async def test_paper_reports_only_what_its_source_says_resolved(paper: Paper) -> None:
    assert await paper.venue.resolved_markets([MARKET, "0xother"]) == {}

    paper.data.resolve(MARKET, NO_WINS)

    assert await paper.venue.resolved_markets([MARKET, "0xother"]) == {MARKET: NO_WINS}


async def test_paper_ends_a_resolved_markets_orders_and_keeps_its_shares_until_redeemed(
    paper: Paper,
) -> None:
    await paper.place(Side.BUY, "0.50", "20", OrderType.FOK)  # 10.00 on Yes
    await paper.place(Side.BUY, "0.55", "10", OrderType.FOK, token=NO)  # 5.50 on No
    resting = await paper.place(Side.BUY, "0.30", "10", OrderType.GTC)
    trades_before = await paper.venue.trades()
    paper.data.resolve(MARKET, YES_WINS)

    await paper.venue.resolved_markets([MARKET])
    held = {p.token_id: p.size for p in await paper.venue.positions()}
    tx = await paper.venue.redeem(MARKET, neg_risk=False, amounts=held)
    again = await paper.venue.redeem(MARKET, neg_risk=False, amounts=held)  # nothing left

    assert held == {YES: Decimal(20), NO: Decimal(10)}  # resolution alone pays nothing
    assert tx.state is ChainTxState.CONFIRMED
    assert await paper.venue.tx_status(tx.tx_id) == tx
    assert again.state is ChainTxState.CONFIRMED
    assert await paper.venue.positions() == []
    balance = await paper.venue.balance()
    assert (balance.cash, balance.reserved) == (Decimal("1004.50"), Decimal(0))  # 1000 - 15.50 + 20
    ended = await paper.venue.get_order(resting.order_id)
    assert ended is not None
    assert ended.status is OrderStatus.CANCELED_MARKET_RESOLVED
    assert await paper.venue.trades() == trades_before  # a redemption is not a trade


async def test_paper_redeems_a_50_50_market_at_half_a_dollar_a_share_each_side(
    paper: Paper,
) -> None:
    await paper.place(Side.BUY, "0.50", "20", OrderType.FOK)  # 10.00 on Yes
    await paper.place(Side.BUY, "0.55", "10", OrderType.FOK, token=NO)  # 5.50 on No
    paper.data.resolve(MARKET, SPLIT)

    await paper.venue.redeem(MARKET, neg_risk=False, amounts={YES: Decimal(20), NO: Decimal(10)})

    assert await paper.venue.positions() == []
    balance = await paper.venue.balance()
    assert balance.cash == Decimal("999.50")  # 1000 - 15.50 + (20 + 10) x 0.5


async def test_paper_refuses_to_redeem_a_market_that_has_not_resolved(paper: Paper) -> None:
    await paper.place(Side.BUY, "0.50", "20", OrderType.FOK)

    with pytest.raises(VenueError, match="has not resolved"):
        await paper.venue.redeem(MARKET, neg_risk=False, amounts={YES: Decimal(20)})

    assert [p.size for p in await paper.venue.positions()] == [Decimal(20)]


async def test_paper_restarted_replays_what_it_redeemed_not_the_cores_settlements(
    paper: Paper,
) -> None:
    await paper.place(Side.BUY, "0.50", "20", OrderType.FOK)
    paper.data.resolve(MARKET, YES_WINS)
    tx = await paper.venue.redeem(MARKET, neg_risk=False, amounts={YES: Decimal(20)})
    # the execution core records its settlement of the market as a fill (in the database)
    held = Position(token_id=YES, size=Decimal(20), average_price=Decimal("0.5"), market=MARKET)
    settlement = execution_ledger.settlement_fill(held, Decimal(1), paper.clock.now())
    record = ChainRecord(
        tx.tx_id, "redeem", MARKET, paper.clock.now(), {YES: Decimal(20)}, {YES: Decimal(1)}
    )
    redeemed = Paper(MemoryJournal([*paper.journal.fills, settlement], [record]))
    settled_only = Paper(MemoryJournal([*paper.journal.fills, settlement]))
    await redeemed.venue.start()
    await settled_only.venue.start()

    assert await redeemed.venue.positions() == []
    assert await redeemed.venue.balance() == await paper.venue.balance()
    assert (await redeemed.venue.tx_status(tx.tx_id)).state is ChainTxState.CONFIRMED
    assert [p.size for p in await settled_only.venue.positions()] == [Decimal(20)]
    assert (await settled_only.venue.balance()).cash == Decimal(990)
    assert (await settled_only.venue.tx_status(tx.tx_id)).state is ChainTxState.UNKNOWN
    await redeemed.venue.close()
    await settled_only.venue.close()


async def test_paper_merges_a_pair_into_a_dollar_and_refuses_more_than_is_held(
    paper: Paper,
) -> None:
    await paper.place(Side.BUY, "0.50", "20", OrderType.FOK)  # 10.00 on Yes
    await paper.place(Side.BUY, "0.55", "10", OrderType.FOK, token=NO)  # 5.50 on No
    with pytest.raises(VenueError, match="needs 11"):
        await paper.venue.merge(MARKET, neg_risk=False, amount=Decimal(11))
    tx = await paper.venue.merge(MARKET, neg_risk=False, amount=Decimal(10))

    assert tx.state is ChainTxState.CONFIRMED
    assert {p.token_id: p.size for p in await paper.venue.positions()} == {YES: Decimal(10)}
    assert (await paper.venue.balance()).cash == Decimal("994.50")  # 1000 - 15.50 + 10


async def test_feed_age_is_none_without_a_socket(paper: Paper) -> None:
    idle = PolymarketMarketData(clock=FakeClock())

    assert paper.data.feed_age() is None
    assert paper.venue.feed_age() is None
    assert idle.feed_age() is None  # not started: no feed running
