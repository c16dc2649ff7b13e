"""Deposits, withdrawals and redemptions are cash flows, not PnL (issue 16, item 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from trader.clock import FakeClock
from trader.domain import Book, BookLevel, DrawdownMode, Fill, Side
from trader.execution.accounts import _remembered_cash
from trader.execution.cash_flows import Redeemable, explain_cash_change, scale_peak
from trader.execution.portfolio import Portfolio
from trader.execution.risk import drawdown_mode
from trader.limits import RiskLimits
from trader.reports.metrics import EquitySeries

START = datetime(2026, 3, 1, 12, tzinfo=UTC)
D = Decimal
TOLERANCE = D("0.01")
CENT = D("0.01")


def portfolio(cash: str = "1000", clock: FakeClock | None = None) -> Portfolio:
    book = Portfolio(clock or FakeClock(START), zone=ZoneInfo("UTC"))
    book.load(cash=D(cash), positions=())
    return book


def buy(token: str, market: str, size: str, price: str, trade: str) -> Fill:
    return Fill(trade, "o", token, Side.BUY, D(price), D(size), D(0), START, market=market)


def bids(token: str, price: str) -> Book:
    return Book(token, (BookLevel(D(price), D(1000)),), (), START, market="m")


def test_a_300_withdrawal_is_not_a_loss_and_trips_neither_limit() -> None:
    book = portfolio("1000")
    book.observe()  # the day starts at 1000, the peak is 1000

    book.apply_cash_flow(D(-300))

    assert book.equity() == D(700)
    assert book.day_pnl() == D(0)
    assert book.drawdown() == D(0)
    assert book.peak_equity == D(700)
    limits = RiskLimits(daily_loss_limit=D(100))
    snapshot = book.exposure_for("m", "yes")
    assert snapshot.day_pnl > -limits.daily_loss_limit
    assert drawdown_mode(snapshot.drawdown, limits) is DrawdownMode.FULL


def test_a_withdrawal_in_a_drawdown_keeps_the_drawdown_time_weighted() -> None:
    book = portfolio("900")
    book.apply_fill(buy("yes", "m", "200", "0.50", "t1"))  # cash 800, 200 shares
    book.mark_book(bids("yes", "0.50"))
    book.observe()  # equity 900: the peak
    book.mark_book(bids("yes", "0.05"))  # the position is now worth 10: equity 810

    book.apply_cash_flow(D(-300))

    assert book.equity() == D(510)
    # (900 - 810) / 900, as before the withdrawal
    assert book.drawdown().quantize(D("1e-12")) == D("0.1")
    assert book.peak_equity == D(900) * D(510) / D(810)
    assert book.day_pnl() == D(-90)  # the loss is the position's, not the withdrawal's


def test_a_deposit_is_not_a_gain() -> None:
    book = portfolio("1000")
    book.observe()

    book.apply_cash_flow(D(500))

    assert book.equity() == D(1500)
    assert book.day_pnl() == D(0)
    assert book.peak_equity == D(1500)


def test_scale_peak_worked_example() -> None:
    assert scale_peak(D(1000), D(900), D(-300)) == D(1000) * D(600) / D(900)  # 666.67
    assert scale_peak(D(1000), D(1000), D(-300)) == D(700)
    assert scale_peak(D(0), D(0), D(250)) == D(250)  # first deposit


def test_partial_redemption_of_two_payouts_never_double_counts() -> None:
    book = portfolio("1000")
    book.apply_fill(buy("a-yes", "A", "100", "0.60", "ta"))  # 60
    book.apply_fill(buy("b-yes", "B", "80", "0.50", "tb"))  # 40
    assert book.cash == D(900)
    book.settle("A", {"a-yes": D(1)})
    book.settle("B", {"b-yes": D(1)})
    assert book.redeemable == {"A": D(100), "B": D(80)}
    assert book.equity() == D(1080)

    # the venue paid A's 100 out; it still holds B's 80 shares (redeemable)
    first = explain_cash_change(D(100), book.redeemables(), frozenset({"b-yes"}), TOLERANCE)
    assert first.redeemed == {"A": D(100)}
    assert first.flow == D(0)
    book.redeem("A")
    assert book.cash == D(1000)
    assert book.redeemable == {"B": D(80)}
    assert book.equity() == D(1080)  # unchanged: the payout was counted once

    # the next run: nothing changed at the venue, nothing is counted again
    again = explain_cash_change(D(0), book.redeemables(), frozenset({"b-yes"}), TOLERANCE)
    assert again.redeemed == {}
    assert again.flow == D(0)

    second = explain_cash_change(D(80), book.redeemables(), frozenset(), TOLERANCE)
    assert second.redeemed == {"B": D(80)}
    book.redeem("B")
    assert book.equity() == D(1080)
    assert book.redeemable == {}


def test_a_redemption_and_a_withdrawal_in_one_change_are_told_apart() -> None:
    redeemable = {"A": Redeemable(D(100), frozenset({"a-yes"})), "B": Redeemable(D(80))}

    explained = explain_cash_change(D(-200), redeemable, frozenset(), TOLERANCE)

    # A's tokens are gone (redeemed); B's tokens are unknown and -200 does not cover 80
    assert explained.redeemed == {"A": D(100)}
    assert explained.flow == D(-300)


def test_without_the_venues_positions_a_payout_is_matched_by_its_amount() -> None:
    redeemable = {"A": Redeemable(D(100)), "B": Redeemable(D(80))}

    explained = explain_cash_change(D(80), redeemable, None, TOLERANCE)

    assert explained.redeemed == {"B": D(80)}
    assert explained.flow == D(0)


def test_a_difference_within_the_tolerance_is_no_flow() -> None:
    assert explain_cash_change(D("0.004"), {}, frozenset(), TOLERANCE).flow == D(0)


def test_the_days_flows_survive_a_restart() -> None:
    clock = FakeClock(START)
    book = Portfolio(clock, zone=ZoneInfo("UTC"))
    # the day began at 1000; 300 was withdrawn today; cash is now 700
    book.load(cash=D(700), positions=(), day_start_equity=D(1000), day_flows=D(-300))

    assert book.day_pnl() == D(0)
    clock.advance(timedelta(days=1).total_seconds())
    book.observe()
    assert book.day_pnl() == D(0)


def test_the_reports_daily_pnl_and_curve_peak_are_net_of_a_withdrawal() -> None:
    zone = ZoneInfo("UTC")
    day1, day2 = START, START + timedelta(days=1)
    series = EquitySeries(zone, day1 - timedelta(hours=1), day2 + timedelta(hours=1))
    series.add(day1, D(1000), D(0))
    series.flow(day2, D(-300))
    series.add(day2, D(690), D("0.0142857142857142857142857143"))  # 10 lost after the flow

    pnl = dict(series.daily_pnl(day1.date()))

    assert pnl[day2.date()] == D(-10)  # 690 - 1000 + 300, not -310
    assert series.points()[-1].peak.quantize(CENT) == D(700)  # the peak scaled with the flow


def test_the_restart_cash_is_the_remembered_one_moved_by_the_fills_recorded_since() -> None:
    # remembered: cash 700 when the fills had moved it by -100; since then a 30 buy was recorded
    assert _remembered_cash({"cash": "700", "fills_cash": "-100"}, D(-130)) == D(670)
    assert _remembered_cash({}, D(-130)) is None  # first start: the venue's balance
    assert _remembered_cash({"cash": "NaN", "fills_cash": "0"}, D(0)) is None
    assert _remembered_cash({"cash": "x", "fills_cash": "0"}, D(0)) is None
