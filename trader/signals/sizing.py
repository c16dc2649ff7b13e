"""From a forecast to an order intent: edge after fees at executable prices, fractional Kelly.

A YES view buys the YES token; a NO view buys the NO token (never a short sale of YES). The
book's asks are walked best first. A level is acceptable while the edge at that level, after
the taker fee, is at least `min_edge` and above the forecast's measured `error` (the edge at
the ask is the edge over the mid less half the spread and the fee, so a trade needs an edge
larger than fees + half the spread + the model's error); the intent's limit price is the worst
acceptable level it uses. At each level the target outlay is the fractional Kelly stake
computed at that level's price (it only shrinks as the price worsens), capped by
`max_notional`; the walk stops when the outlay reaches the target or the acceptable depth runs
out. Shares are rounded down to 0.01.

Fees: the market's own schedule (`trader.fees`: `rate x (p(1-p))^e` per share, paid in pUSD on
top of the price); the same function risk and the paper venue use. A market whose schedule the
venue does not state (`FeeSchedule.stated` false) is refused with `UNSTATED_FEES`, never sized
on a guessed rate.

The intent is a marketable buy of a dollar amount (the venue's market-buy amount is collateral):
`notional` is the planned spend on shares, rounded down to the cent, and the limit price is the
worst level planned. So live spends what was planned, paper fills the same way, and risk values
the order at the amount it was planned for, not at shares x limit (which would exceed the cap
whenever the plan walks more than one level).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal

from trader.domain import ONE, ZERO, Book, FeeSchedule, Market, OrderIntent, OrderType, Side
from trader.fees import fee_per_share, walk_buy
from trader.signals.values import Forecast

CENT = Decimal("0.01")
_HUNDREDTH_CENT = Decimal("0.0001")  # an edge must exceed the error, not equal it
BINARY = ("Yes", "No")
CENT_SHARES = Decimal("0.01")
MIN_MARKETABLE_NOTIONAL = Decimal(1)  # the venue refuses marketable buys under $1
UNSTATED_FEES = "UNSTATED_FEES"
UNSTATED_FEES_REASON = (
    f"{UNSTATED_FEES}: the venue states no fee schedule for this market, so it is not sized "
    "on a guessed rate (FEE_RATE_OVERRIDE_BPS states one for every market)"
)


@dataclass(frozen=True, slots=True)
class SizingConfig:
    kelly_fraction: Decimal = Decimal("0.25")
    max_notional: Decimal = Decimal(100)  # pUSD per intent, fees included
    min_edge: Decimal = Decimal("0.02")  # probability points per share, after fees

    def __post_init__(self) -> None:
        if not ZERO < self.kelly_fraction <= ONE:
            raise ValueError("kelly_fraction must be in (0, 1]")
        if self.min_edge <= ZERO:
            raise ValueError("min_edge must be positive: a zero edge is not a trade")


def edge_at(probability: Decimal, price: Decimal, fees: FeeSchedule) -> Decimal:
    """Expected profit per share of buying at `price` a token that wins with `probability`."""
    return probability - price - fee_per_share(price, fees)


def kelly(probability: Decimal, cost: Decimal) -> Decimal:
    """Kelly fraction for a contract costing `cost` (fee included) that pays 1 on a win."""
    if cost >= ONE or probability <= cost:
        return ZERO
    return (probability - cost) / (ONE - cost)


@dataclass(frozen=True, slots=True)
class SizingTrace:
    """How a buy was sized, kept for /why: the fractional Kelly stake at the last level used,
    the value already held (netted off), the per-intent cap, the target that came of them and
    the limit that ended the plan (`bound`: "max_notional", "kelly", "min_edge" or "depth")."""

    bankroll: Decimal
    kelly_fraction: Decimal
    kelly_stake: Decimal
    held_value: Decimal
    max_notional: Decimal
    target: Decimal
    bound: str


BOUND_CAP, BOUND_KELLY, BOUND_EDGE, BOUND_DEPTH = "max_notional", "kelly", "min_edge", "depth"


@dataclass(frozen=True, slots=True)
class BuyPlan:
    """The planned take: shares, what they cost, and the worst price used."""

    shares: Decimal
    notional: Decimal  # the spend on shares, rounded down to the cent (the market-buy amount)
    outlay: Decimal  # what the walk of that spend costs, fees included
    limit_price: Decimal
    average_price: Decimal
    edge: Decimal  # per share, at the average price, after fees
    trace: SizingTrace | None = None


def plan_buy(
    probability: Decimal,
    book: Book,
    bankroll: Decimal,
    config: SizingConfig,
    fees: FeeSchedule,
    *,
    already: Decimal = ZERO,
) -> BuyPlan | None:
    """Walk `book`'s asks for a token that wins with `probability`. None if nothing qualifies.

    `already` is the value of what is held of the token: the Kelly target is for the whole
    stake, so only the difference is bought. The plan is then re-walked as the venue will fill
    it (the spend rounded down to the cent, fees on top), so it reports what the order costs."""
    shares = notional = outlay = stake = target = ZERO
    limit: Decimal | None = None
    bound, reached = BOUND_DEPTH, False
    for level in book.asks:
        fee = fee_per_share(level.price, fees)
        cost = level.price + fee
        if probability - cost < config.min_edge:
            bound = bound if reached else BOUND_EDGE
            break
        level_stake = bankroll * config.kelly_fraction * kelly(probability, cost)
        capped = config.max_notional < level_stake - already
        level_target = min(config.max_notional, level_stake - already)
        room = (level_target - outlay) / cost
        take = min(level.size, room).quantize(CENT_SHARES, ROUND_DOWN)
        # The division is rounded to the context's precision first and may round up across a
        # cent: step back so the outlay never exceeds the target, even by 1e-26.
        if take > ZERO and outlay + take * cost > level_target:
            take -= CENT_SHARES
        if take <= ZERO:
            bound = BOUND_CAP if capped else BOUND_KELLY
            break
        stake, target = level_stake, level_target
        if room <= level.size:
            bound, reached = (BOUND_CAP if capped else BOUND_KELLY), True
        shares += take
        notional += take * level.price
        outlay += take * cost
        limit = level.price
    if limit is None or shares <= ZERO:
        return None
    spend = notional.quantize(CENT, ROUND_DOWN)
    walk = walk_buy(book.asks, spend, limit, fees)
    if walk.shares <= ZERO:
        return None
    average = walk.spent / walk.shares
    edge = probability - walk.cost / walk.shares
    trace = SizingTrace(
        bankroll, config.kelly_fraction, stake, already, config.max_notional, target, bound
    )
    return BuyPlan(walk.shares, spend, walk.cost, limit, average, edge, trace)


@dataclass(frozen=True, slots=True)
class SizingDecision:
    intent: OrderIntent | None
    reason: str
    outcome: str = ""  # "Yes" or "No": the token the view buys
    edge: Decimal | None = None  # at the best ask, after fees, of the side considered
    plan: BuyPlan | None = None  # the buy as planned (with its sizing trace), when one was


def net_holdings(market: Market, held: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Shares held per outcome after netting complete sets: a YES and a NO share together are
    worth $1 whatever happens, so they are no view and no stake."""
    shares = {t.outcome: held.get(t.token_id, ZERO) for t in market.tokens}
    sets = min(shares.values(), default=ZERO) if len(shares) == 2 else ZERO
    return {outcome: size - sets for outcome, size in shares.items()}


