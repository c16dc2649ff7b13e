"""Deterministic synthetic markets, books and news for the demo, the bench and tests.

No randomness beyond a seeded `random.Random`, no clock reads: the caller passes `now`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from trader.domain import ONE, Book, BookLevel, Market, OutcomeToken
from trader.signals.news import RefreshResult, match_news
from trader.signals.values import NewsItem, NewsMatch

TICK = Decimal("0.01")

_TOPICS = (
    ("Federal Reserve cut interest rates", "rate decision FOMC meeting inflation"),
    ("Senate pass the infrastructure bill", "vote senators bill floor majority"),
    ("SpaceX launch Starship to orbit", "rocket launch orbital flight test"),
    ("Bitcoin close above 150000 dollars", "crypto price exchange ETF inflows"),
    ("the ceasefire agreement be signed", "negotiations talks mediators truce"),
    ("Apple announce a foldable iPhone", "product event keynote smartphone hardware"),
    ("the strike at the port end", "union dockworkers wage negotiations port"),
    ("the court block the merger", "antitrust regulators judge ruling acquisition"),
)
_PLACES = ("Canada", "Brazil", "Japan", "Germany", "India", "Kenya", "Chile", "Norway", "Spain")


def make_market(
    condition_id: str,
    question: str,
    *,
    end_date: datetime,
    description: str = "",
    volume: Decimal = Decimal(100_000),
    liquidity: Decimal = Decimal(20_000),
    **changes: object,
) -> Market:
    market = Market(
        condition_id=condition_id,
        question=question,
        tokens=(
            OutcomeToken(f"{condition_id}-yes", "Yes"),
            OutcomeToken(f"{condition_id}-no", "No"),
        ),
        end_date=end_date,
        volume=volume,
        liquidity=liquidity,
        description=description,
    )
    if changes:
        market = replace(market, **changes)  # type: ignore[arg-type]
    return market


def ladder(best: Decimal, step: Decimal, sizes: tuple[Decimal, ...]) -> tuple[BookLevel, ...]:
    """Levels from `best` moving by `step` (negative for bids), one per size."""
    return tuple(BookLevel(best + step * i, size) for i, size in enumerate(sizes))


def make_book(
    token_id: str,
    *,
    bid: Decimal | None,
    ask: Decimal | None,
    now: datetime,
    sizes: tuple[Decimal, ...] = (Decimal(200), Decimal(300), Decimal(500)),
) -> Book:
    bids = ladder(bid, -TICK, sizes) if bid is not None else ()
    asks = ladder(ask, TICK, sizes) if ask is not None else ()
    return Book(
        token_id=token_id,
        bids=tuple(level for level in bids if level.price > 0),
        asks=tuple(level for level in asks if level.price < ONE),
        timestamp=now,
    )


def binary_books(
    market: Market, yes_mid: Decimal, now: datetime, spread: Decimal = TICK
) -> dict[str, Book]:
    """YES and NO books consistent with each other around `yes_mid` (no arbitrage)."""
    yes_bid, yes_ask = yes_mid - spread, yes_mid + spread
    books = {}
    for token in market.tokens:
        if token.outcome == "Yes":
            books[token.token_id] = make_book(token.token_id, bid=yes_bid, ask=yes_ask, now=now)
        else:
            books[token.token_id] = make_book(
                token.token_id, bid=ONE - yes_ask, ask=ONE - yes_bid, now=now
            )
    return books


@dataclass
class StaticBooks:
    """A book getter over a dict: `await books(token_id)`; unknown tokens raise KeyError."""

    books: dict[str, Book] = field(default_factory=dict)
    calls: int = 0

    async def __call__(self, token_id: str) -> Book:
        self.calls += 1
        return self.books[token_id]

    def update(self, more: Mapping[str, Book]) -> None:
        self.books.update(more)


class StaticNews:
    """A news provider over a fixed list of items (no network); `items` may be replaced."""

    def __init__(
        self, items: tuple[NewsItem, ...] = (), *, min_relevance: float = 0.10, max_matches: int = 5
    ) -> None:
        self.items = items
        self.min_relevance = min_relevance
        self.max_matches = max_matches

    async def refresh(self) -> RefreshResult:
        return RefreshResult((), 0, len(self.items))

    def match(self, markets: Sequence[Market]) -> dict[str, tuple[NewsMatch, ...]]:
        return match_news(
            markets, self.items, min_relevance=self.min_relevance, max_matches=self.max_matches
        )


@dataclass(frozen=True)
class Universe:
    markets: tuple[Market, ...]
    books: dict[str, Book]
    news: tuple[NewsItem, ...]


def universe(count: int, now: datetime, *, seed: int = 7) -> Universe:
    """`count` distinct markets with mid prices in [0.2, 0.8] and one fresh news item each."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not cryptography
    markets: list[Market] = []
    books: dict[str, Book] = {}
    news: list[NewsItem] = []
    for i in range(count):
        topic, words = _TOPICS[i % len(_TOPICS)]
        place = _PLACES[(i // len(_TOPICS)) % len(_PLACES)]
        tag = f"case{i:04d}"
        question = f"Will {topic} in {place} ({tag}) by the deadline?"
        market = make_market(
            f"0x{i:064x}",
            question,
            end_date=now + timedelta(days=5 + i % 20),
            description=f"Resolves YES if {topic} in {place} ({tag}). {words}.",
            volume=Decimal(60_000 + 1_000 * i),
        )
        markets.append(market)
        mid = Decimal(rng.randint(20, 80)) / 100
        books.update(binary_books(market, mid, now))
        news.append(
            NewsItem(
                item_id=f"news-{i:04d}",
                title=f"{place}: {topic} ({tag}) talks advance",
                link=f"https://news.example/{tag}",
                summary=f"Officials in {place} said {words} ({tag}) were moving ahead.",
                published=now - timedelta(hours=1 + i % 6),
                source="synthetic wire",
            )
        )
    return Universe(tuple(markets), books, tuple(news))
