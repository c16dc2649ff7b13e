"""A deterministic synthetic history for backtests (`trader.backtest.history` format).

`synthetic_history(start, days, markets, seed)` makes binary markets opening and resolving
across the window, each with an outcome drawn once from the seed (a few resolve 50/50), an
hourly YES price that drifts in log-odds from its opening price toward that outcome with noise
(NO = 1 - YES), and news items every few hours whose tone leans toward the outcome, published
before the price has finished moving. It is synthetic: an edge found on it says the plumbing
works, not that a strategy makes money. Nothing here reads the clock or the network.
"""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from polysim.synthetic.signals import _PLACES, _TOPICS
from trader.backtest.history import HistoricalMarket, History, PriceSeries, history_to_json
from trader.domain import FeeSchedule, Market, OutcomeToken
from trader.signals.values import NewsItem

CENT = Decimal("0.01")
GOOD = ("approved", "agreement signed", "talks advance", "vote passed", "deal confirmed")
BAD = ("rejected", "talks collapse", "vote delayed", "deal blocked", "plan withdrawn")
FEES = FeeSchedule(rate=Decimal("0.02"))


def _price(p: float) -> Decimal:
    return Decimal(str(min(0.97, max(0.03, p)))).quantize(CENT)


def _market(index: int, start: datetime, days: int, rng: random.Random) -> HistoricalMarket:
    topic, words = _TOPICS[index % len(_TOPICS)]
    place = _PLACES[(index // len(_TOPICS)) % len(_PLACES)]
    tag = f"case{index:04d}"
    condition_id = f"0x{index + 1:064x}"
    opened = start - timedelta(days=rng.randint(1, 10))
    end = start + timedelta(days=rng.randint(1, max(1, days)), hours=rng.randint(0, 23))
    market = Market(
        condition_id=condition_id,
        question=f"Will {topic} in {place} ({tag}) by the deadline?",
        tokens=(OutcomeToken(f"{tag}-yes", "Yes"), OutcomeToken(f"{tag}-no", "No")),
        end_date=end,
        volume=Decimal(60_000 + 1_000 * index),
        liquidity=Decimal(20_000),
        description=f"Resolves YES if {topic} in {place} ({tag}). {words}.",
        fees=FEES,
    )
    draw = rng.random()
    yes = Decimal("0.5") if draw < 0.08 else Decimal(1) if draw < 0.54 else Decimal(0)
    payouts = {f"{tag}-yes": yes, f"{tag}-no": Decimal(1) - yes}
    return HistoricalMarket(market, opened, end + timedelta(hours=1), payouts)


def _walk(
    item: HistoricalMarket, rng: random.Random
) -> tuple[list[tuple[datetime, Decimal]], float]:
    """Hourly YES prices from opening to resolution, drifting toward the outcome."""
    end = item.resolved_at or item.opened_at
    hours = max(1, int((end - item.opened_at).total_seconds() // 3600))
    outcome = float(next(iter(item.payouts.values()))) if item.payouts else 0.5
    target = {1.0: 2.5, 0.0: -2.5}.get(outcome, 0.0)
    x = rng.uniform(-0.8, 0.8)
    points = []
    for hour in range(hours + 1):
        x += (target - x) * 0.6 / hours + rng.gauss(0, 0.06)
        points.append((item.opened_at + timedelta(hours=hour), _price(1 / (1 + math.exp(-x)))))
    return points, outcome


def _news(item: HistoricalMarket, outcome: float, rng: random.Random) -> list[NewsItem]:
    market = item.market
    tag = market.tokens[0].token_id.removesuffix("-yes")
    topic = market.question.removeprefix("Will ").split(" (")[0]
    found = []
    at = item.opened_at + timedelta(hours=rng.randint(2, 8))
    end = item.resolved_at or at
    number = 0
    while at < end - timedelta(hours=6):
        leans_yes = rng.random() < (0.75 if outcome == 1.0 else 0.25 if outcome == 0.0 else 0.5)
        phrase = rng.choice(GOOD if leans_yes else BAD)
        found.append(
            NewsItem(
                item_id=f"{tag}-news-{number}",
                title=f"{topic} ({tag}): {phrase}",
                link=f"https://news.example/{tag}/{number}",
                summary=f"Reports on {topic} ({tag}) say it was {phrase}.",
                published=at,
                source="synthetic wire",
            )
        )
        number += 1
        at += timedelta(hours=rng.randint(6, 30))
    return found


def synthetic_history(start: datetime, days: int, markets: int = 24, seed: int = 19) -> History:
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not cryptography
    listed, prices, news = [], {}, []
    for index in range(markets):
        item = _market(index, start, days, rng)
        points, outcome = _walk(item, rng)
        yes, no = (t.token_id for t in item.market.tokens)
        prices[yes] = PriceSeries(tuple(t for t, _ in points), tuple(p for _, p in points))
        prices[no] = PriceSeries(
            tuple(t for t, _ in points), tuple(Decimal(1) - p for _, p in points)
        )
        listed.append(item)
        news.extend(_news(item, outcome, rng))
    return History.of(listed, prices, news)


def write_synthetic_history(
    path: Path, start: datetime, days: int, markets: int = 24, seed: int = 19
) -> History:
    history = synthetic_history(start, days, markets, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(history_to_json(history), indent=1) + "\n")
    return history
