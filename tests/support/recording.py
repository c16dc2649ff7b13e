"""A small recording made through the real `Recorder`, as the running app would make it."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tests.support.backtest_history import START, market
from trader.backtest.history import HistoricalMarket
from trader.clock import FakeClock
from trader.domain import Book, BookLevel, Resolution
from trader.recording.recorder import Recorder, RecorderConfig
from trader.signals.records import ForecastRecord
from trader.signals.values import Forecast, NewsItem, Source

RESOLVED = START + timedelta(hours=21)


def level(price: str, size: str) -> BookLevel:
    return BookLevel(Decimal(price), Decimal(size))


def yes_book(item: HistoricalMarket, at: datetime) -> Book:
    """Not what the fill model would synthesise: a thin best ask, then a gap."""
    return Book(
        token_id=item.market.tokens[0].token_id,
        bids=(level("0.47", "300"), level("0.46", "300")),
        asks=(level("0.53", "40"), level("0.56", "400")),
        timestamp=at,
        market=item.market.condition_id,
    )


def no_book(item: HistoricalMarket, at: datetime) -> Book:
    return Book(
        token_id=item.market.tokens[1].token_id,
        bids=(level("0.47", "300"),),
        asks=(level("0.53", "300"),),
        timestamp=at,
        market=item.market.condition_id,
    )


def forecast(item: HistoricalMarket, at: datetime, probability: str) -> ForecastRecord:
    return ForecastRecord(
        timestamp=at,
        forecast=Forecast(
            market=item.market.condition_id,
            model_probability=Decimal(probability),
            market_probability=Decimal("0.50"),
            confidence=Decimal("0.8"),
            dispersion=Decimal("0.02"),
            source=Source.LLM,
            rationale="the reopening plan was approved",
            sources=("https://news.example/gamma/1",),
            samples=3,
            aggregate=Decimal(probability),
            sample_probabilities=(Decimal(probability),) * 3,
        ),
        decision="trade",
        reason="edge",
    )


async def record_a_day(root: Path) -> HistoricalMarket:
    """One market ("gamma", resolves YES at 21:00), its books every hour from an hour before
    START, a 0.70 forecast, a news item and the resolution, written through the recorder."""
    item = market("gamma", end=START + timedelta(hours=20), resolved_at=RESOLVED)
    clock = FakeClock(START - timedelta(hours=1))
    recorder = Recorder(RecorderConfig(root=root, book_interval_s=1800), clock)
    recorder.markets([item.market])
    recorder.forecast(forecast(item, clock.now(), "0.70"))
    recorder.news(
        [
            NewsItem(
                "gamma-1",
                "gamma harbour bridge reopen approved",
                "https://news.example/gamma/1",
                "The gamma harbour bridge reopen plan was approved.",
                clock.now() - timedelta(hours=2),
                "wire",
            )
        ]
    )
    while clock.now() < START + timedelta(hours=20):
        recorder.book(yes_book(item, clock.now()))
        recorder.book(no_book(item, clock.now()))
        clock.advance(3600)
    clock.set(RESOLVED)
    yes, no = (t.token_id for t in item.market.tokens)
    payouts = {yes: Decimal(1), no: Decimal(0)}
    recorder.resolution(Resolution(item.market.condition_id, payouts, RESOLVED))
    await recorder.flush()
    return item
