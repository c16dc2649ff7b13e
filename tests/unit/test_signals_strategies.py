from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from polysim.synthetic.signals import binary_books, make_market
from trader.clock import FakeClock
from trader.domain import Book, BookLevel, TradingMode
from trader.signals.analysis import AnalysisService
from trader.signals.ensemble import EnsembleConfig
from trader.signals.heuristic import HeuristicModel
from trader.signals.passive import MakerPolicy
from trader.signals.pooling import PoolingConfig
from trader.signals.sizing import SizingConfig
from trader.signals.strategies import EdgeEvaluation, LLMEdgeStrategy, Strategy
from trader.signals.triage import Triage, TriageConfig
from trader.signals.values import NewsItem, NewsMatch, Source
from trader.stages import Stage, StageBook, parse_stage_setting

ALL_LIVE = parse_stage_setting("llm_edge=live")  # these tests are about what happens per mode

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


def test_a_strategy_runs_only_in_the_modes_its_stage_allows_and_disabled_never() -> None:
    at_paper = edge_strategy(stages=StageBook.defaults())  # the default stage: paper
    assert at_paper.stage is Stage.PAPER
    assert at_paper.runs_in(TradingMode.PAPER)
    assert not at_paper.runs_in(TradingMode.LIVE)
    assert at_paper.not_running(TradingMode.LIVE) == (
        "llm_edge is at stage paper (trades in paper mode): no orders in live mode"
    )
    in_development = edge_strategy(stages=parse_stage_setting("llm_edge=development"))
    assert not any(in_development.runs_in(mode) for mode in TradingMode)
    disabled = Strategy(enabled=False)
    assert not disabled.runs_in(TradingMode.PAPER)
    assert disabled.not_running(TradingMode.PAPER) == "strategy disabled"
    assert edge_strategy().runs_in(TradingMode.LIVE)


async def test_a_development_strategy_is_not_evaluated_and_a_promotion_counts_next_time() -> None:
    current = [parse_stage_setting("llm_edge=development")]
    strategy = LLMEdgeStrategy(
        triage=Triage(),
        analysis=AnalysisService(heuristic=HeuristicModel(), llm=None, clock=FakeClock()),
        stages=lambda: current[0],
    )
    skipped = await evaluate(strategy, {})
    assert skipped.triage is None  # not even screened: no LLM spend
    assert skipped.reason.startswith("llm_edge is at stage development (backtests only)")
    current[0] = current[0].with_stage("llm_edge", Stage.PAPER)
    assert strategy.runs_in(TradingMode.PAPER)


def edge_strategy(
    stages: StageBook = ALL_LIVE, error: Decimal | None = None, **triage: object
) -> LLMEdgeStrategy:
    """`error`: the model's measured error an edge must beat (default: the pooling default)."""
    pooling = PoolingConfig(heuristic_weight=Decimal(1))
    if error is not None:
        pooling = dataclasses.replace(pooling, default_error=error)
    return LLMEdgeStrategy(
        triage=Triage(TriageConfig(**triage)),  # type: ignore[arg-type]
        analysis=AnalysisService(
            heuristic=HeuristicModel(),
            llm=None,
            clock=FakeClock(),
            ensemble=EnsembleConfig(pooling=pooling),
        ),
        sizing=SizingConfig(min_edge=Decimal("0.01")),
        stages=lambda: stages,
    )


def good_news() -> tuple[NewsMatch, ...]:
    items = ("Senate passes the bill after deal signed", "Bill approved, leaders confirm win")
    return tuple(
        NewsMatch(NewsItem(f"n{i}", t, f"https://x.test/{i}", "", NOW, "wire"), 0.9)
        for i, t in enumerate(items)
    )


async def evaluate(
    strategy: LLMEdgeStrategy,
    books: dict[str, Book],
    *,
    price: str = "0.50",
    news: tuple[NewsMatch, ...] | None = None,
    mode: TradingMode = TradingMode.PAPER,
    **options: Any,
) -> EdgeEvaluation:
    """One evaluation of MARKET at `price` with $1,000 and the good news unless told."""
    return await strategy.evaluate(
        MARKET,
        books,
        Decimal(price),
        good_news() if news is None else news,
        bankroll=Decimal(1000),
        now=NOW,
        mode=mode,
        **options,
    )


async def test_llm_edge_runs_triage_analysis_and_sizing_then_remembers() -> None:
    strategy = edge_strategy()
    books = binary_books(MARKET, Decimal("0.50"), NOW)
    first = await evaluate(strategy, books)
    assert first.analysis is not None
    assert first.analysis.source is Source.HEURISTIC
    assert first.group is not None
    assert first.group.intents[0].token_id == YES
    again = await evaluate(strategy, books)
    assert again.analysis is None
    assert again.reason == "nothing new since the last analysis"


async def test_llm_edge_reports_the_triage_reason_when_it_skips() -> None:
    evaluation = await evaluate(edge_strategy(), {}, price="0.99", mode=TradingMode.LIVE)
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

    evaluation = await evaluate(strategy, stale, refresh=refresh)

    assert reads == ["after"]
    assert evaluation.group is not None
    intent = evaluation.group.intents[0]
    assert intent.limit_price == fresh[intent.token_id].asks[0].price == Decimal("0.56")


async def test_news_published_after_now_is_never_used() -> None:
    later = NewsItem("late", "Senate passes the bill", "https://x.test/l", "", NOW, "wire")
    late = NewsMatch(dataclasses.replace(later, published=NOW + timedelta(minutes=1)), 0.9)
    books = binary_books(MARKET, Decimal("0.50"), NOW)
    evaluation = await evaluate(edge_strategy(), books, news=(late,))
    assert evaluation.triage is not None
    assert evaluation.triage.news == ()
    assert evaluation.analysis is None  # no relevant news left: nothing to analyse


async def test_with_a_maker_policy_the_edge_strategys_buy_is_a_maker_entry() -> None:
    strategy = edge_strategy()
    strategy.maker = MakerPolicy(improve_ticks=1, urgent_edge=Decimal("0.99"))
    books = binary_books(MARKET, Decimal("0.50"), NOW)

    evaluation = await evaluate(strategy, books)

    assert evaluation.group is not None
    (intent,) = evaluation.group.intents
    assert intent.maker is not None
    assert (intent.post_only, intent.maker.urgent) == (True, False)  # edge below 0.99: patient
    assert intent.expires_at == NOW + MakerPolicy().ttl
    assert intent.reason.endswith("maker entry")
