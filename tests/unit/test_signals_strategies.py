from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from polysim.synthetic.signals import binary_books, make_market
from trader.clock import FakeClock
from trader.domain import Book, BookLevel, FeeSchedule, OrderType, TradingMode
from trader.fees import fee_per_share, schedule_from_bps
from trader.signals.analysis import AnalysisService
from trader.signals.ensemble import EnsembleConfig
from trader.signals.heuristic import HeuristicModel
from trader.signals.pooling import PoolingConfig
from trader.signals.sizing import SizingConfig
from trader.signals.strategies import ArbConfig, CompleteSetArbStrategy, LLMEdgeStrategy
from trader.signals.triage import Triage, TriageConfig
from trader.signals.values import NewsItem, NewsMatch, Source, UnwindAction

NOW = datetime(2026, 3, 1, tzinfo=UTC)
MARKET = make_market("m1", "Will the Senate pass the bill?", end_date=NOW + timedelta(days=20))
YES, NO = (t.token_id for t in MARKET.tokens)


def asks(token: str, *levels: tuple[str, int]) -> Book:
    return Book(
        token,
        bids=(),
        asks=tuple(BookLevel(Decimal(p), Decimal(s)) for p, s in levels),
        timestamp=NOW,
    )


def test_arb_buys_both_sides_in_equal_size_when_the_set_is_cheap() -> None:
    books = {
        YES: asks(YES, ("0.45", 100), ("0.47", 100)),
        NO: asks(NO, ("0.50", 150), ("0.53", 100)),
    }
    decision = CompleteSetArbStrategy(
        ArbConfig(margin=Decimal("0.02"), max_notional=Decimal(1000))
    ).propose(MARKET, books, TradingMode.PAPER)
    group = decision.group
    assert group is not None
    yes_leg, no_leg = group.intents
    # pairs: 0.45+0.50 (100 sets), 0.47+0.50 (50 sets) keep the margin; 0.47+0.53 does not
    assert yes_leg.size == no_leg.size == Decimal(150)
    assert (yes_leg.limit_price, no_leg.limit_price) == (Decimal("0.47"), Decimal("0.50"))
    assert {yes_leg.token_id, no_leg.token_id} == {YES, NO}
    assert yes_leg.order_type is OrderType.FOK
    assert group.all_or_none
    assert group.unwind is UnwindAction.SELL_FILLED_LEGS
    assert decision.edge == Decimal("0.05")


def test_arb_skips_when_fees_and_margin_eat_the_gap() -> None:
    books = {YES: asks(YES, ("0.49", 100)), NO: asks(NO, ("0.49", 100))}
    # 0.49 + 0.49 = 0.98, then 2 x 2,000 bps x 0.49 x 0.51 = 0.10 of fees per set
    strategy = CompleteSetArbStrategy(ArbConfig(margin=Decimal("0.01")))
    charged = dataclasses.replace(MARKET, fees=schedule_from_bps(Decimal(2000)))
    decision = strategy.propose(charged, books, TradingMode.PAPER)
    assert decision.group is None
    assert "no arbitrage" in decision.reason


def test_experimental_strategies_run_only_in_paper_mode_and_disabled_never() -> None:
    books = {YES: asks(YES, ("0.40", 100)), NO: asks(NO, ("0.40", 100))}
    experimental = CompleteSetArbStrategy(experimental=True)
    assert experimental.propose(MARKET, books, TradingMode.PAPER).group is not None
    live = experimental.propose(MARKET, books, TradingMode.LIVE)
    assert live.group is None
    assert "paper mode only" in live.reason
    disabled = CompleteSetArbStrategy(enabled=False, experimental=False)
    assert disabled.propose(MARKET, books, TradingMode.PAPER).reason == "complete_set_arb disabled"
    assert CompleteSetArbStrategy(experimental=False).runs_in(TradingMode.LIVE)


pennies = st.integers(min_value=1, max_value=99).map(lambda c: Decimal(c) / 100)
ladders = st.lists(st.tuples(pennies, st.integers(min_value=1, max_value=500)), max_size=4)


@settings(max_examples=300, deadline=None)
@given(ladders, ladders, st.sampled_from([Decimal(0), Decimal(100)]), st.integers(1, 500))
def test_property_arb_legs_are_equal_and_every_set_pays_more_than_it_costs(
    yes: list[tuple[Decimal, int]], no: list[tuple[Decimal, int]], fee: Decimal, cap: int
) -> None:
    books = {
        YES: asks(YES, *sorted((str(p), s) for p, s in yes)),
        NO: asks(NO, *sorted((str(p), s) for p, s in no)),
    }
    config = ArbConfig(margin=Decimal("0.01"), max_notional=Decimal(cap))
    fees = schedule_from_bps(fee)
    charged = dataclasses.replace(MARKET, fees=fees)
    decision = CompleteSetArbStrategy(config).propose(charged, books, TradingMode.PAPER)
    if decision.group is None:
        return
    yes_leg, no_leg = decision.group.intents
    assert yes_leg.size == no_leg.size
    worst = [yes_leg.limit_price, no_leg.limit_price]
    cost = sum(p + fee_per_share(p, fees) for p in worst)
    assert cost <= 1 - config.margin
    assert yes_leg.size is not None
    outlay = _cost_of(books[YES], yes_leg.size, fees) + _cost_of(books[NO], yes_leg.size, fees)
    assert outlay <= config.max_notional


