from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from polysim.synthetic.signals import StaticBooks, StaticNews, binary_books, make_market, universe
from trader.clock import FakeClock
from trader.domain import Book, TradingMode
from trader.signals.analysis import AnalysisService
from trader.signals.ensemble import EnsembleConfig
from trader.signals.heuristic import HeuristicModel
from trader.signals.news import RefreshResult
from trader.signals.pipeline import PipelineConfig, SelectionConfig, SignalPipeline, select_markets
from trader.signals.pooling import PoolingConfig
from trader.signals.records import InMemoryForecastRecorder
from trader.signals.sizing import SizingConfig
from trader.signals.strategies import LLMEdgeStrategy
from trader.signals.triage import Triage
from trader.stages import parse_stage_setting

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_selection_filters_and_caps_by_volume() -> None:
    end = NOW + timedelta(days=10)
    keep = make_market("keep", "q", end_date=end, volume=Decimal(90_000))
    bigger = make_market("bigger", "q", end_date=end, volume=Decimal(95_000))
    rejected = [
        make_market("thin", "q", end_date=end, volume=Decimal(49_999)),
        make_market("illiquid", "q", end_date=end, liquidity=Decimal(10)),
        make_market("closed", "q", end_date=end, closed=True),
        make_market("paused", "q", end_date=end, accepting_orders=False),
        make_market("inactive", "q", end_date=end, active=False),
        make_market("soon", "q", end_date=NOW + timedelta(hours=1)),
        make_market("far", "q", end_date=NOW + timedelta(days=365)),
        replace(keep, condition_id="undated", end_date=None),
        replace(keep, condition_id="one-token", tokens=keep.tokens[:1]),
    ]
    chosen = select_markets([keep, *rejected, bigger], NOW, SelectionConfig(max_markets=5))
    assert [m.condition_id for m in chosen] == ["bigger", "keep"]
    assert select_markets([keep, bigger], NOW, SelectionConfig(max_markets=1)) == [bigger]


ALL_LIVE = parse_stage_setting("llm_edge=live")


def heuristic_pipeline(
    books: StaticBooks, news: StaticNews
) -> tuple[SignalPipeline, InMemoryForecastRecorder]:
    clock = FakeClock(NOW)
    edge = LLMEdgeStrategy(
        triage=Triage(),
        analysis=AnalysisService(
            heuristic=HeuristicModel(),
            llm=None,
            clock=clock,
            ensemble=EnsembleConfig(pooling=PoolingConfig(heuristic_weight=Decimal(1))),
        ),
        sizing=SizingConfig(min_edge=Decimal("0.005")),
        stages=lambda: ALL_LIVE,  # these tests are about what happens in each mode
    )
    forecasts = InMemoryForecastRecorder()
    pipeline = SignalPipeline(
        books=books,
        clock=clock,
        news=news,
        edge=edge,
        forecasts=forecasts,
        config=PipelineConfig(concurrency=4),
    )
    return pipeline, forecasts


async def test_a_cycle_reports_every_selected_market_with_a_reason() -> None:
    world = universe(12, NOW)
    pipeline, forecasts = heuristic_pipeline(StaticBooks(dict(world.books)), StaticNews(world.news))
    result = await pipeline.run_cycle(world.markets, bankroll=Decimal(1000), mode=TradingMode.PAPER)
    report = result.report
    assert (report.candidates, report.selected) == (12, 12)
    assert report.analysed == 12
    assert all(m.reason for m in report.markets)
    assert all(m.source == "heuristic" for m in report.markets)
    assert all(m.analysis == "heuristic: no API key" for m in report.markets)
    assert report.llm.calls == 0
    assert report.sources == {"heuristic": 12}
    traded = report.trades
    assert traded
    assert len(result.groups) == len(traded)
    assert all(m.model_probability is not None and m.market_probability for m in traded)
    assert len(forecasts.records) == 12


async def test_an_unchanged_second_cycle_analyses_nothing() -> None:
    world = universe(6, NOW)
    pipeline, _ = heuristic_pipeline(StaticBooks(dict(world.books)), StaticNews(world.news))
    await pipeline.run_cycle(world.markets, bankroll=Decimal(1000), mode=TradingMode.PAPER)
    second = await pipeline.run_cycle(world.markets, bankroll=Decimal(1000), mode=TradingMode.PAPER)
    assert second.report.analysed == 0
    assert {m.reason for m in second.report.markets} == {"nothing new since the last analysis"}
    assert second.groups == ()


async def test_a_missing_book_skips_that_market_only() -> None:
    world = universe(3, NOW)
    books = dict(world.books)
    del books[world.markets[0].tokens[0].token_id]
    pipeline, _ = heuristic_pipeline(StaticBooks(books), StaticNews(world.news))
    result = await pipeline.run_cycle(world.markets, bankroll=Decimal(1000), mode=TradingMode.PAPER)
    by_id = {m.market: m for m in result.report.markets}
    assert by_id[world.markets[0].condition_id].reason == "book unavailable: KeyError"
    assert result.report.analysed == 2


async def test_one_sided_yes_book_is_skipped() -> None:
    market = make_market("m", "Will the Senate pass the bill?", end_date=NOW + timedelta(days=9))
    books = binary_books(market, Decimal("0.5"), NOW)
    yes = market.tokens[0].token_id
    books[yes] = Book(yes, bids=(), asks=books[yes].asks, timestamp=NOW)
    pipeline, _ = heuristic_pipeline(StaticBooks(books), StaticNews())
    result = await pipeline.run_cycle([market], bankroll=Decimal(1000), mode=TradingMode.PAPER)
    assert result.report.markets[0].reason == "no two-sided YES book"


class BrokenNews(StaticNews):
    async def refresh(self) -> RefreshResult:
        raise OSError("news cache unavailable")


async def test_a_failing_news_stage_costs_the_cycle_its_news_only() -> None:
    world = universe(3, NOW)
    pipeline, _ = heuristic_pipeline(StaticBooks(dict(world.books)), BrokenNews(world.news))
    result = await pipeline.run_cycle(world.markets, bankroll=Decimal(1000), mode=TradingMode.PAPER)
    assert result.report.news_error == "OSError: news cache unavailable"
    assert result.report.selected == 3
    assert all(m.reason.startswith("low relevance") for m in result.report.markets)
