from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from polysim.synthetic.signals import binary_books, make_market
from trader.clock import FakeClock
from trader.domain import Book, BookLevel, TradingMode
from trader.signals.analysis import AnalysisService
from trader.signals.ensemble import EnsembleConfig
from trader.signals.heuristic import HeuristicModel
from trader.signals.sizing import SizingConfig
from trader.signals.strategies import LLMEdgeStrategy, Strategy
from trader.signals.triage import Triage, TriageConfig
from trader.signals.values import NewsItem, NewsMatch, Source

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


def test_experimental_strategies_run_only_in_paper_mode_and_disabled_never() -> None:
    experimental = Strategy(experimental=True)
    assert experimental.runs_in(TradingMode.PAPER)
    assert not experimental.runs_in(TradingMode.LIVE)
    assert "paper mode only" in experimental.not_running(TradingMode.LIVE)
    disabled = Strategy(enabled=False, experimental=False)
    assert not disabled.runs_in(TradingMode.PAPER)
    assert disabled.not_running(TradingMode.PAPER) == "strategy disabled"
    assert Strategy(experimental=False).runs_in(TradingMode.LIVE)


def edge_strategy(**triage: object) -> LLMEdgeStrategy:
    return LLMEdgeStrategy(
        triage=Triage(TriageConfig(**triage)),  # type: ignore[arg-type]
        analysis=AnalysisService(
            heuristic=HeuristicModel(),
            llm=None,
            clock=FakeClock(),
            ensemble=EnsembleConfig(shrinkage=Decimal(0)),
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
