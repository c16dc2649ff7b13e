"""Strategies read facts and return intents; they never call an executor.

- `LLMEdgeStrategy`: triage -> analysis (LLM ensemble or heuristic) -> sizing, for one market.
- `CompleteSetArbStrategy`: when the YES and NO best asks sum below 1 - fees - margin, buy both
  in equal size: one YES plus one NO always pays 1. The two legs form an all-or-none group whose
  unwind instruction tells the executor to sell a filled leg if the other fails.

Each has `enabled` and `experimental`; an experimental strategy runs only in paper mode.

The heuristic never trades real money unless the operator allows it: in live mode a heuristic
forecast is shown and recorded, but sized into no intent while `allow_heuristic_live` is off
(`heuristic_gate` says why, and that reason is what the forecast row records).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from trader.domain import (
    ONE,
    ZERO,
    Book,
    BookLevel,
    FeeSchedule,
    Market,
    OrderIntent,
    OrderType,
    Side,
    TradingMode,
)
from trader.fees import fee_per_share
from trader.signals.analysis import AnalysisResult, AnalysisService
from trader.signals.sizing import (
    CENT_SHARES,
    MIN_MARKETABLE_NOTIONAL,
    SizingConfig,
    SizingDecision,
    size_forecast,
)
from trader.signals.triage import Triage, TriageDecision
from trader.signals.values import AnalysisRequest, IntentGroup, NewsMatch, Source, UnwindAction

HEURISTIC_NOT_LIVE = "heuristic forecast: not traded in live mode (allow_heuristic_live off)"


def heuristic_gate(source: Source, mode: TradingMode, *, allowed: bool) -> str:
    """Why a forecast from `source` may not become an order in `mode`, or "" when it may."""
    if source is Source.HEURISTIC and mode is TradingMode.LIVE and not allowed:
        return HEURISTIC_NOT_LIVE
    return ""


class Strategy:
    name = "strategy"

    def __init__(self, *, enabled: bool = True, experimental: bool = False) -> None:
        self.enabled = enabled
        self.experimental = experimental

    def runs_in(self, mode: TradingMode) -> bool:
        return self.enabled and (not self.experimental or mode is TradingMode.PAPER)

    def not_running(self, mode: TradingMode) -> str:
        if not self.enabled:
            return f"{self.name} disabled"
        return f"{self.name} is experimental: paper mode only, now {mode}"


@dataclass(frozen=True, slots=True)
class EdgeEvaluation:
    """Everything the LLM edge strategy decided about one market, stage by stage."""

    triage: TriageDecision | None
    analysis: AnalysisResult | None = None
    sizing: SizingDecision | None = None
    group: IntentGroup | None = None
    note: str = ""  # why the strategy did not run, or why its sized order was held back

    @property
    def reason(self) -> str:
        if self.triage is None or self.note:
            return self.note
        if self.sizing is not None:
            return self.sizing.reason
        if self.analysis is not None:
            return self.analysis.why
        return self.triage.reason


class LLMEdgeStrategy(Strategy):
    name = "llm_edge"

    def __init__(
        self,
        *,
        triage: Triage,
        analysis: AnalysisService,
        sizing: SizingConfig | None = None,
        enabled: bool = True,
        experimental: bool = False,
    ) -> None:
        super().__init__(enabled=enabled, experimental=experimental)
        self.triage = triage
        self.analysis = analysis
        self.sizing = sizing or SizingConfig()

    async def evaluate(
        self,
        market: Market,
        books: dict[str, Book],
        market_probability: Decimal,
        news: tuple[NewsMatch, ...],
        *,
        bankroll: Decimal,
        now: datetime,
        mode: TradingMode,
        refresh: Callable[[], Awaitable[dict[str, Book]]] | None = None,
        held: Mapping[str, Decimal] | None = None,
        allow_heuristic_live: bool = False,
    ) -> EdgeEvaluation:
        """Screen, analyse, size. The analysis can take minutes: the books are read again
        (`refresh`) after it returns, so the order is sized on prices as they are then;
        `held` is what is held of each token, so the stake is sized net of it. A heuristic
        forecast in live mode becomes no intent unless `allow_heuristic_live`."""
        if not self.runs_in(mode):
            return EdgeEvaluation(None, note=self.not_running(mode))
        # No leakage: an item published after "now" (a replay, a clock skew) is never used.
        news = tuple(m for m in news if m.item.published <= now)
        triage = await self.triage.decide(market.condition_id, market_probability, news, now=now)
        if not triage.analyse:
            return EdgeEvaluation(triage)
        request = AnalysisRequest(market, market_probability, triage.news, now)
        analysis = await self.analysis.analyse(request)
        if analysis.conclusive:
            await self.triage.remember(triage, now)
        if analysis.forecast is None:
            return EdgeEvaluation(triage, analysis)
        if refresh is not None:
            books = await refresh()
        sizing = size_forecast(
            analysis.forecast, market, books, bankroll, self.sizing, strategy=self.name, held=held
        )
        held_back = heuristic_gate(analysis.forecast.source, mode, allowed=allow_heuristic_live)
        if sizing.intent is not None and held_back:
            return EdgeEvaluation(triage, analysis, sizing, note=held_back)
        group = None
        if sizing.intent is not None:
            group = IntentGroup((sizing.intent,), self.name, sizing.intent.reason)
        return EdgeEvaluation(triage, analysis, sizing, group)


@dataclass(frozen=True, slots=True)
class ArbConfig:
    margin: Decimal = Decimal("0.01")  # per complete set, after fees
    max_notional: Decimal = Decimal(100)  # both legs together, fees included


@dataclass(frozen=True, slots=True)
class ArbDecision:
    group: IntentGroup | None
    reason: str
    edge: Decimal | None = None  # profit per complete set at the best asks, after fees


class CompleteSetArbStrategy(Strategy):
    name = "complete_set_arb"

    def __init__(
        self, config: ArbConfig | None = None, *, enabled: bool = True, experimental: bool = True
    ) -> None:
        super().__init__(enabled=enabled, experimental=experimental)
        self.config = config or ArbConfig()

    @staticmethod
    def _cost(price: Decimal, fees: FeeSchedule) -> Decimal:
        return price + fee_per_share(price, fees)

    def _walk(
        self, yes: tuple[BookLevel, ...], no: tuple[BookLevel, ...], fees: FeeSchedule
    ) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """Equal shares of YES and NO while each pair of levels keeps the margin.

        Returns (shares, outlay, worst YES price, worst NO price).
        """
        i = j = 0
        left_yes, left_no = (yes[0].size, no[0].size) if yes and no else (ZERO, ZERO)
        shares = outlay = ZERO
        worst_yes = worst_no = ZERO
        while i < len(yes) and j < len(no):
            pair = self._cost(yes[i].price, fees) + self._cost(no[j].price, fees)
            if ONE - pair < self.config.margin:
                break
            room = ((self.config.max_notional - outlay) / pair).quantize(CENT_SHARES, ROUND_DOWN)
            take = min(left_yes, left_no, room).quantize(CENT_SHARES, ROUND_DOWN)
            if take <= ZERO:
                break
            shares += take
            outlay += take * pair
            worst_yes, worst_no = yes[i].price, no[j].price
            left_yes -= take
            left_no -= take
            if left_yes <= ZERO and (i := i + 1) < len(yes):
                left_yes = yes[i].size
            if left_no <= ZERO and (j := j + 1) < len(no):
                left_no = no[j].size
        return shares, outlay, worst_yes, worst_no

    def propose(self, market: Market, books: dict[str, Book], mode: TradingMode) -> ArbDecision:
        if not self.runs_in(mode):
            return ArbDecision(None, self.not_running(mode))
        yes_token, no_token = market.token("Yes"), market.token("No")
        if yes_token is None or no_token is None:
            return ArbDecision(None, "not a YES/NO market")
        yes, no = books.get(yes_token.token_id), books.get(no_token.token_id)
        if yes is None or no is None or not yes.asks or not no.asks:
            return ArbDecision(None, "no asks on both sides")
        fees = market.fees
        edge = ONE - self._cost(yes.asks[0].price, fees) - self._cost(no.asks[0].price, fees)
        if edge < self.config.margin:
            return ArbDecision(None, f"set costs {ONE - edge:.4f}: no arbitrage", edge)
        shares, outlay, worst_yes, worst_no = self._walk(yes.asks, no.asks, fees)
        minimum = max(yes.min_order_size, no.min_order_size)
        if shares < minimum or min(worst_yes, worst_no) * shares < MIN_MARKETABLE_NOTIONAL:
            return ArbDecision(None, f"{shares} sets below the venue minimum", edge)
        reason = f"complete set: {shares} sets for {outlay:.4f}, {edge:.4f}/set at the best asks"
        legs = tuple(
            OrderIntent(
                market=market.condition_id,
                token_id=token.token_id,
                side=Side.BUY,
                limit_price=price,
                size=shares,
                strategy=self.name,
                reason=reason,
                order_type=OrderType.FOK,
            )
            for token, price in ((yes_token, worst_yes), (no_token, worst_no))
        )
        group = IntentGroup(
            legs, self.name, reason, all_or_none=True, unwind=UnwindAction.SELL_FILLED_LEGS
        )
        return ArbDecision(group, reason, edge)