def size_forecast(
    forecast: Forecast,
    market: Market,
    books: dict[str, Book],
    bankroll: Decimal,
    config: SizingConfig,
    *,
    strategy: str = "llm_edge",
    held: Mapping[str, Decimal] | None = None,
) -> SizingDecision:
    """The intent for `forecast`, or None with the reason. `books` maps token id to book;
    `held` token id to shares held (and being bought): the stake is sized net of them, and a
    view against what is held sells it instead of buying the other side."""
    refused = _unsizable(forecast, market, bankroll)
    if refused:
        return SizingDecision(None, refused)
    q = forecast.model_probability
    best = _best_side(q, market, books)
    if best is None:
        return SizingDecision(None, "no asks to buy")
    edge, outcome, win, book = best
    config, short = _hurdle(forecast, edge, config)
    if short:
        return SizingDecision(None, short, outcome, edge)
    holding = net_holdings(market, held or {})
    against = next((o for o, size in holding.items() if o != outcome and size > ZERO), None)
    if against is not None:
        return _exit(forecast, market, books, against, holding[against], strategy, edge)
    already = holding.get(outcome, ZERO) * (book.best_ask or ZERO)
    fill = plan_buy(win, book, bankroll, config, market.fees, already=already)
    if fill is None:
        if already > ZERO:
            reason = f"already holding {holding[outcome]} {outcome} (${already:.2f}): at target"
            return SizingDecision(None, reason, outcome, edge)
        return SizingDecision(None, "Kelly stake rounds to zero", outcome, edge)
    if fill.shares < book.min_order_size or fill.notional < MIN_MARKETABLE_NOTIONAL:
        reason = f"{fill.shares} shares (${fill.notional:.2f}) below the venue minimum"
        if already > ZERO:
            reason = f"already holding {holding[outcome]} {outcome} (${already:.2f}): {reason}"
        return SizingDecision(None, reason, outcome, edge)
    intent = OrderIntent(
        market=market.condition_id,
        token_id=book.token_id,
        side=Side.BUY,
        limit_price=fill.limit_price,
        notional=fill.notional,
        strategy=strategy,
        reason=(
            f"{forecast.source} view {q} vs market {forecast.market_probability}: buy {outcome}, "
            f"edge {fill.edge:.4f}/share after fees, avg {fill.average_price:.4f}"
        ),
        order_type=OrderType.FAK,
        # Probabilities of the token bought winning (risk compares them with its price).
        model_probability=win,
        market_probability=(
            forecast.market_probability if outcome == "Yes" else ONE - forecast.market_probability
        ),
        sources=forecast.sources,
    )
    return SizingDecision(intent, f"buy {outcome}", outcome, edge, fill)


