"""Small hand-made histories for the backtest tests (the synthetic one is in polysim)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.backtest.history import HistoricalMarket, History, PriceSeries
from trader.domain import FeeSchedule, Market, OutcomeToken
from trader.signals.values import NewsItem
from trader.store.tables import ForecastRow

START = datetime.fromisoformat("2026-03-02T00:00:00+00:00")
FEES = FeeSchedule(rate=Decimal("0.02"))
HALF = Decimal("0.50")
RESOLVED = START + timedelta(hours=21)


def market(
    tag: str,
    *,
    end: datetime,
    resolved_at: datetime | None = None,
    yes_pays: Decimal | None = None,
    opened: datetime = START - timedelta(days=3),
) -> HistoricalMarket:
    listed = Market(
        condition_id=f"0x{tag}",
        question=f"Will the {tag} harbour bridge reopen before the deadline?",
        tokens=(OutcomeToken(f"{tag}-yes", "Yes"), OutcomeToken(f"{tag}-no", "No")),
        end_date=end,
        volume=Decimal(90_000),
        liquidity=Decimal(20_000),
        description=f"Resolves YES if the {tag} harbour bridge reopens to traffic.",
        fees=FEES,
    )
    payouts = None
    if yes_pays is not None:
        payouts = {f"{tag}-yes": yes_pays, f"{tag}-no": Decimal(1) - yes_pays}
    return HistoricalMarket(listed, opened, resolved_at, payouts)


def prices(
    item: HistoricalMarket, points: Sequence[tuple[datetime, Decimal]]
) -> dict[str, PriceSeries]:
    yes, no = (t.token_id for t in item.market.tokens)
    times = tuple(t for t, _ in points)
    return {
        yes: PriceSeries(times, tuple(p for _, p in points)),
        no: PriceSeries(times, tuple(Decimal(1) - p for _, p in points)),
    }


def news(tag: str, published: datetime, words: str, number: int = 0) -> NewsItem:
    return NewsItem(
        item_id=f"{tag}-{number}",
        title=f"{tag} harbour bridge reopen: {words}",
        link=f"https://news.example/{tag}/{number}",
        summary=f"Officials said the {tag} harbour bridge reopen plan was {words}.",
        published=published,
        source="test wire",
    )


def history(
    items: Sequence[HistoricalMarket],
    series: dict[str, PriceSeries],
    items_news: Sequence[NewsItem] = (),
) -> History:
    return History.of(items, series, items_news)


def two_markets() -> History:
    """alpha resolves YES, beta resolves 50/50; both flat at 0.50 until then."""
    alpha = market(
        "alpha", end=START + timedelta(hours=20), resolved_at=RESOLVED, yes_pays=Decimal(1)
    )
    beta = market("beta", end=START + timedelta(hours=20), resolved_at=RESOLVED, yes_pays=HALF)
    flat = [(START - timedelta(days=3), HALF)]
    return history([alpha, beta], {**prices(alpha, flat), **prices(beta, flat)})


async def record_forecasts(
    sessions: async_sessionmaker[AsyncSession],
    rows: Sequence[tuple[HistoricalMarket, datetime, Decimal]],
) -> None:
    """Forecast rows as the live bot writes them: (market, when, YES probability)."""
    async with sessions.begin() as session:
        for item, at, probability in rows:
            session.add(
                ForecastRow(
                    market=item.market.condition_id,
                    token_id=item.market.tokens[0].token_id,
                    model_probability=probability,
                    model="claude-sonnet-4-6",
                    source="llm",
                    created_at=at,
                    market_price=Decimal("0.50"),
                    confidence=Decimal("0.8"),
                )
            )
