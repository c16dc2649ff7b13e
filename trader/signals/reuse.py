"""A deep analysis drawn again from the same evidence is not paid for twice.

The deep analysis never sees the price (the screen does): its samples are drawn from the
market's evidence alone, the block `prompts.market_context` shows every sample (question, end
date, rules, news, retrieved articles). The triage still sends a market back to analysis when
its price moves a bucket, so the edge is judged at the new price; with nothing else changed,
new samples would be drawn from the very prompt the last ones were, at the full price of an
analysis. `ForecastReuse` keeps the usable sample estimates of each market's last LLM ensemble
under a digest of that evidence, and hands them back while they are fresh: they are combined
again at the new price and calibration, so only the pooling with the market is redone. The
screen still runs first (it sees the price). Kept in memory: a restart draws new samples.

Each reuse is still a forecast row of its own (the exits read the blend a trade was entered
on from the latest traded row), so the calibration refit counts a reused sample set once per
decision, as it counts the near-identical sets a re-analysis drew before there was reuse.

Fresh means: the same evidence, byte for byte; made at most `window` before the request's
`now` (the request's clock, so a backtest on simulated time behaves the same; a `now` before
the entry's is another run and never reuses it); and, for a market with an end date, by less
than a tenth of the time it has left (an hour-old forecast of a market closing in two hours is
not reused). New news, new articles or edited rules are new evidence and get new samples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from trader.signals.kept import KeptByMarket
from trader.signals.prompts import market_context
from trader.signals.values import AnalysisRequest, Estimate

MAX_MARKETS = 1_000  # entries kept, least recently used dropped first


@dataclass(frozen=True, slots=True)
class Reused:
    made_at: datetime  # the request's `now` when the samples were drawn
    estimates: tuple[Estimate, ...]
    asked: int  # samples asked for then


class ForecastReuse:
    def __init__(self, window: timedelta, *, max_markets: int = MAX_MARKETS) -> None:
        if window <= timedelta(0):
            raise ValueError("the reuse window must be positive")
        self.window = window
        self._kept: KeptByMarket[Reused] = KeptByMarket(max_markets)

    def find(self, request: AnalysisRequest) -> Reused | None:
        """The kept samples for this evidence, if still fresh at `request.now`."""
        found = self._kept.find(
            request.market.condition_id, _evidence(request), request.now, self._limit(request)
        )
        return None if found is None else found[1]

    def keep(self, request: AnalysisRequest, estimates: Sequence[Estimate], asked: int) -> None:
        # the pooling reads the numbers and the key factors, never a sample's reasoning (up to
        # some thousands of characters each): not kept
        lean = tuple(replace(estimate, reasoning="") for estimate in estimates)
        kept = Reused(request.now, lean, asked)
        self._kept.keep(request.market.condition_id, _evidence(request), request.now, kept)

    def __len__(self) -> int:
        return len(self._kept)

    def _limit(self, request: AnalysisRequest) -> timedelta:
        end = request.market.end_date
        if end is None:
            return self.window
        return min(self.window, max(timedelta(0), end - request.now) / 10)


def _evidence(request: AnalysisRequest) -> bytes:
    return hashlib.blake2b(market_context(request).encode(), digest_size=16).digest()
