"""Issue #16 item 4: positions are valued at what selling them would realise, not the mid.

The example throughout: 100 YES bought at 0.50 with $1000 cash; the book bids 60 @ 0.48 and
100 @ 0.40 and asks 0.52. The mid would value the position at 100 x 0.50 = $50.00; selling it
into the bids realises 60 x 0.48 + 40 x 0.40 = $44.80, less the taker fee the sale would pay.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from trader.clock import FakeClock
from trader.domain import NO_FEES, Book, BookLevel, DrawdownMode, FeeSchedule, Fill, Side
from trader.execution.portfolio import Portfolio
from trader.execution.risk import drawdown_mode
from trader.limits import RiskLimits

START = datetime(2026, 3, 1, 12, tzinfo=UTC)
D = Decimal
ASKS = (BookLevel(D("0.52"), D(100)),)
BIDS = (BookLevel(D("0.48"), D(60)), BookLevel(D("0.40"), D(100)))


def bought(fees: FeeSchedule = NO_FEES, size: str = "100") -> Portfolio:
    book = Portfolio(FakeClock(START), zone=ZoneInfo("UTC"), fees=lambda market: fees)
    book.load(cash=D(1000), positions=())
    book.apply_fill(Fill("t1", "o1", "yes", Side.BUY, D("0.50"), D(size), D(0), START, market="m"))
    return book


def test_the_position_is_worth_its_bids_walked_for_its_size_not_the_mid() -> None:
    book = bought()

    book.mark_book(Book("yes", BIDS, ASKS, START, market="m"))
    summary = book.summary()

    assert book.mark_price("yes") == D("0.50")  # the mid, for display
    assert summary.positions_value == D("44.80")  # 60 x 0.48 + 40 x 0.40
    assert summary.unrealized == D("-5.20")
    assert summary.equity == D("994.80")  # 950 cash + 44.80
    assert summary.day_pnl == D("-5.20")
    assert book.exit_value("yes") == D("44.80")


def test_the_value_is_net_of_the_taker_fee_the_sale_would_pay() -> None:
    book = bought(FeeSchedule(rate=D("0.05")))

    book.mark_book(Book("yes", BIDS, ASKS, START, market="m"))

    # fees: 60 x 0.05 x 0.48 x 0.52 = 0.7488 and 40 x 0.05 x 0.40 x 0.60 = 0.48
    assert book.positions_value() == D("43.5712")
    assert book.unrealized() == D("-6.4288")


def test_shares_beyond_the_bids_depth_are_worth_nothing() -> None:
    book = bought(size="200")

    book.mark_book(Book("yes", BIDS, ASKS, START, market="m"))

    assert book.positions_value() == D("68.80")  # 60 x 0.48 + 100 x 0.40 + 40 x 0


def test_the_value_follows_the_size_held_after_a_partial_sale() -> None:
    book = bought()
    book.mark_book(Book("yes", BIDS, ASKS, START, market="m"))

    book.apply_fill(Fill("t2", "o2", "yes", Side.SELL, D("0.48"), D(50), D(0), START, market="m"))

    assert book.positions_value() == D("24.00")  # the 50 left go to the 0.48 bid


def test_no_bid_values_the_position_at_zero_and_the_limits_see_it() -> None:
    book = bought()
    limits = RiskLimits(daily_loss_limit=D(40), reduced_drawdown=D("0.04"))

    book.mark_book(Book("yes", (), ASKS, START, market="m"))
    snapshot = book.exposure_for("m", "yes")

    assert book.positions_value() == D(0)
    assert book.mark_price("yes") == D("0.50")  # the display mark stays the last price
    assert book.equity() == D(950)
    assert snapshot.day_pnl == D(-50)  # past the $40 daily loss limit
    assert snapshot.day_pnl <= -limits.daily_loss_limit
    assert snapshot.drawdown == D("0.05")  # 50 below the 1000 peak
    assert drawdown_mode(snapshot.drawdown, limits) is DrawdownMode.REDUCED


def test_a_later_book_with_bids_restores_the_value() -> None:
    book = bought()
    book.mark_book(Book("yes", (), ASKS, START, market="m"))

    book.mark_book(Book("yes", BIDS, ASKS, START, market="m"))

    assert book.positions_value() == D("44.80")
