"""The Control API's trading commands: pause and resume, cash flows, redemption and merge, the
kill switch (preview, kill, rearm), cancelling an order, and the approvals waiting on the
operator. `ControlTrading` holds these methods for `ControlAPI` (`core`); each goes through the
execution core's desk, declared here.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from trader.control.api.base import ControlBase
from trader.control.types import (
    ApprovalDecision,
    ApprovalRequest,
    CashFlowRecorded,
    ChainOperationView,
    ChainOverview,
    ControlError,
    KillPreview,
    KillReport,
    StateChange,
    TradingDesk,
)
from trader.domain import Actor, TradingState
from trader.limits import parse_amount
from trader.state import SettingError


class ControlTrading(ControlBase):
    """Trading state, cash flows, chain operations, kill and approvals (mixed into
    `ControlAPI`, which sets the desk in its constructor)."""

    _desk: TradingDesk

    # trading state ---------------------------------------------------------------------

    async def pause(self, actor: Actor, reason: str = "") -> StateChange:
        """Stop new orders; resting orders stay. Kept across restarts. Refused (ControlError)
        while KILLED or HALTED, or when the state could not be saved."""
        self._audit(actor, "pause", reason=reason)
        return await self._desk.pause(actor, reason)

    async def resume(self, actor: Actor) -> StateChange:
        self._audit(actor, "resume")
        return await self._desk.resume(actor)

    # cash flows ------------------------------------------------------------------------

    async def deposit(self, actor: Actor, amount: object, reason: str = "") -> CashFlowRecorded:
        """Money in (the paper venue only: a live venue's flows are found in its balance)."""
        return await self._cash_flow(actor, amount, reason, sign=1)

    async def withdraw(self, actor: Actor, amount: object, reason: str = "") -> CashFlowRecorded:
        """Money out: equity drops by it, PnL does not (the paper venue only)."""
        return await self._cash_flow(actor, amount, reason, sign=-1)

    async def _cash_flow(
        self, actor: Actor, amount: object, reason: str, *, sign: int
    ) -> CashFlowRecorded:
        try:
            value = parse_amount("the amount", amount)
        except SettingError as error:
            raise ControlError(str(error)) from None
        kind = "deposit" if sign > 0 else "withdraw"
        self._audit(actor, kind, amount=str(value), reason=reason[:200])
        return await self._desk.record_cash_flow(actor, value * sign, reason[:200])

    # redemption and merge --------------------------------------------------------------

    async def chain_overview(self, actor: Actor) -> ChainOverview:
        """Resolved markets still held (what redeeming pays), pairs that could be merged,
        and the latest redemptions and merges."""
        self._audit(actor, "redeemable")
        return await self._desk.chain_overview()

    async def redeem(self, actor: Actor, market: str) -> ChainOperationView:
        """Redeem a resolved market's shares now (refused while one is in flight)."""
        market = _market_id(market)
        self._audit(actor, "redeem", market=market)
        return await self._desk.redeem(actor, market)

    async def merge(
        self, actor: Actor, market: str, pairs: object | None = None
    ) -> ChainOperationView:
        """Merge YES+NO pairs of a market into pUSD (all the free pairs, or `pairs`)."""
        market = _market_id(market)
        amount = None
        if pairs is not None and str(pairs).strip():
            try:
                amount = parse_amount("the number of pairs", pairs)
            except SettingError as error:
                raise ControlError(str(error)) from None
        self._audit(actor, "merge", market=market, pairs=None if amount is None else str(amount))
        return await self._desk.merge(actor, market, amount)

    async def preview_kill(self, actor: Actor, slippage: Decimal | None = None) -> KillPreview:
        """What a kill with flatten would do now: the exits, their floors and proceeds."""
        self._audit(actor, "kill_preview", slippage=slippage)
        try:
            return await self._desk.preview_kill(slippage)
        except ValueError as error:
            raise ControlError(str(error)) from None

    async def kill(
        self,
        actor: Actor,
        *,
        flatten: bool = False,
        reason: str = "",
        slippage: Decimal | None = None,
    ) -> KillReport:
        """Cancel every order (and with `flatten` sell every position within the slippage
        cap); KILLED survives restarts until `rearm`."""
        self._audit(actor, "kill", flatten=flatten, reason=reason, slippage=slippage)
        try:
            return await self._desk.kill(actor, flatten=flatten, reason=reason, slippage=slippage)
        except ValueError as error:
            raise ControlError(str(error)) from None

    async def rearm(self, actor: Actor) -> StateChange:
        """Clear KILLED or HALTED back to RUNNING: the only way out of either."""
        before = self._desk.trading_status().state
        self._audit(actor, "rearm")
        if before not in (TradingState.KILLED, TradingState.HALTED):
            return StateChange(before, before, "nothing to re-arm", changed=False)
        return await self._desk.rearm(actor)

    async def cancel_order(self, actor: Actor, order_id: str) -> bool:
        self._audit(actor, "cancel", order_id=order_id)
        if not await self._desk.cancel_order(actor, order_id):
            raise ControlError(f"no open order {order_id} (or the venue would not cancel it)")
        return True

    # approvals ------------------------------------------------------------------------

    async def pending_approvals(self, actor: Actor) -> list[ApprovalRequest]:
        self._audit(actor, "approvals")
        return await self._desk.pending_approvals()

    async def approve(
        self, actor: Actor, key: str, size: Decimal | str | None = None
    ) -> ApprovalDecision:
        """Approve once (a second approve does nothing); re-checked against price and risk.
        With `size`, at that size instead."""
        amount = _decimal_arg(size, "size") if size is not None else None
        self._audit(actor, "approve", key=key, size=amount)
        return await self._desk.approve(actor, key, amount)

    async def reject(self, actor: Actor, key: str) -> ApprovalDecision:
        self._audit(actor, "reject", key=key)
        return await self._desk.reject(actor, key)


def _decimal_arg(value: Decimal | str, what: str) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ControlError(f"the {what} must be a number, got {value!r}") from None
    if not number.is_finite() or number <= 0:
        raise ControlError(f"the {what} must be a positive number, got {value}")
    return number


def _market_id(market: str) -> str:
    value = str(market).strip()
    if not value or len(value) > 200 or not value.isprintable():
        raise ControlError("name the market by its condition id")
    return value
