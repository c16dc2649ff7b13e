"""The signal pipeline's storage protocols (`trader.signals.records`) on the database.

- `SqlUsageRecorder`: one `llm_usage` row per Messages API call; `spent_between` is how the
  daily LLM budget survives a restart.
- `SqlForecastStore`: one `forecasts` row per forecast (model vs market probability, source,
  rationale, sources, the decision and its reason); on resolution, the outcome and the Brier
  score (squared error) of the model and of the market price, and their averages for reports.
- `SqlAnalysisMemory`: per market, the fingerprint and time of the last conclusive analysis, so
  "nothing new since the last analysis" holds across restarts.
- `SqlNewsCache`: the news window's items and each feed's ETag / Last-Modified.

Forecasts are of the YES outcome: `model_probability` and `market_price` are YES probabilities,
and a market resolves with what one YES share paid (1, 0, or 0.5 for a split).

Money columns are TEXT on SQLite (see `trader.store.types`), so sums are done in Python there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, func, select

from trader.domain import ONE, ZERO
from trader.signals.pooling import Resolved
from trader.signals.records import FeedValidators, ForecastRecord, UsageRecord
from trader.signals.values import NewsItem
from trader.store.repositories import Repository, dialect_of, insert_ignore, upsert
from trader.store.tables import (
    AnalysisMemoryRow,
    FeedValidatorRow,
    ForecastRow,
    LlmUsageRow,
    NewsItemRow,
    table_of,
)


class SqlUsageRecorder(Repository):
    """`UsageRecorder` on the `llm_usage` table."""

    async def record(self, usage: UsageRecord) -> None:
        row = LlmUsageRow(
            ts=usage.timestamp,
            model=usage.model,
            purpose=usage.purpose,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cost=usage.cost,
            ok=usage.ok,
            market=usage.market or None,
            error=usage.error or None,
        )
        await self._add(row)

    async def spent_between(self, start: datetime, end: datetime) -> Decimal:
        """Total cost of the calls with start <= ts < end, exact."""
        window = (LlmUsageRow.ts >= start) & (LlmUsageRow.ts < end)
        async with self._sessions() as session:
            if dialect_of(session) == "postgresql":
                total = await session.scalar(
                    select(func.coalesce(func.sum(LlmUsageRow.cost), 0)).where(window)
                )
                return Decimal(total or 0)
            costs = await session.scalars(select(LlmUsageRow.cost).where(window))
            return sum(costs.all(), ZERO)


@dataclass(frozen=True, slots=True)
class ForecastEntry:
    """A forecast with what only the caller knows: the YES token, the model, the intent."""

    record: ForecastRecord
    token_id: str = ""
    model: str = ""  # the model's name; the source ("heuristic", "llm") when not given
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class BrierScores:
    """Mean Brier scores over resolved forecasts (lower is better; 0.25 is a coin flip)."""

    count: int = 0
    model: Decimal | None = None
    market: Decimal | None = None  # over the forecasts that had a market price
    blend: Decimal | None = None  # the traded view, over the forecasts that stored their aggregate
    blend_count: int = 0
    by_source: dict[str, tuple[int, Decimal]] = field(default_factory=dict)  # count, model


def brier(probability: Decimal, outcome: Decimal) -> Decimal:
    """The squared error of a probability for an outcome that paid `outcome` (1, 0 or 0.5)."""
    return (probability - outcome) ** 2


def _forecast_row(entry: ForecastEntry) -> ForecastRow:
    forecast = entry.record.forecast
    return ForecastRow(
        market=forecast.market,
        token_id=entry.token_id,
        model_probability=forecast.model_probability,
        model=entry.model or str(forecast.source),
        source=str(forecast.source),
        created_at=entry.record.timestamp,
        market_price=forecast.market_probability,
        confidence=forecast.confidence,
        rationale=forecast.rationale,
        sources=list(forecast.sources),
        correlation_id=entry.correlation_id,
        decision=entry.record.decision,
        reason=entry.record.reason,
        samples=[str(p) for p in forecast.sample_probabilities],
        aggregate=forecast.aggregate,
        model_weight=forecast.weight,
        retrieved=[
            {
                "title": ref.title,
                "link": ref.link,
                "published": ref.published.isoformat() if ref.published else None,
                "via": ref.via,
            }
            for ref in forecast.retrieved
        ],
    )


def _score(row: ForecastRow, payout: Decimal, at: datetime) -> None:
    """Resolve one row: the model's own view (its aggregate; the traded view on rows older than
    the aggregate column), the market price and the blend, each against what the token paid."""
    row.resolved_outcome = payout
    row.resolved_at = at
    if row.aggregate is not None:
        row.brier_model = brier(row.aggregate, payout)
        row.brier_blend = brier(row.model_probability, payout)
    else:
        row.brier_model = brier(row.model_probability, payout)
    if row.market_price is not None:
        row.brier_market = brier(row.market_price, payout)


class SqlForecastStore(Repository):
    """`ForecastRecorder` on the `forecasts` table, with resolution and Brier scores."""

    async def record(self, record: ForecastRecord) -> None:
        await self.record_many([ForecastEntry(record)])

    async def record_many(self, entries: Sequence[ForecastEntry]) -> None:
        """Insert several forecasts in one transaction."""
        if not entries:
            return
        async with self._sessions.begin() as session:
            session.add_all([_forecast_row(entry) for entry in entries])

    async def for_market(self, market: str) -> list[ForecastRow]:
        query = select(ForecastRow).where(ForecastRow.market == market)
        return await self._all(query.order_by(ForecastRow.created_at, ForecastRow.id))

    async def resolve_market(
        self, market: str, yes_payout: Decimal, *, at: datetime | None = None
    ) -> list[ForecastRow]:
        """Record what a YES share of `market` paid on its unresolved forecasts, with the Brier
        score of the model and of the market price; returns the forecasts it resolved."""
        if not ZERO <= yes_payout <= ONE:
            raise ValueError(f"a YES share pays between 0 and 1, not {yes_payout}")
        at = at or self._clock.now()
        query = select(ForecastRow).where(
            (ForecastRow.market == market) & ForecastRow.resolved_at.is_(None)
        )
        async with self._sessions.begin() as session:
            rows = list((await session.scalars(query.with_for_update())).all())
            for row in rows:
                _score(row, yes_payout, at)
        return rows

    async def resolve_payouts(
        self, market: str, payouts: Mapping[str, Decimal], *, at: datetime | None = None
    ) -> list[ForecastRow]:
        """Resolve `market`'s unresolved forecasts by its payout vector: each row against what
        its own token paid (1, 0, or 0.5 for a 50/50), with the Brier scores of the model and
        the market price. Rows of a token the vector does not name stay unresolved."""
        at = at or self._clock.now()
        query = select(ForecastRow).where(
            (ForecastRow.market == market) & ForecastRow.resolved_at.is_(None)
        )
        resolved: list[ForecastRow] = []
        async with self._sessions.begin() as session:
            for row in (await session.scalars(query.with_for_update())).all():
                payout = payouts.get(row.token_id)
                if payout is None or not ZERO <= payout <= ONE:
                    continue
                _score(row, payout, at)
                resolved.append(row)
        return resolved

    async def unresolved_markets(self) -> list[str]:
        """The markets that have forecasts not yet resolved."""
        query = select(ForecastRow.market).where(ForecastRow.resolved_at.is_(None)).distinct()
        async with self._sessions() as session:
            return sorted((await session.scalars(query)).all())

    async def scores(self, start: datetime, end: datetime) -> BrierScores:
        """Mean Brier scores of the forecasts resolved in [start, end)."""
        query = select(ForecastRow).where(
            (ForecastRow.resolved_at >= start)
            & (ForecastRow.resolved_at < end)
            & ForecastRow.brier_model.is_not(None)
        )
        rows: list[ForecastRow] = await self._all(query)
        if not rows:
            return BrierScores()
        model = [row.brier_model for row in rows if row.brier_model is not None]
        market = [row.brier_market for row in rows if row.brier_market is not None]
        blend = [row.brier_blend for row in rows if row.brier_blend is not None]
        sources: dict[str, list[Decimal]] = {}
        for row in rows:
            if row.brier_model is not None:
                sources.setdefault(row.source, []).append(row.brier_model)
        return BrierScores(
            count=len(rows),
            model=_mean(model),
            market=_mean(market),
            blend=_mean(blend),
            blend_count=len(blend),
            by_source={name: (len(v), sum(v, ZERO) / len(v)) for name, v in sources.items()},
        )

    async def resolved_for_fit(self, source: str = "llm", limit: int = 5000) -> list[Resolved]:
        """The latest `limit` resolved forecasts of `source` that stored their aggregate and a
        market price: what the daily refit of the calibration and the blend weight reads."""
        query = (
            select(ForecastRow.aggregate, ForecastRow.market_price, ForecastRow.resolved_outcome)
            .where(
                (ForecastRow.source == source)
                & ForecastRow.resolved_outcome.is_not(None)
                & ForecastRow.aggregate.is_not(None)
                & ForecastRow.market_price.is_not(None)
            )
            .order_by(ForecastRow.resolved_at.desc(), ForecastRow.id.desc())
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [
            Resolved(float(q), float(p), float(y))
            for q, p, y in rows
            if q is not None and p is not None and y is not None
        ]


def _mean(values: Sequence[Decimal]) -> Decimal | None:
    return sum(values, ZERO) / len(values) if values else None


class SqlAnalysisMemory(Repository):
    """`AnalysisMemory` on the `analysis_memory` table: one row per market, overwritten."""

    async def last_analysis(self, market: str) -> tuple[str, datetime] | None:
        async with self._sessions() as session:
            row = await session.get(AnalysisMemoryRow, market)
        return None if row is None else (row.fingerprint, row.analysed_at)

    async def remember(self, market: str, fingerprint: str, when: datetime) -> None:
        values = {"market": market, "fingerprint": fingerprint, "analysed_at": when}
        async with self._sessions.begin() as session:
            table = table_of(AnalysisMemoryRow)
            await session.execute(upsert(dialect_of(session), table, values, ["market"]))


class SqlNewsCache(Repository):
    """`NewsCache` on `news_items` and `feed_validators`."""

    async def load_items(self, since: datetime) -> Sequence[NewsItem]:
        query = select(NewsItemRow).where(NewsItemRow.published >= since)
        rows: list[NewsItemRow] = await self._all(
            query.order_by(NewsItemRow.published, NewsItemRow.item_id)
        )
        return [
            NewsItem(
                item_id=row.item_id,
                title=row.title,
                link=row.link,
                summary=row.summary,
                published=row.published,
                source=row.source,
            )
            for row in rows
        ]

    async def save_items(self, items: Iterable[NewsItem]) -> None:
        """Insert the items; an item already stored (same id) is left as it is."""
        batch = list(items)
        if not batch:
            return
        table = table_of(NewsItemRow)
        async with self._sessions.begin() as session:
            dialect = dialect_of(session)
            for item in batch:
                values = {
                    "item_id": item.item_id,
                    "title": item.title,
                    "link": item.link,
                    "summary": item.summary,
                    "published": item.published,
                    "source": item.source,
                }
                await session.execute(insert_ignore(dialect, table, values))

    async def prune(self, before: datetime) -> int:
        """Delete the items published before `before` (out of the window); how many."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(NewsItemRow).where(NewsItemRow.published < before)
            )
        return int(getattr(result, "rowcount", 0))

    async def load_validators(self) -> dict[str, FeedValidators]:
        rows: list[FeedValidatorRow] = await self._all(select(FeedValidatorRow))
        return {row.url: FeedValidators(row.etag, row.last_modified) for row in rows}

    async def save_validators(self, url: str, validators: FeedValidators) -> None:
        values = {
            "url": url,
            "etag": validators.etag,
            "last_modified": validators.last_modified,
            "updated_at": self._clock.now(),
        }
        async with self._sessions.begin() as session:
            table = table_of(FeedValidatorRow)
            await session.execute(upsert(dialect_of(session), table, values, ["url"]))
