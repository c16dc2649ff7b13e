"""Multi-outcome (neg-risk) events: coherent YES probabilities before sizing, and a per-event
exposure limit (issue 16, item 8)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from polysim.synthetic.signals import binary_books, make_market
from tests.unit.test_risk import BOOK, ROOMY, buy, context
from tests.unit.test_signals_strategies import edge_strategy, good_news
from trader.clock import FakeClock
from trader.domain import Fill, Side, TradingMode
from trader.execution.portfolio import Portfolio
from trader.execution.risk import RiskDenial, RiskEngine, RiskRule
from trader.limits import SettingError
from trader.signals.events import EventViews, coherent, coherent_yes
from trader.state import RiskLimits
from trader.venue.parsing.rest import parse_gamma_market

D = Decimal
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_three_outcomes_summing_to_1_20_are_scaled_to_sum_to_1() -> None:
    scaled = coherent({"a": D("0.50"), "b": D("0.40"), "c": D("0.30")})

    assert scaled["a"].quantize(D("0.0001")) == D("0.4167")  # 0.50 / 1.20
    assert scaled["b"].quantize(D("0.0001")) == D("0.3333")
    assert scaled["c"] == D("0.25")
    assert sum(scaled.values()).quantize(D("1e-20")) == D(1)


def test_outcomes_summing_to_at_most_1_are_left_alone() -> None:
    views = {"a": D("0.50"), "b": D("0.30"), "c": D("0.10")}

    assert coherent(views) == views
    assert coherent_yes("a", D("0.50"), {"b": D("0.30"), "c": D("0.10")}) == D("0.50")


def test_coherent_yes_ignores_the_market_itself_among_the_others() -> None:
    assert coherent_yes("a", D("0.60"), {"a": D("0.99"), "b": D("0.60")}) == D("0.5")


def test_event_views_prefer_the_model_to_the_price_and_know_only_the_event() -> None:
    a = dataclasses.replace(make_market("a", "A wins?", end_date=NOW), neg_risk=True, event_id="e")
    b = dataclasses.replace(a, condition_id="b")
    c = dataclasses.replace(a, condition_id="c")
    other = make_market("x", "Unrelated?", end_date=NOW)
    views = EventViews()
    views.know([a, b, c, other])
    views.priced("b", D("0.40"))
    views.priced("c", D("0.30"))
    views.forecast("c", D("0.20"))
    views.priced("x", D("0.90"))

    assert views.siblings("a") == {"b": D("0.40"), "c": D("0.20")}
    assert views.siblings("x") == {}


async def test_the_strategy_sizes_on_the_coherent_probability() -> None:
    market = dataclasses.replace(
        make_market("m1", "Will the Senate pass the bill?", end_date=NOW + timedelta(days=20)),
        neg_risk=True,
        event_id="senate",
    )
    books = binary_books(market, D("0.50"), NOW)  # YES ask 0.51
    alone = await edge_strategy().evaluate(
        market, books, D("0.50"), good_news(), bankroll=D(1000), now=NOW, mode=TradingMode.PAPER
    )
    assert alone.analysis is not None
    assert alone.analysis.forecast is not None
    q = alone.analysis.forecast.model_probability
    assert alone.group is not None
    assert alone.group.intents[0].token_id == market.tokens[0].token_id  # YES, alone

    others = {"m2": D("0.45"), "m3": D("0.25")}  # the event's other outcomes: 0.70
    # about coherence, not the error margin: NO's 0.0108 edge would be within the default 0.02
    coherent_run = await edge_strategy(error=Decimal(0)).evaluate(
        market,
        books,
        D("0.50"),
        good_news(),
        bankroll=D(1000),
        now=NOW,
        mode=TradingMode.PAPER,
        siblings=lambda: others,
    )

    assert q == D("0.6440")
    # 0.6440 + 0.70 = 1.344 > 1: YES scaled to 0.6440 / 1.344 = 0.4792, below the YES ask
    # 0.51, so the strategy no longer buys YES; NO (0.5208 against an ask of 0.51) it buys
    assert coherent_run.group is not None
    (intent,) = coherent_run.group.intents
    assert intent.token_id == market.tokens[1].token_id
    assert intent.model_probability == D("0.5208")
    assert "view 0.4792" in intent.reason


EVENT_MARKET = dataclasses.replace(context().market, neg_risk=True, event_id="election")  # type: ignore[arg-type]


def test_risk_denies_an_entry_beyond_the_event_exposure_limit() -> None:
    limits = RiskLimits(max_event_exposure=D(300))
    exposure = dataclasses.replace(ROOMY, event_exposure=D(295), market_exposure=D(20))

    decision = RiskEngine().check(
        buy(), context(limits=limits, exposure=exposure, market=EVENT_MARKET, book=BOOK)
    )

    assert isinstance(decision, RiskDenial)
    assert decision.rule is RiskRule.MAX_EVENT_EXPOSURE
    assert "305.00" in decision.message  # 295 + 20 shares at 0.50


def test_the_event_limit_leaves_markets_of_no_event_alone() -> None:
    limits = RiskLimits(max_event_exposure=D(300))
    exposure = dataclasses.replace(ROOMY, event_exposure=D(295))

    decision = RiskEngine().check(buy(), context(limits=limits, exposure=exposure))

    assert decision.approved


def test_the_portfolio_sums_exposure_over_the_events_markets() -> None:
    book = Portfolio(FakeClock(NOW), zone=ZoneInfo("UTC"))
    book.load(cash=D(1000), positions=())
    for market, token, size in (("a", "a-yes", "100"), ("b", "b-yes", "50"), ("x", "x-yes", "10")):
        fill = Fill(
            f"t-{market}", "o", token, Side.BUY, D("0.40"), D(size), D(0), NOW, market=market
        )
        book.apply_fill(fill)

    snapshot = book.exposure_for("a", "a-yes", ["a", "b"])

    assert snapshot.market_exposure == D(40)
    assert snapshot.event_exposure == D(60)  # 40 in a + 20 in b; x is no outcome of it
    assert snapshot.total_exposure == D(64)


def test_the_event_limit_is_a_setting_with_a_sane_range() -> None:
    limits = RiskLimits().with_value("max_event_exposure", "250")
    assert limits.max_event_exposure == D(250)
    with pytest.raises(SettingError, match="max_event_exposure"):
        RiskLimits().with_value("max_event_exposure", "0")


def test_gamma_names_a_neg_risk_markets_event() -> None:
    payload = {
        "conditionId": "0xabc",
        "question": "Will A win?",
        "outcomes": '["Yes", "No"]',
        "clobTokenIds": '["1", "2"]',
        "negRisk": True,
        "events": [{"id": "9001", "slug": "who-wins"}],
    }

    assert parse_gamma_market(payload).event_id == "9001"
    assert parse_gamma_market({**payload, "negRisk": False}).event_id == ""
