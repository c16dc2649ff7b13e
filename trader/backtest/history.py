"""The history a backtest replays: markets, per-token prices, resolutions and news.

The file is JSON (`polyops-history/1`), documented in the README's "Backtest" section:

    {"format": "polyops-history/1",
     "markets": [{"condition_id", "question", "description", "tokens": [{"token_id", "outcome"}],
                  "opened_at", "end_date", "resolved_at", "payouts": {token_id: "1" | "0" | "0.5"},
                  "tick_size", "min_order_size", "neg_risk", "volume", "liquidity", "slug",
                  "fees": {"rate", "exponent", "taker_only", "rebate_rate", "enabled",
                           "stated" (optional; false: the venue stated no schedule)}}],
     "prices": {token_id: [["2026-01-01T00:00:00Z", "0.55"], ...]},
     "news": [{"item_id", "title", "summary", "link", "published", "source"}]}

Times are ISO 8601 with a zone (UTC); prices, sizes and money are decimal strings. A market is
listed (tradeable) from `opened_at` until `end_date`; it resolves at `resolved_at` to `payouts`
(a market without `resolved_at` never resolves within the history). Everything is read once and
indexed so that "the price at t" and "the news published by t" are bisections: nothing after t
can be seen through this module's lookups.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from trader.domain import Book, FeeSchedule, Market, OutcomeToken, Payouts
from trader.signals.values import NewsItem

FORMAT = "polyops-history/1"


class HistoryError(ValueError):
    """The history file is unreadable or inconsistent; the text names what and where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Token(_Strict):
    token_id: str = Field(min_length=1)
    outcome: str = Field(min_length=1)


class _Fees(_Strict):
    rate: Decimal = Decimal(0)
    exponent: int = 1
    taker_only: bool = True
    rebate_rate: Decimal = Decimal(0)
    enabled: bool = True
    stated: bool = True  # false: the venue stated no schedule (sizing refuses the market)


class _Market(_Strict):
    condition_id: str = Field(min_length=1)
    question: str
    description: str = ""
    tokens: tuple[_Token, ...] = Field(min_length=2)
    opened_at: AwareDatetime
    end_date: AwareDatetime
    resolved_at: AwareDatetime | None = None
    payouts: dict[str, Decimal] | None = None
    tick_size: Decimal = Decimal("0.01")
    min_order_size: Decimal = Decimal(5)
    neg_risk: bool = False
    volume: Decimal = Decimal(0)
    liquidity: Decimal = Decimal(0)
    slug: str = ""
    fees: _Fees = _Fees(enabled=False)


class _News(_Strict):
    item_id: str = Field(min_length=1)
    title: str
    summary: str = ""
    link: str = ""
    published: AwareDatetime
    source: str = "history"


class _History(_Strict):
    format: str
    markets: tuple[_Market, ...]
    prices: dict[str, tuple[tuple[AwareDatetime, Decimal], ...]]
    news: tuple[_News, ...] = ()


@dataclass(frozen=True, slots=True)
class HistoricalMarket:
    market: Market
    opened_at: datetime
    resolved_at: datetime | None = None
    payouts: Payouts | None = None

    def open_at(self, now: datetime) -> bool:
        """Listed and tradeable at `now`: opened, not yet at its end date, not resolved."""
        end = self.market.end_date
        return (
            self.opened_at <= now
            and (end is None or now < end)
            and (self.resolved_at is None or now < self.resolved_at)
        )

    def resolved_by(self, now: datetime) -> bool:
        return self.resolved_at is not None and self.resolved_at <= now


@dataclass(frozen=True, slots=True)
class PriceSeries:
    times: tuple[datetime, ...]
    prices: tuple[Decimal, ...]

    def at(self, now: datetime) -> Decimal | None:
        """The last price recorded at or before `now` (None before the first)."""
        index = bisect.bisect_right(self.times, now)
        return self.prices[index - 1] if index else None


@dataclass(frozen=True, slots=True)
class BookSeries:
    """Books the recorder kept for one token, in time order (`trader.backtest.recorded`)."""

    times: tuple[datetime, ...]
    books: tuple[Book, ...]

    def last(self, now: datetime) -> tuple[datetime, Book] | None:
        index = bisect.bisect_right(self.times, now)
        return (self.times[index - 1], self.books[index - 1]) if index else None


@dataclass(frozen=True, slots=True)
class History:
    markets: tuple[HistoricalMarket, ...]
    prices: dict[str, PriceSeries]
    news: tuple[NewsItem, ...]  # sorted by the time each became visible (publication, or fetch)
    books: dict[str, BookSeries] = field(default_factory=dict)
    _news_times: tuple[datetime, ...] = field(default=(), repr=False)
    _by_token: dict[str, HistoricalMarket] = field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls,
        markets: Sequence[HistoricalMarket],
        prices: dict[str, PriceSeries],
        news: Sequence[NewsItem] = (),
        *,
        books: dict[str, BookSeries] | None = None,
        visible: dict[str, datetime] | None = None,
    ) -> History:
        """`visible`: item id -> when the bot first saw it (a recorded fetch time), for items
        it saw after their publication; the others are visible from their publication."""
        seen = visible or {}

        def shown(item: NewsItem) -> datetime:
            return max(item.published, seen.get(item.item_id, item.published))

        ordered = tuple(sorted(news, key=lambda item: (shown(item), item.item_id)))
        by_token = {t.token_id: m for m in markets for t in m.market.tokens}
        times = tuple(shown(i) for i in ordered)
        return cls(tuple(markets), prices, ordered, books or {}, times, by_token)

    def recorded_book(self, token_id: str, now: datetime) -> Book | None:
        """The last book recorded at or before `now`, unless a price point is newer."""
        series = self.books.get(token_id)
        found = series.last(now) if series is not None else None
        if found is None:
            return None
        prices = self.prices.get(token_id)
        if prices is not None:
            index = bisect.bisect_right(prices.times, now)
            if index and prices.times[index - 1] > found[0]:
                return None
        return found[1]

    def market_of_token(self, token_id: str) -> HistoricalMarket | None:
        return self._by_token.get(token_id)

    def news_by(self, now: datetime) -> tuple[NewsItem, ...]:
        """The news items visible at `now` (published, and seen by then if recorded)."""
        return self.news[: bisect.bisect_right(self._news_times, now)]

    def news_between(self, horizon: datetime, now: datetime) -> tuple[NewsItem, ...]:
        """The items visible at `now` that were published at or after `horizon`. An item is
        seen no earlier than it is published, so none seen before the horizon qualifies."""
        first = bisect.bisect_left(self._news_times, horizon)
        last = bisect.bisect_right(self._news_times, now)
        return tuple(item for item in self.news[first:last] if item.published >= horizon)

    def price_at(self, token_id: str, now: datetime) -> Decimal | None:
        series = self.prices.get(token_id)
        return series.at(now) if series is not None else None


