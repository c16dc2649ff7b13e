from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trader.signals.triage import Triage, TriageConfig, fingerprint
from trader.signals.values import NewsItem, NewsMatch

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def match(item_id: str, relevance: float) -> NewsMatch:
    return NewsMatch(NewsItem(item_id, f"title {item_id}", "", "", NOW, "wire"), relevance)


async def test_triage_skips_extreme_prices_with_the_band_in_the_reason() -> None:
    triage = Triage(TriageConfig(low=Decimal("0.05"), high=Decimal("0.95")))
    for price in (Decimal("0.02"), Decimal("0.97")):
        decision = await triage.decide("m", price, [match("a", 0.9)], now=NOW)
        assert not decision.analyse
        assert decision.reason.startswith("price extreme")


async def test_triage_skips_when_no_news_is_relevant_enough() -> None:
    triage = Triage(TriageConfig(min_relevance=0.3))
    decision = await triage.decide("m", Decimal("0.5"), [match("a", 0.2)], now=NOW)
    assert not decision.analyse
    assert "low relevance" in decision.reason
    assert decision.relevance == pytest.approx(0.2)
    assert decision.news == ()


async def test_triage_analyses_new_relevant_news_and_passes_only_relevant_items() -> None:
    triage = Triage(TriageConfig(min_relevance=0.3))
    decision = await triage.decide("m", Decimal("0.5"), [match("a", 0.5), match("b", 0.1)], now=NOW)
    assert decision.analyse
    assert [m.item.item_id for m in decision.news] == ["a"]


async def test_nothing_new_after_remembering_until_news_or_price_bucket_changes() -> None:
    triage = Triage(TriageConfig(price_bucket=Decimal("0.02")))
    first = await triage.decide("m", Decimal("0.500"), [match("a", 0.5)], now=NOW)
    await triage.remember(first, NOW)

    same = await triage.decide(
        "m", Decimal("0.515"), [match("a", 0.5)], now=NOW
    )  # same 0.02 bucket
    assert not same.analyse
    assert same.reason == "nothing new since the last analysis"

    moved = await triage.decide("m", Decimal("0.525"), [match("a", 0.5)], now=NOW)
    assert moved.analyse
    fresh_news = await triage.decide(
        "m", Decimal("0.5"), [match("a", 0.5), match("b", 0.4)], now=NOW
    )
    assert fresh_news.analyse


async def test_without_required_news_the_price_alone_drives_reanalysis() -> None:
    triage = Triage(TriageConfig(require_news=False))
    decision = await triage.decide("m", Decimal("0.5"), [], now=NOW)
    assert decision.analyse
    await triage.remember(decision, NOW)
    assert not (await triage.decide("m", Decimal("0.5"), [], now=NOW)).analyse


def test_fingerprint_ignores_news_order_and_duplicates() -> None:
    assert fingerprint(Decimal("0.5"), ["b", "a", "a"]) == fingerprint(Decimal("0.50"), ["a", "b"])
    assert fingerprint(Decimal("0.5"), ["a"]) != fingerprint(Decimal("0.52"), ["a"])


def test_triage_config_rejects_an_inverted_band() -> None:
    with pytest.raises(ValueError, match="low < high"):
        TriageConfig(low=Decimal("0.9"), high=Decimal("0.1"))


async def test_an_unchanged_market_is_reanalysed_once_its_analysis_is_old() -> None:
    triage = Triage(TriageConfig(reanalyse_after=timedelta(hours=6)))
    first = await triage.decide("m", Decimal("0.5"), [match("a", 0.5)], now=NOW)
    await triage.remember(first, NOW)
    later = NOW + timedelta(hours=5)
    assert not (await triage.decide("m", Decimal("0.5"), [match("a", 0.5)], now=later)).analyse
    stale = await triage.decide(
        "m", Decimal("0.5"), [match("a", 0.5)], now=NOW + timedelta(hours=7)
    )
    assert stale.analyse
    assert stale.reason.startswith("unchanged, but the last analysis is 7:00:00 old")