def _cost_of(book: Book, shares: Decimal, fees: FeeSchedule) -> Decimal:
    """Buying the first `shares` of `book`'s asks, fees included."""
    left, cost = shares, Decimal(0)
    for level in book.asks:
        take = min(left, level.size)
        cost += take * (level.price + fee_per_share(level.price, fees))
        left -= take
    assert left <= 0, "bought more than the book holds"
    return cost


def edge_strategy(**triage: object) -> LLMEdgeStrategy:
    return LLMEdgeStrategy(
        triage=Triage(TriageConfig(**triage)),  # type: ignore[arg-type]
        analysis=AnalysisService(
            heuristic=HeuristicModel(),
            llm=None,
            clock=FakeClock(),
            ensemble=EnsembleConfig(pooling=PoolingConfig(heuristic_weight=Decimal(1))),
        ),
        sizing=SizingConfig(min_edge=Decimal("0.01")),
    )


def good_news() -> tuple[NewsMatch, ...]:
    items = ("Senate passes the bill after deal signed", "Bill approved, leaders confirm win")
    return tuple(
        NewsMatch(NewsItem(f"n{i}", t, f"https://x.test/{i}", "", NOW, "wire"), 0.9)
        for i, t in enumerate(items)
    )


async def test_llm_edge_runs_triage_analysis_and_sizing_then_remembers() -> None:
    strategy = edge_strategy()
    books = binary_books(MARKET, Decimal("0.50"), NOW)
    first = await strategy.evaluate(
        MARKET,
        books,
        Decimal("0.50"),
        good_news(),
        bankroll=Decimal(1000),
        now=NOW,
        mode=TradingMode.PAPER,
    )
    assert first.analysis is not None
    assert first.analysis.source is Source.HEURISTIC
    assert first.group is not None
    assert first.group.intents[0].token_id == YES
    again = await strategy.evaluate(
        MARKET,
        books,
        Decimal("0.50"),
        good_news(),
        bankroll=Decimal(1000),
        now=NOW,
        mode=TradingMode.PAPER,
    )
    assert again.analysis is None
    assert again.reason == "nothing new since the last analysis"


async def test_llm_edge_reports_the_triage_reason_when_it_skips() -> None:
    evaluation = await edge_strategy().evaluate(
        MARKET,
        {},
        Decimal("0.99"),
        good_news(),
        bankroll=Decimal(1000),
        now=NOW,
        mode=TradingMode.LIVE,
    )
    assert evaluation.group is None
    assert evaluation.reason.startswith("price extreme")


async def test_llm_edge_sizes_on_the_book_read_after_the_analysis() -> None:
    """The analysis can take minutes: the order is sized on the book as it is afterwards."""
    strategy = edge_strategy()
    stale = binary_books(MARKET, Decimal("0.50"), NOW)  # YES ask 0.51 when the cycle began
    fresh = binary_books(MARKET, Decimal("0.55"), NOW)  # YES ask 0.56 once the model answered
    reads: list[str] = []

    async def refresh() -> dict[str, Book]:
        reads.append("after")
        return fresh

    evaluation = await strategy.evaluate(
        MARKET,
        stale,
        Decimal("0.50"),
        good_news(),
        bankroll=Decimal(1000),
        now=NOW,
        mode=TradingMode.PAPER,
        refresh=refresh,
    )

    assert reads == ["after"]
    assert evaluation.group is not None
    intent = evaluation.group.intents[0]
    assert intent.limit_price == fresh[intent.token_id].asks[0].price == Decimal("0.56")


async def test_news_published_after_now_is_never_used() -> None:
    later = NewsItem("late", "Senate passes the bill", "https://x.test/l", "", NOW, "wire")
    late = NewsMatch(dataclasses.replace(later, published=NOW + timedelta(minutes=1)), 0.9)
    evaluation = await edge_strategy().evaluate(
        MARKET,
        binary_books(MARKET, Decimal("0.50"), NOW),
        Decimal("0.50"),
        (late,),
        bankroll=Decimal(1000),
        now=NOW,
        mode=TradingMode.PAPER,
    )
    assert evaluation.triage is not None
    assert evaluation.triage.news == ()
    assert evaluation.analysis is None  # no relevant news left: nothing to analyse