def load_history(path: Path) -> History:
    try:
        raw = json.loads(path.read_text())
    except OSError as error:
        raise HistoryError(f"{path}: cannot read the history file ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise HistoryError(f"{path}: not JSON ({error.msg}, line {error.lineno})") from None
    return parse_history(raw, origin=str(path))


def parse_history(raw: Any, *, origin: str = "history") -> History:
    try:
        parsed = _History.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:5]
        )
        raise HistoryError(f"{origin}: {problems}") from None
    if parsed.format != FORMAT:
        raise HistoryError(f"{origin}: format {parsed.format!r}, expected {FORMAT!r}")
    markets = tuple(_market(m, origin) for m in parsed.markets)
    for token, points in parsed.prices.items():
        bad = next((p for _, p in points if not Decimal(0) < p < Decimal(1)), None)
        if bad is not None:
            raise HistoryError(f"{origin}: prices.{token}: {bad} is not a price in (0, 1)")
    prices = {
        token: PriceSeries(tuple(t for t, _ in points), tuple(p for _, p in points))
        for token, points in ((t, sorted(pts)) for t, pts in parsed.prices.items())
    }
    news = [
        NewsItem(n.item_id, n.title, n.link, n.summary, n.published, n.source) for n in parsed.news
    ]
    return History.of(markets, prices, news)


def _market(raw: _Market, origin: str) -> HistoricalMarket:
    tokens = tuple(OutcomeToken(t.token_id, t.outcome) for t in raw.tokens)
    where = f"{origin}: market {raw.condition_id}"
    if raw.payouts is not None:
        unknown = set(raw.payouts) - {t.token_id for t in tokens}
        if unknown:
            raise HistoryError(f"{where}: payouts name unknown tokens {sorted(unknown)}")
        if any(not Decimal(0) <= p <= Decimal(1) for p in raw.payouts.values()):
            raise HistoryError(f"{where}: payouts must lie between 0 and 1")
    if (raw.resolved_at is None) != (raw.payouts is None):
        raise HistoryError(f"{where}: resolved_at and payouts go together")
    fees = FeeSchedule(
        raw.fees.rate,
        raw.fees.exponent,
        raw.fees.taker_only,
        raw.fees.rebate_rate,
        raw.fees.enabled,
        raw.fees.stated,
    )
    market = Market(
        condition_id=raw.condition_id,
        question=raw.question,
        tokens=tokens,
        end_date=raw.end_date,
        tick_size=raw.tick_size,
        min_order_size=raw.min_order_size,
        neg_risk=raw.neg_risk,
        volume=raw.volume,
        liquidity=raw.liquidity,
        slug=raw.slug,
        description=raw.description,
        fees=fees,
    )
    return HistoricalMarket(market, raw.opened_at, raw.resolved_at, raw.payouts)


def history_to_json(history: History) -> dict[str, Any]:
    """The file form of `history` (what `load_history` reads back)."""
    return {
        "format": FORMAT,
        "markets": [_market_json(m) for m in history.markets],
        "prices": {
            token: [[t.isoformat(), str(p)] for t, p in zip(s.times, s.prices, strict=True)]
            for token, s in sorted(history.prices.items())
        },
        "news": [
            {
                "item_id": n.item_id,
                "title": n.title,
                "summary": n.summary,
                "link": n.link,
                "published": n.published.isoformat(),
                "source": n.source,
            }
            for n in history.news
        ],
    }


def _market_json(item: HistoricalMarket) -> dict[str, Any]:
    market, fees = item.market, item.market.fees
    return {
        "condition_id": market.condition_id,
        "question": market.question,
        "description": market.description,
        "tokens": [{"token_id": t.token_id, "outcome": t.outcome} for t in market.tokens],
        "opened_at": item.opened_at.isoformat(),
        "end_date": market.end_date.isoformat() if market.end_date else None,
        "resolved_at": item.resolved_at.isoformat() if item.resolved_at else None,
        "payouts": {t: str(p) for t, p in item.payouts.items()} if item.payouts else None,
        "tick_size": str(market.tick_size),
        "min_order_size": str(market.min_order_size),
        "neg_risk": market.neg_risk,
        "volume": str(market.volume),
        "liquidity": str(market.liquidity),
        "slug": market.slug,
        "fees": {
            "rate": str(fees.rate),
            "exponent": fees.exponent,
            "taker_only": fees.taker_only,
            "rebate_rate": str(fees.rebate_rate),
            "enabled": fees.enabled,
            **({} if fees.stated else {"stated": False}),
        },
    }
