"""Flat rows for each kind the recorder keeps, and their Parquet columns.

Prices, sizes and money are decimal strings (exact, as the domain holds them); times are
timezone-aware UTC (`timestamp[us, UTC]`). A book keeps its best `depth` levels a side as two
lists each (prices, sizes). A forecast keeps its inputs: the market price it saw, the samples,
their aggregate, the calibration, the model's weight in the blend, the blend, the sources and
the articles it was shown with their publication times, and the decision it led to.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from trader.domain import Book, Fill, Market, Resolution
from trader.signals.records import ForecastRecord
from trader.signals.values import NewsItem

Row = dict[str, Any]
KINDS = ("books", "trades", "markets", "resolutions", "news", "forecasts")

# kind -> (column, type) with types named for `store.schema`
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "books": (
        ("at", "time"),
        ("token_id", "str"),
        ("market", "str"),
        ("tick_size", "str"),
        ("min_order_size", "str"),
        ("bid_prices", "strs"),
        ("bid_sizes", "strs"),
        ("ask_prices", "strs"),
        ("ask_sizes", "strs"),
        ("book_time", "time"),
        ("hash", "str"),
    ),
    "trades": (
        ("at", "time"),
        ("trade_id", "str"),
        ("order_id", "str"),
        ("market", "str"),
        ("token_id", "str"),
        ("side", "str"),
        ("price", "str"),
        ("size", "str"),
        ("fee", "str"),
        ("liquidity", "str"),
    ),
    "markets": (
        ("at", "time"),
        ("condition_id", "str"),
        ("question", "str"),
        ("description", "str"),
        ("tokens", "str"),  # JSON: [[token_id, outcome], ...]
        ("end_date", "time"),
        ("tick_size", "str"),
        ("min_order_size", "str"),
        ("neg_risk", "bool"),
        ("event_id", "str"),
        ("volume", "str"),
        ("liquidity", "str"),
        ("slug", "str"),
        ("fees", "str"),  # JSON: rate, exponent, taker_only, rebate_rate, enabled
    ),
    "resolutions": (("at", "time"), ("market", "str"), ("payouts", "str")),  # JSON token->pays
    "news": (
        ("at", "time"),  # when the bot fetched it
        ("item_id", "str"),
        ("published", "time"),
        ("title", "str"),
        ("summary", "str"),
        ("link", "str"),
        ("source", "str"),
    ),
    "forecasts": (
        ("at", "time"),
        ("market", "str"),
        ("model_probability", "str"),  # the blend: what was traded
        ("market_probability", "str"),
        ("aggregate", "str"),
        ("calibrated", "str"),
        ("weight", "str"),
        ("confidence", "str"),
        ("dispersion", "str"),
        ("error", "str"),
        ("source", "str"),
        ("samples", "int"),
        ("sample_probabilities", "strs"),
        ("sources", "strs"),
        ("retrieved", "str"),  # JSON: [[title, link, published or null], ...]
        ("rationale", "str"),
        ("actionable", "bool"),
        ("decision", "str"),
        ("reason", "str"),
    ),
}


def book_row(book: Book, at: datetime, depth: int) -> Row:
    bids, asks = book.bids[:depth], book.asks[:depth]
    return {
        "at": at,
        "token_id": book.token_id,
        "market": book.market,
        "tick_size": str(book.tick_size),
        "min_order_size": str(book.min_order_size),
        "bid_prices": [str(level.price) for level in bids],
        "bid_sizes": [str(level.size) for level in bids],
        "ask_prices": [str(level.price) for level in asks],
        "ask_sizes": [str(level.size) for level in asks],
        "book_time": book.timestamp,
        "hash": book.hash,
    }


def trade_row(fill: Fill) -> Row:
    return {
        "at": fill.timestamp,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "market": fill.market,
        "token_id": fill.token_id,
        "side": fill.side.value,
        "price": str(fill.price),
        "size": str(fill.size),
        "fee": str(fill.fee),
        "liquidity": fill.liquidity,
    }


def market_row(market: Market, at: datetime) -> Row:
    fees = market.fees
    return {
        "at": at,
        "condition_id": market.condition_id,
        "question": market.question,
        "description": market.description,
        "tokens": json.dumps([[t.token_id, t.outcome] for t in market.tokens]),
        "end_date": market.end_date,
        "tick_size": str(market.tick_size),
        "min_order_size": str(market.min_order_size),
        "neg_risk": market.neg_risk,
        "event_id": market.event_id,
        "volume": str(market.volume),
        "liquidity": str(market.liquidity),
        "slug": market.slug,
        "fees": json.dumps(
            {
                "rate": str(fees.rate),
                "exponent": fees.exponent,
                "taker_only": fees.taker_only,
                "rebate_rate": str(fees.rebate_rate),
                "enabled": fees.enabled,
            }
        ),
    }


def market_key(market: Market) -> tuple[Any, ...]:
    """What a change of a market's metadata is (volume and liquidity drift: not a change)."""
    return (market.question, market.tokens, market.end_date, market.tick_size, market.fees)


def resolution_row(resolution: Resolution) -> Row:
    payouts = {token: str(pays) for token, pays in sorted(resolution.payouts.items())}
    return {"at": resolution.at, "market": resolution.market, "payouts": json.dumps(payouts)}


def news_row(item: NewsItem, fetched_at: datetime) -> Row:
    return {
        "at": fetched_at,
        "item_id": item.item_id,
        "published": item.published,
        "title": item.title,
        "summary": item.summary,
        "link": item.link,
        "source": item.source,
    }


def forecast_row(record: ForecastRecord) -> Row:
    forecast = record.forecast
    text: Callable[[object], str] = lambda value: "" if value is None else str(value)  # noqa: E731
    return {
        "at": record.timestamp,
        "market": forecast.market,
        "model_probability": str(forecast.model_probability),
        "market_probability": str(forecast.market_probability),
        "aggregate": str(forecast.aggregate),
        "calibrated": text(forecast.calibrated),
        "weight": text(forecast.weight),
        "confidence": str(forecast.confidence),
        "dispersion": str(forecast.dispersion),
        "error": str(forecast.error),
        "source": str(forecast.source),
        "samples": forecast.samples,
        "sample_probabilities": [str(p) for p in forecast.sample_probabilities],
        "sources": list(forecast.sources),
        "retrieved": json.dumps(
            [
                [ref.title, ref.link, ref.published.isoformat() if ref.published else None]
                for ref in forecast.retrieved
            ]
        ),
        "rationale": forecast.rationale,
        "actionable": forecast.actionable,
        "decision": record.decision,
        "reason": record.reason,
    }
