"""What a backtest produced, and its readable summary: JSON, and a side-by-side comparison.

`summarise` computes from the run: PnL and return, the equity curve with its drawdown, the
trades, fees paid, turnover (traded notional), win rate (sells and settlements that made
money), exposure over time, and the Brier scores of the model, the market price and the blend
with their calibration table (`scoring`: the markets that resolved inside the window, each by
its last forecast before its resolution, against what its YES share paid: 1, 0 or 0.5). No
ids, wall times or paths go in: the same backtest gives the same JSON, byte for byte.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from trader.backtest.scoring import brier, calibration, scored_markets
from trader.domain import ZERO, Fill, Market, Payouts
from trader.execution.ledger import Realization

if TYPE_CHECKING:
    from trader.backtest.kernel import BacktestConfig

FORMAT = "polyops-backtest/1"
CENTS, FOUR = Decimal("0.01"), Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class CycleSample:
    at: datetime
    equity: Decimal
    cash: Decimal
    exposure: Decimal
    open_positions: int
    evaluated: int  # markets the pipeline selected and evaluated
    intents: int
    placed: int
    denied: tuple[str, ...] = ()  # the rule (or outcome) of each intent not placed


@dataclass(frozen=True, slots=True)
class ForecastSample:
    at: datetime
    market: str
    model: Decimal  # the model's own YES probability (calibrated aggregate), before the blend
    market_price: Decimal  # the YES mid it saw
    source: str
    decision: str
    blend: Decimal  # the blend of model and market: the probability traded


@dataclass
class BacktestRun:
    config: BacktestConfig
    fill_model: str
    cycles: list[CycleSample] = field(default_factory=list)
    forecasts: list[ForecastSample] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    realizations: list[Realization] = field(default_factory=list)
    win_rate: tuple[int, int, Decimal | None] = (0, 0, None)
    resolutions: dict[str, Payouts] = field(default_factory=dict)
    markets: dict[str, Market] = field(default_factory=dict)
    evaluations: int = 0
    notes: list[str] = field(default_factory=list)  # what the report must say (llm's limits)


def _money(value: Decimal) -> str:
    return str(value.quantize(CENTS))


def _ratio(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(FOUR))


def equity_curve(cycles: list[CycleSample]) -> list[dict[str, Any]]:
    peak, points = ZERO, []
    for c in cycles:
        peak = max(peak, c.equity)
        drawdown = (peak - c.equity) / peak if peak > 0 else ZERO
        points.append(
            {
                "at": c.at.isoformat(),
                "equity": _money(c.equity),
                "drawdown": _ratio(drawdown),
                "exposure": _money(c.exposure),
                "open_positions": c.open_positions,
            }
        )
    return points


def brier_scores(run: BacktestRun) -> dict[str, Any]:
    """Brier of the model, the market and the blend on markets resolved in the window."""
    return brier(_scored(run))


def _scored(run: BacktestRun) -> list[Any]:
    last = {f.market: (f.model, f.market_price, f.blend) for f in run.forecasts}  # time order
    return scored_markets(last, run.resolutions, run.markets)


def summarise(run: BacktestRun) -> dict[str, Any]:
    config = run.config
    final = run.cycles[-1].equity if run.cycles else config.bankroll
    curve = equity_curve(run.cycles)
    fees = sum((f.fee for f in run.fills), ZERO)
    turnover = sum((f.price * f.size for f in run.fills), ZERO)
    exposures = [c.exposure for c in run.cycles] or [ZERO]
    wins, losses, rate = run.win_rate
    denied: Counter[str] = Counter(rule for c in run.cycles for rule in c.denied)
    return {
        "format": FORMAT,
        "window": {"from": config.start.isoformat(), "to": config.end.isoformat()},
        "strategy": config.strategy or "stages in force",
        "forecasts": config.forecasts,
        "notes": list(run.notes),
        "cycle_s": config.cycle_s,
        "fill_model": run.fill_model,
        "bankroll": _money(config.bankroll),
        "final_equity": _money(final),
        "pnl": _money(final - config.bankroll),
        "return": _ratio((final - config.bankroll) / config.bankroll),
        "max_drawdown": max((p["drawdown"] for p in curve), key=Decimal, default="0.0000"),
        "fees_paid": _money(fees),
        "turnover": _money(turnover),
        "trades": len(run.fills),
        "win_rate": {"wins": wins, "losses": losses, "rate": _ratio(rate)},
        "exposure": {
            "max": _money(max(exposures)),
            "mean": _money(sum(exposures, ZERO) / len(exposures)),
        },
        "cycles": len(run.cycles),
        "market_evaluations": run.evaluations,
        "intents": sum(c.intents for c in run.cycles),
        "orders_placed": sum(c.placed for c in run.cycles),
        "intents_not_placed": dict(sorted(denied.items())),
        "markets_resolved": len(run.resolutions),
        "brier": brier_scores(run),
        "calibration": calibration(_scored(run)),
        "realized_pnl": _money(sum((r.pnl for r in run.realizations), ZERO)),
        "equity_curve": curve,
        "fills": [
            {
                "at": f.timestamp.isoformat(),
                "market": f.market,
                "token_id": f.token_id,
                "side": f.side.value,
                "price": str(f.price),
                "size": str(f.size),
                "fee": str(f.fee),
                "liquidity": f.liquidity,
            }
            for f in run.fills
        ],
    }


COMPARED = (
    ("window", lambda r: f"{r['window']['from'][:10]}..{r['window']['to'][:10]}"),
    ("strategy", lambda r: r["strategy"]),
    ("forecasts", lambda r: r["forecasts"]),
    ("bankroll", lambda r: r["bankroll"]),
    ("final equity", lambda r: r["final_equity"]),
    ("PnL", lambda r: r["pnl"]),
    ("return", lambda r: r["return"]),
    ("max drawdown", lambda r: r["max_drawdown"]),
    ("trades", lambda r: r["trades"]),
    ("fees paid", lambda r: r["fees_paid"]),
    ("turnover", lambda r: r["turnover"]),
    ("win rate", lambda r: r["win_rate"]["rate"]),
    ("max exposure", lambda r: r["exposure"]["max"]),
    ("Brier model", lambda r: r["brier"]["model"]),
    ("Brier market", lambda r: r["brier"]["market"]),
    ("Brier blend", lambda r: r["brier"]["blend"]),
    ("evaluations", lambda r: r["market_evaluations"]),
)


def compare(left: dict[str, Any], right: dict[str, Any], names: tuple[str, str]) -> str:
    """Two summaries side by side, one figure a line."""
    rows = [("", names[0], names[1])]
    for label, pick in COMPARED:
        rows.append((label, _shown(pick, left), _shown(pick, right)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}".rstrip()
        for row in rows
    )


def _shown(pick: Any, summary: dict[str, Any]) -> str:
    try:
        value = pick(summary)
    except (KeyError, TypeError):
        return "?"
    return "-" if value is None else str(value)
