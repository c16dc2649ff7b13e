"""The signal pipeline's storage on both databases: usage, forecasts, memory, news."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.clock import FakeClock
from trader.signals.budget import DailyBudget
from trader.signals.pooling import CalibrationHolder, PoolingConfig, Resolved
from trader.signals.records import FeedValidators, ForecastRecord, UsageRecord
from trader.signals.refit import CalibrationRefit
from trader.signals.values import Forecast, NewsItem, Source, SourceRef
from trader.store.repositories import ControlStateRepository, LlmUsageRepository
from trader.store.signals_repo import (
    ForecastEntry,
    SqlAnalysisMemory,
    SqlForecastStore,
    SqlNewsCache,
    SqlUsageRecorder,
    brier,
)

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def usage(when: datetime, cost: str, *, ok: bool = True, error: str = "") -> UsageRecord:
    return UsageRecord(
        timestamp=when,
        model="claude-sonnet-4-6",
        purpose="analysis",
        input_tokens=1200,
        output_tokens=150,
        cache_read_tokens=900,
        cache_write_tokens=0,
        cost=Decimal(cost),
        ok=ok,
        error=error,
        market="0xabc",
    )


def forecast(market: str, model: str, price: str, source: Source = Source.LLM) -> Forecast:
    return Forecast(
        market=market,
        model_probability=Decimal(model),
        market_probability=Decimal(price),
        confidence=Decimal("0.7"),
        dispersion=Decimal("0.02"),
        source=source,
        rationale="base rate; recent news",
        sources=("https://news.test/a", "https://news.test/b"),
        samples=3,
        aggregate=Decimal(model),
    )


async def test_usage_rows_keep_every_field_and_spend_is_summed_per_window_exactly(
    sessions: Sessions, clock: FakeClock
) -> None:
    recorder = SqlUsageRecorder(sessions, clock)
    await recorder.record(usage(T0 - timedelta(hours=1), "0.10"))
    await recorder.record(usage(T0, "0.0123456"))
    await recorder.record(usage(T0 + timedelta(hours=1), "0.2", ok=False, error="timeout"))

    assert await recorder.spent_between(T0, T0 + timedelta(hours=2)) == Decimal("0.2123456")
    assert await recorder.spent_between(T0 - timedelta(hours=1), T0) == Decimal("0.10")
    assert await recorder.spent_between(T0 + timedelta(days=1), T0 + timedelta(days=2)) == 0
    rows = await LlmUsageRepository(sessions, clock).recent()
    failed = rows[0]
    assert (failed.ok, failed.error, failed.market, failed.cache_read_tokens) == (
        False,
        "timeout",
        "0xabc",
        900,
    )
    assert rows[1].error is None


async def test_the_daily_budget_reads_todays_spend_back_after_a_restart(
    sessions: Sessions, clock: FakeClock
) -> None:
    recorder = SqlUsageRecorder(sessions, clock)
    await recorder.record(usage(T0 - timedelta(days=1), "3"))  # yesterday: not counted
    await recorder.record(usage(T0 - timedelta(hours=2), "1.25"))

    budget = DailyBudget(Decimal(5), clock, UTC, ledger=recorder)  # a fresh process

    state = await budget.state()
    assert state.spent == Decimal("1.25")
    assert state.remaining == Decimal("3.75")


async def test_forecasts_are_stored_and_scored_on_resolution(
    sessions: Sessions, clock: FakeClock
) -> None:
    store = SqlForecastStore(sessions, clock)
    await store.record_many(
        [
            ForecastEntry(
                ForecastRecord(T0, forecast("0xm1", "0.7", "0.6"), "trade", "buy Yes"),
                token_id="0xm1-yes",
                model="claude-sonnet-4-6",
                correlation_id="corr-1",
            ),
            ForecastEntry(
                ForecastRecord(
                    T0, forecast("0xm1", "0.55", "0.6", Source.HEURISTIC), "skip", "edge 0.00"
                )
            ),
            ForecastEntry(ForecastRecord(T0, forecast("0xm2", "0.2", "0.3"), "skip", "no edge")),
        ]
    )

    rows = await store.for_market("0xm1")
    first = rows[0]
    assert (first.token_id, first.model, first.source, first.correlation_id) == (
        "0xm1-yes",
        "claude-sonnet-4-6",
        "llm",
        "corr-1",
    )
    assert (first.model_probability, first.market_price, first.decision) == (
        Decimal("0.7"),
        Decimal("0.6"),
        "trade",
    )
    assert first.sources == ["https://news.test/a", "https://news.test/b"]
    assert rows[1].model == "heuristic"

    clock.advance(86_400)
    resolved = await store.resolve_market("0xm1", Decimal(1))

    assert len(resolved) == 2
    rows = await store.for_market("0xm1")
    assert [(r.brier_model, r.brier_market) for r in rows] == [
        (Decimal("0.09"), Decimal("0.16")),
        (Decimal("0.2025"), Decimal("0.16")),
    ]
    assert all(r.resolved_outcome == 1 and r.resolved_at == clock.now() for r in rows)
    assert await store.resolve_market("0xm1", Decimal(0)) == []  # resolved once only
    assert (await store.for_market("0xm2"))[0].resolved_at is None

    scores = await store.scores(T0, clock.now() + timedelta(seconds=1))
    assert scores.count == 2
    assert scores.model == (Decimal("0.09") + Decimal("0.2025")) / 2
    assert scores.market == Decimal("0.16")
    assert scores.by_source == {
        "llm": (1, Decimal("0.09")),
        "heuristic": (1, Decimal("0.2025")),
    }
    assert (await store.scores(T0, T0 + timedelta(hours=1))).count == 0


def test_brier_scores_a_split_market_too() -> None:
    assert brier(Decimal("0.7"), Decimal("0.5")) == Decimal("0.04")


async def test_resolution_refuses_a_payout_outside_zero_to_one(
    sessions: Sessions, clock: FakeClock
) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        await SqlForecastStore(sessions, clock).resolve_market("0xm1", Decimal(2))


async def test_analysis_memory_keeps_the_latest_fingerprint_per_market(
    sessions: Sessions, clock: FakeClock
) -> None:
    memory = SqlAnalysisMemory(sessions, clock)
    assert await memory.last_analysis("0xm1") is None

    await memory.remember("0xm1", "fp-1", T0)
    await memory.remember("0xm1", "fp-2", T0 + timedelta(hours=1))
    await memory.remember("0xm2", "fp-9", T0)

    again = SqlAnalysisMemory(sessions, clock)  # as after a restart
    assert await again.last_analysis("0xm1") == ("fp-2", T0 + timedelta(hours=1))
    assert await again.last_analysis("0xm2") == ("fp-9", T0)


def item(item_id: str, published: datetime, title: str = "Talks advance") -> NewsItem:
    return NewsItem(
        item_id=item_id,
        title=title,
        link=f"https://news.test/{item_id}",
        summary="Officials said the talks were moving ahead.",
        published=published,
        source="wire",
    )


async def test_news_items_are_kept_by_window_deduplicated_and_pruned(
    sessions: Sessions, clock: FakeClock
) -> None:
    cache = SqlNewsCache(sessions, clock)
    await cache.save_items([item("a", T0 - timedelta(hours=50)), item("b", T0)])
    await cache.save_items([item("b", T0, title="changed"), item("c", T0 - timedelta(hours=1))])
    await cache.save_items([])

    window = await cache.load_items(T0 - timedelta(hours=48))
    assert [i.item_id for i in window] == ["c", "b"]  # oldest first
    assert window[1] == item("b", T0)  # the first copy stays

    assert await cache.prune(T0 - timedelta(hours=48)) == 1
    assert [i.item_id for i in await cache.load_items(T0 - timedelta(days=30))] == ["c", "b"]


async def test_feed_validators_are_upserted_per_url(sessions: Sessions, clock: FakeClock) -> None:
    cache = SqlNewsCache(sessions, clock)
    url = "https://news.test/feed.rss?" + "x" * 600  # long URLs are fine
    await cache.save_validators(url, FeedValidators('"v1"', None))
    await cache.save_validators(url, FeedValidators('"v2"', "Sun, 01 Mar 2026 11:00:00 GMT"))
    await cache.save_validators("https://other.test/atom", FeedValidators(None, None))

    assert await SqlNewsCache(sessions, clock).load_validators() == {
        url: FeedValidators('"v2"', "Sun, 01 Mar 2026 11:00:00 GMT"),
        "https://other.test/atom": FeedValidators(None, None),
    }


async def test_a_forecast_keeps_its_samples_aggregate_blend_and_dated_sources(
    sessions: Sessions, clock: FakeClock
) -> None:
    store = SqlForecastStore(sessions, clock)
    pooled = dataclasses.replace(
        forecast("0xm3", "0.6347", "0.60"),
        aggregate=Decimal("0.80"),
        sample_probabilities=(Decimal("0.75"), Decimal("0.80"), Decimal("0.85")),
        weight=Decimal("0.15"),
        retrieved=(
            SourceRef("Talks advance", "https://news.test/a", T0 - timedelta(hours=3), "gdelt"),
            SourceRef("Undated note", "https://news.test/b", None, "exa"),
        ),
    )
    await store.record_many(
        [ForecastEntry(ForecastRecord(T0, pooled, "trade", "buy"), token_id="0xm3-yes")]
    )
    await store.resolve_payouts("0xm3", {"0xm3-yes": Decimal(1)})

    row = (await store.for_market("0xm3"))[0]
    assert row.samples == ["0.75", "0.80", "0.85"]
    assert (row.aggregate, row.model_probability, row.model_weight) == (
        Decimal("0.80"),
        Decimal("0.6347"),
        Decimal("0.15"),
    )
    assert row.retrieved == [
        {
            "title": "Talks advance",
            "link": "https://news.test/a",
            "published": "2026-03-01T09:00:00+00:00",
            "via": "gdelt",
        },
        {"title": "Undated note", "link": "https://news.test/b", "published": None, "via": "exa"},
    ]
    # the model is scored on its own view, the blend on what was traded
    assert (row.brier_model, row.brier_market, row.brier_blend) == (
        Decimal("0.04"),
        Decimal("0.16"),
        Decimal("0.13344409"),
    )
    scores = await store.scores(T0, clock.now() + timedelta(seconds=1))
    assert (scores.blend, scores.blend_count) == (Decimal("0.13344409"), 1)
    assert await store.resolved_for_fit() == [Resolved(0.8, 0.6, 1.0)]


async def test_the_daily_refit_fits_on_stored_forecasts_and_survives_a_restart(
    sessions: Sessions, clock: FakeClock
) -> None:
    # a model that hedges: it says 0.6 where the truth (and the outcome frequency) is 0.8
    store = SqlForecastStore(sessions, clock)
    entries = []
    for n in range(100):
        model, yes = ("0.6", n % 5 != 0) if n < 50 else ("0.4", n % 5 == 0)
        view = dataclasses.replace(forecast(f"0xr{n}", model, "0.5"), aggregate=Decimal(model))
        entries.append(ForecastEntry(ForecastRecord(T0, view, "skip", ""), token_id=f"0xr{n}-yes"))
    await store.record_many(entries)
    for n in range(100):
        yes = n % 5 != 0 if n < 50 else n % 5 == 0
        await store.resolve_payouts(f"0xr{n}", {f"0xr{n}-yes": Decimal(1 if yes else 0)})
    state = ControlStateRepository(sessions, clock)
    holder = CalibrationHolder(PoolingConfig(min_resolved=100))

    fitted = await CalibrationRefit(holder, store, state, clock).run()

    # logit(0.8) / logit(0.6) = 3.42: the fit extremises the hedging model back
    assert fitted.resolved == 100
    assert fitted.slope == pytest.approx(3.42, abs=0.01)
    assert holder.current.calibrate(Decimal("0.6")) == Decimal("0.8000")
    restarted = CalibrationHolder(PoolingConfig(min_resolved=100))
    loaded = await CalibrationRefit(restarted, store, state, clock).load()
    assert loaded == fitted
    assert "on 100 resolved forecasts" in loaded.describe()
