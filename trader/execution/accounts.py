"""Equity snapshots, PnL by period, market settlement, and the portfolio's restart memory.

- Every few minutes `snapshot` writes the portfolio's summary to `equity_snapshots` (for the
  charts) and persists what the portfolio cannot rebuild from fills and the venue: peak
  equity, redeemable payouts and settled tokens (control_state key "portfolio").
- `pnl(period)` compares equity now with equity at the start of the operator's day, week
  (Monday) or month, and counts what sells and settlements realized in it.
- `settle(market, payouts)` closes a resolved market: each position pays its token's payout
  (1 or 0, 0.5 each side of a 50/50), PnL is realized, the position leaves exposure at once,
  one alert says what can be redeemed and a `Resolution` fact goes on the bus.
- `restore()` rebuilds the portfolio after a restart (then reconciliation corrects it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from trader.bus import Bus
from trader.clock import Clock
from trader.control.types import CashFlowRecorded, ControlError, PnlPeriod, PnlReport
from trader.domain import (
    NO_FEES,
    ZERO,
    Alert,
    DrawdownMode,
    FeeSchedule,
    OrderStatus,
    Payouts,
    Position,
    Resolution,
    Severity,
    new_correlation_id,
)
from trader.execution.cash_flows import CashFlow
from trader.execution.engine import ExecutionEngine
from trader.execution.ledger import fills_cash, replay
from trader.execution.portfolio import SettledPosition, WorkingOrder
from trader.execution.ports import AcceptsTransfers, EventSink
from trader.execution.risk import drawdown_mode
from trader.execution.store import Write
from trader.state import ControlState

log = logging.getLogger(__name__)

MEMORY_KEY = "portfolio"


@runtime_checkable
class ResolutionSource(Protocol):
    """Which of these markets have resolved, and what each of their tokens pays per share."""

    async def resolved_markets(self, condition_ids: Sequence[str]) -> dict[str, Payouts]: ...


def period_start(period: PnlPeriod, now: datetime, zone: tzinfo) -> datetime:
    local = now.astimezone(zone).date()
    if period is PnlPeriod.WEEK:
        local -= timedelta(days=local.weekday())
    elif period is PnlPeriod.MONTH:
        local = local.replace(day=1)
    return datetime.combine(local, time(0), zone).astimezone(now.tzinfo)


class Accounts:
    def __init__(
        self,
        *,
        engine: ExecutionEngine,
        state: ControlState,
        events: EventSink,
        bus: Bus,
        clock: Clock,
        zone: tzinfo,
        durable: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = engine
        self._state = state
        self._events = events
        self._durable = durable  # makes the appended events durable (the event log's flush)
        self._bus = bus
        self._clock = clock
        self._zone = zone
        self._mode = DrawdownMode.FULL
        self._loss_day: date | None = None

    def _fees_of(self, market_id: str) -> FeeSchedule:
        # the runtime loads the board before restoring; a market it could not load: no fees
        market = self._engine.board.market(market_id)
        return market.fees if market is not None else NO_FEES

    async def restore(self) -> None:
        """Rebuild the portfolio from the database, the venue's cash and what `remember` kept.

        Cash is the one remembered at the last snapshot plus what every fill recorded since
        did (when there is one; else the venue's): the start's reconciliation then sees what
        happened at the venue while we were down (missed fills, redemptions, deposits and
        withdrawals) as differences to explain rather than as PnL."""
        engine, store = self._engine, self._engine.store
        balance = await engine.venue.balance()
        fills = await store.fills()
        _, realizations = replay(fills)
        orders = [
            WorkingOrder(
                r.client_order_id,
                r.order_id,
                r.token_id,
                r.market,
                r.side,
                r.price,
                r.size,
                r.size_matched,
                self._fees_of(r.market),
                r.correlation_id,
            )
            for r in await store.open_orders()
        ]
        memory: dict[str, Any] = self._state.get(MEMORY_KEY) or {}
        day_start = period_start(PnlPeriod.DAY, self._clock.now(), self._zone)
        remembered = _remembered_cash(memory, fills_cash(fills))
        engine.portfolio.load(
            cash=balance.cash if remembered is None else remembered,
            positions=await store.positions(),
            fills=fills,
            realizations=realizations,
            orders=orders,
            redeemable={k: Decimal(v) for k, v in (memory.get("redeemable") or {}).items()},
            redeemable_tokens=memory.get("redeemable_tokens") or {},
            settled_tokens=memory.get("settled_tokens") or (),
            peak_equity=Decimal(memory["peak_equity"]) if memory.get("peak_equity") else None,
            day_start_equity=await store.equity_before(day_start),
            day_flows=sum((f.amount for f in await store.cash_flows(day_start)), ZERO),
        )

    async def snapshot(self) -> None:
        portfolio = self._engine.portfolio
        summary = portfolio.summary()
        await self._engine.store.save_equity(summary)
        await self.remember()
        self._watch_limits(summary.drawdown, summary.day_pnl)

    def _watch_limits(self, drawdown: Decimal, day_pnl: Decimal) -> None:
        """One alert when the drawdown mode changes, one when the daily loss limit is hit."""
        limits = self._state.risk_limits
        mode = drawdown_mode(drawdown, limits)
        if mode is not self._mode:
            severity = Severity.INFO if mode is DrawdownMode.FULL else Severity.CRITICAL
            self._alert(
                "drawdown_mode",
                severity,
                f"Drawdown mode {self._mode.value} -> {mode.value}",
                f"drawdown {drawdown:.1%} from peak equity",
            )
            self._mode = mode
        today = self._clock.now().astimezone(self._zone).date()
        if day_pnl <= -limits.daily_loss_limit and self._loss_day != today:
            self._loss_day = today
            self._alert(
                "daily_loss",
                Severity.CRITICAL,
                "Daily loss limit reached",
                f"today's PnL {day_pnl:.2f} (limit -{limits.daily_loss_limit}): "
                "no new entries until tomorrow",
            )

    def _alert(self, kind: str, severity: Severity, title: str, body: str) -> None:
        corr = new_correlation_id()
        self._events.append(kind, {"title": title, "body": body}, correlation_id=corr)
        self._bus.alerts.publish(Alert(kind, severity, title, body, corr, kind), corr)

    async def remember(self) -> None:
        """Keep the cash, its fills watermark and what is redeemable, never ahead of the rows:
        the queued writes (fills, a settlement's rows) are written first, so a restart never
        finds a settlement remembered whose rows were lost (it would settle, and pay, twice)."""
        if not await self._engine.writer.drain_now():
            log.warning("not remembering the cash yet: queued writes wait behind a failed flush")
            return
        portfolio = self._engine.portfolio
        memory = {
            "peak_equity": str(portfolio.peak_equity),
            "redeemable": {k: str(v) for k, v in portfolio.redeemable.items()},
            "redeemable_tokens": {k: sorted(v.tokens) for k, v in portfolio.redeemables().items()},
            "settled_tokens": sorted(portfolio.settled_tokens),
            "cash": str(portfolio.cash),
            "fills_cash": str(portfolio.fills_cash),
        }
        await self._state.put(MEMORY_KEY, memory, "system:trader")

    async def pnl(self, period: PnlPeriod) -> PnlReport:
        now = self._clock.now()
        start = period_start(period, now, self._zone)
        store, portfolio = self._engine.store, self._engine.portfolio
        start_equity = await store.equity_before(start)
        if start_equity is None:
            start_equity = await store.equity_from(start)
        end_equity = portfolio.observe()
        realizations = portfolio.realizations(start)
        wins, losses, rate = portfolio.win_rate(start)
        flows = sum((f.amount for f in await store.cash_flows(start)), ZERO)
        return PnlReport(
            period=period,
            start=start,
            end=now,
            start_equity=start_equity,
            end_equity=end_equity,
            pnl=None if start_equity is None else end_equity - start_equity - flows,
            realized=sum((r.pnl for r in realizations), ZERO),
            trades=len(realizations),
            wins=wins,
            losses=losses,
            win_rate=rate,
            cash_flows=flows,
        )

    # cash flows the operator enters ------------------------------------------------------

    async def record_cash_flow(self, actor: str, amount: Decimal, reason: str) -> CashFlowRecorded:
        """A deposit (> 0) or withdrawal (< 0) into a venue the operator funds from here (the
        paper venue): its balance moves, and equity with it, but not PnL. A live venue's flows
        are found in its balance at reconciliation, so entering one here is refused."""
        engine, portfolio = self._engine, self._engine.portfolio
        if not isinstance(engine.venue, AcceptsTransfers):
            raise ControlError(
                "at the live venue money moves on-chain: the next reconciliation finds a "
                "deposit or withdrawal in the balance and records it"
            )
        if amount == ZERO:
            raise ControlError("the amount must not be zero")
        corr = new_correlation_id()
        async with engine.lock:
            free = portfolio.cash - portfolio.reserved_cash()
            if amount < ZERO and free + amount < ZERO:
                raise ControlError(
                    f"withdrawing {-amount:.2f} leaves less than nothing: {free:.2f} free"
                )
            await engine.venue.transfer(amount)
            portfolio.apply_cash_flow(amount)
            flow = CashFlow(self._clock.now(), amount, reason or "entered by the operator", actor)
            await engine.store.record_cash_flow(flow, corr)
            await self.remember()
        payload = {"amount": amount, "kind": flow.kind.value, "reason": flow.reason}
        self._events.append("cash_flow", {**payload, "source": actor}, correlation_id=corr)
        title = f"Cash flow: {flow.kind.value} of {abs(amount):.2f} pUSD"
        body = f"{flow.reason} (by {actor}); not counted as PnL"
        self._bus.alerts.publish(Alert("cash_flow", Severity.INFO, title, body, corr), corr)
        return CashFlowRecorded(amount, flow.reason, portfolio.cash, portfolio.equity(), corr)

    # settlement ---------------------------------------------------------------------------

    async def settle_resolved(self, source: ResolutionSource) -> list[SettledPosition]:
        """Ask `source` about every market we hold; settle those that resolved."""
        markets = sorted({p.market for p in self._engine.portfolio.positions() if p.market})
        if not markets:
            return []
        settled: list[SettledPosition] = []
        for market, payouts in (await source.resolved_markets(markets)).items():
            settled.extend(await self.settle(market, payouts))
        return settled

    async def settle(self, market: str, payouts: Payouts) -> list[SettledPosition]:
        """Pay each share its token's payout (a token the vector does not name pays 0); call
        with the engine lock free. The `market_settled` event is durable before the settlement
        rows are written (the writer flushes the event log first, in queue order): a SIGKILL
        between the two leaves the position to settle again on the next start (a second
        event), never a settlement nothing explains. Nothing is awaited between settling in
        memory and queueing the rows, so a cancelled run (a job's timeout) cannot lose them."""
        engine, portfolio = self._engine, self._engine.portfolio
        corr = new_correlation_id()
        async with engine.lock:
            for order in [o for o in portfolio.working_orders() if o.market == market]:
                portfolio.close_order(order.order_id)
                engine.writer.enqueue("order", _status_write(engine, order))
            settled = portfolio.settle(market, payouts)
            if settled:
                self._settled_event(market, payouts, settled, corr)
                if self._durable is not None:
                    engine.writer.enqueue("settlement event", self._durable, barrier=True)
            for item in settled:
                engine.writer.enqueue("settlement", _fill_write(engine, item))
                engine.writer.enqueue("position", _flat_write(engine, item))
            await engine.writer.drain_now()
        self._bus.resolutions.publish(Resolution(market, dict(payouts), self._clock.now()), corr)
        if settled:
            await self.remember()
            self._announce(market, payouts, settled, corr)
        return settled

    def _settled_event(
        self, market: str, payouts: Payouts, settled: list[SettledPosition], corr: str
    ) -> None:
        realized = sum((s.realized for s in settled), ZERO)
        redeemable = sum((s.size * s.payout for s in settled), ZERO)
        self._events.append(
            "market_settled",
            {
                "market": market,
                "payouts": {token: str(p) for token, p in payouts.items()},
                "realized": realized,
                "redeemable": redeemable,
            },
            correlation_id=corr,
        )

    def _announce(
        self, market: str, payouts: Payouts, settled: list[SettledPosition], corr: str
    ) -> None:
        realized = sum((s.realized for s in settled), ZERO)
        redeemable = sum((s.size * s.payout for s in settled), ZERO)
        found = self._engine.board.market(market)
        question = found.question if found else market
        lines = [
            f"{s.size} shares of {self._engine.board.outcome_of(s.token_id) or s.token_id}"
            f" paid {s.payout} each (PnL {s.realized:+.2f})"
            for s in settled
        ]
        body = "\n".join([*lines, f"Realized {realized:+.2f}; redeemable {redeemable:.2f} pUSD"])
        self._bus.alerts.publish(
            Alert(
                "market_resolved",
                Severity.INFO,
                f"Market resolved{_split_note(payouts)}: {question}",
                body,
                corr,
                f"resolved:{market}",
            ),
            corr,
        )


def _remembered_cash(memory: dict[str, Any], fills_cash_now: Decimal) -> Decimal | None:
    """The cash remembered at the last snapshot, moved by the fills recorded since (their
    cash effect now minus then); None when nothing usable was remembered."""
    try:
        cash, then = Decimal(str(memory["cash"])), Decimal(str(memory["fills_cash"]))
    except (KeyError, ArithmeticError, ValueError):
        return None
    if not (cash.is_finite() and then.is_finite()):
        return None  # a hand edit: the venue's balance is used instead
    return cash + fills_cash_now - then


def _split_note(payouts: Payouts) -> str:
    """ " 50/50" when every token pays the same (0.5 a share each side), else nothing."""
    values = set(payouts.values())
    return f" 50/50 ({next(iter(values))} a share each side)" if len(values) == 1 else ""


def _status_write(engine: ExecutionEngine, order: WorkingOrder) -> Write:
    """A resolved market's working order ends CANCELED_MARKET_RESOLVED, as at the venue, unless
    the venue had answered it MATCHED (kept working only until its fills came): it stays so."""

    async def write() -> None:
        known = await engine.store.orders_by_ids([order.order_id])
        if any(r.status is OrderStatus.MATCHED for r in known):
            return
        await engine.store.update_order(
            order.client_order_id, status=OrderStatus.CANCELED_MARKET_RESOLVED
        )

    return write


def _fill_write(engine: ExecutionEngine, item: SettledPosition) -> Write:
    return lambda: engine.store.record_fill(item.fill, None)


def _flat_write(engine: ExecutionEngine, item: SettledPosition) -> Write:
    flat = Position(item.token_id, ZERO, ZERO, market=item.market, realized_pnl=item.realized)
    return lambda: engine.store.save_position(flat)