def _unsizable(forecast: Forecast, market: Market, bankroll: Decimal) -> str:
    """Why nothing can be sized for `forecast` at all, or ""."""
    if not forecast.actionable:
        return f"not actionable: {forecast.note}"
    if bankroll <= ZERO:
        return "no bankroll"
    if not market.fees.stated:
        return UNSTATED_FEES_REASON
    return ""


def _hurdle(forecast: Forecast, edge: Decimal, config: SizingConfig) -> tuple[SizingConfig, str]:
    """The config whose `min_edge` is the hurdle, and why `edge` falls short of it ("" if not).

    The edge at the ask after fees is the edge over the mid less half the spread and the fee; it
    must also beat the model's measured error, and never falls below `min_edge`."""
    if forecast.error >= config.min_edge:
        if edge <= forecast.error:
            return config, f"edge {edge:.4f} after fees within the model's error {forecast.error}"
        config = replace(config, min_edge=forecast.error + _HUNDREDTH_CENT)
    if edge < config.min_edge:
        return config, f"edge {edge:.4f} after fees below {config.min_edge}"
    return config, ""


def _best_side(
    q: Decimal, market: Market, books: dict[str, Book]
) -> tuple[Decimal, str, Decimal, Book] | None:
    """(edge at the best ask after fees, outcome, its probability, its book) of the better
    side to buy for a YES probability `q`; None when neither side has an ask."""
    sides: list[tuple[Decimal, str, Decimal, Book]] = []
    for outcome, win in (("Yes", q), ("No", ONE - q)):
        token = market.token(outcome)
        book = books.get(token.token_id) if token else None
        if book is not None and book.best_ask is not None:
            sides.append((edge_at(win, book.best_ask, market.fees), outcome, win, book))
    return max(sides, key=lambda s: s[0]) if sides else None


def _exit(
    forecast: Forecast,
    market: Market,
    books: dict[str, Book],
    outcome: str,
    shares: Decimal,
    strategy: str,
    edge: Decimal,
) -> SizingDecision:
    """The view turned against a holding: sell it (at the bid, FAK) rather than buy the other
    side, which would only build complete sets at the cost of two spreads."""
    token = market.token(outcome)
    book = books.get(token.token_id) if token else None
    size = shares.quantize(CENT_SHARES, ROUND_DOWN)
    if token is None or book is None or book.best_bid is None:
        return SizingDecision(None, f"view against the {outcome} held, but no bid to sell it")
    if size < book.min_order_size:
        reason = f"view against {size} {outcome} held: below the venue minimum"
        return SizingDecision(None, reason)
    probability = (
        forecast.model_probability if outcome == "Yes" else ONE - forecast.model_probability
    )
    intent = OrderIntent(
        market=market.condition_id,
        token_id=token.token_id,
        side=Side.SELL,
        limit_price=book.best_bid,
        size=size,
        strategy=strategy,
        reason=(
            f"{forecast.source} view {forecast.model_probability} is against the {size} "
            f"{outcome} held: sell them"
        ),
        order_type=OrderType.FAK,
        model_probability=probability,
        market_probability=(
            forecast.market_probability if outcome == "Yes" else ONE - forecast.market_probability
        ),
        sources=forecast.sources,
    )
    return SizingDecision(intent, f"exit {outcome}", outcome, edge)
