"""A trader's Control API reached over HTTP: `RemoteControl` implements `ControlPort`.

The hub hands one of these per instance to the unchanged chat code. Every request is signed
with the instance's secret (`trader.control.signing`); answers are decoded back into the same
typed results (`trader.control.wire`). A refusal by the Control API raises `ControlError` with
its message, as in the trader's own process; a trader that does not answer raises
`UnreachableError` (a `ControlError`, so the chat says "Refused: beta is not answering" and
carries on). The alert and approval streams reconnect by themselves until closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from trader.clock import Clock
from trader.control.server import NO_SUCH_METHOD, PREFIX
from trader.control.signing import sign
from trader.control.types import (
    ApprovalDecision,
    ApprovalRequest,
    BacktestStatus,
    CashFlowRecorded,
    ChainOperationView,
    ChainOverview,
    ControlError,
    EventLine,
    KillPreview,
    KillReport,
    NotConfiguredError,
    OrderView,
    PnlPeriod,
    PnlReport,
    PositionView,
    ReportView,
    SettingChange,
    SignalsView,
    Stage,
    StateChange,
    StatusSnapshot,
    StrategyView,
)
from trader.control.why import DecisionChain, DenialFacts
from trader.control.wire import WireError, decode, decode_as, encode
from trader.domain import Actor, Alert
from trader.state import AlertSettings, RiskLimits

log = logging.getLogger(__name__)
T = TypeVar("T")
RECONNECT_S = (0.5, 1.0, 2.0, 5.0)


class UnreachableError(ControlError):
    """The instance did not answer (refused the connection, timed out, or failed inside)."""


class RemoteControl:
    def __init__(
        self,
        name: str,
        base_url: str,
        secret: str,
        http: httpx.AsyncClient,
        clock: Clock,
        *,
        files: Path,
        timeout_s: float = 10.0,
    ) -> None:
        self._name = name
        self._base = base_url.rstrip("/")
        self._secret = secret
        self._http = http
        self._clock = clock
        self._files = files
        self._timeout = timeout_s

    @property
    def name(self) -> str:
        return self._name

    # --- transport -----------------------------------------------------------------------

    def _request(
        self, path: str, actor: Actor, args: dict[str, Any], timeout: httpx.Timeout | None = None
    ) -> httpx.Request:
        actor_json = {"channel": actor.channel, "user_id": actor.user_id, "name": actor.name}
        body = json.dumps({"actor": actor_json, "args": encode(args)}).encode()
        full = PREFIX + path
        headers = sign(self._secret, "POST", full, body, now=self._clock.now().timestamp())
        headers["Content-Type"] = "application/json"
        return self._http.build_request(
            "POST",
            self._base + full,
            content=body,
            headers=headers,
            timeout=timeout or httpx.Timeout(self._timeout),
        )

    async def _call(self, method: str, actor: Actor, result_type: Any, /, **args: Any) -> Any:
        request = self._request(f"/call/{method}", actor, args)
        try:
            response = await self._http.send(request)
        except httpx.HTTPError as error:
            raise UnreachableError(
                f"{self._name} is not answering ({type(error).__name__})"
            ) from None
        if response.status_code == 404 and response.text == NO_SUCH_METHOD:
            raise NotConfiguredError(
                f"the {method} call is not offered by {self._name}"
                " (its Control API is older than the hub's)"
            )
        document = _document(response, self._name)
        if not document.get("ok"):
            refusal = document.get("error") or {}
            message = str(refusal.get("message", "refused"))
            if refusal.get("type") == "not_configured":
                raise NotConfiguredError(message)
            raise ControlError(message)
        try:
            return decode(document.get("result"), result_type, files=self._files)
        except (WireError, ValueError, TypeError, ArithmeticError) as error:
            raise UnreachableError(f"{self._name} answered something unreadable: {error}") from None

    # --- the protocol -----------------------------------------------------------------------

    async def status(self, actor: Actor) -> StatusSnapshot:
        result: StatusSnapshot = await self._call("status", actor, StatusSnapshot)
        return result

    async def positions(self, actor: Actor) -> list[PositionView]:
        result: list[PositionView] = await self._call("positions", actor, list[PositionView])
        return result

    async def open_orders(self, actor: Actor) -> list[OrderView]:
        result: list[OrderView] = await self._call("open_orders", actor, list[OrderView])
        return result

    async def pnl(self, actor: Actor, period: PnlPeriod | str = PnlPeriod.DAY) -> PnlReport:
        result: PnlReport = await self._call("pnl", actor, PnlReport, period=str(period))
        return result

    async def recent_events(self, actor: Actor, n: int = 10) -> list[EventLine]:
        result: list[EventLine] = await self._call("recent_events", actor, list[EventLine], n=n)
        return result

    async def pause(self, actor: Actor, reason: str = "") -> StateChange:
        result: StateChange = await self._call("pause", actor, StateChange, reason=reason)
        return result

    async def resume(self, actor: Actor) -> StateChange:
        result: StateChange = await self._call("resume", actor, StateChange)
        return result

    async def preview_kill(self, actor: Actor, slippage: Decimal | None = None) -> KillPreview:
        result: KillPreview = await self._call(
            "preview_kill", actor, KillPreview, slippage=slippage
        )
        return result

    async def kill(
        self,
        actor: Actor,
        *,
        flatten: bool = False,
        reason: str = "",
        slippage: Decimal | None = None,
    ) -> KillReport:
        result: KillReport = await self._call(
            "kill", actor, KillReport, flatten=flatten, reason=reason, slippage=slippage
        )
        return result

    async def rearm(self, actor: Actor) -> StateChange:
        result: StateChange = await self._call("rearm", actor, StateChange)
        return result

    async def cancel_order(self, actor: Actor, order_id: str) -> bool:
        result: bool = await self._call("cancel_order", actor, bool, order_id=order_id)
        return result

    async def set_approval_mode(self, actor: Actor, on: bool) -> SettingChange:
        result: SettingChange = await self._call("set_approval_mode", actor, SettingChange, on=on)
        return result

    async def set_allow_heuristic_live(self, actor: Actor, on: bool) -> SettingChange:
        result: SettingChange = await self._call(
            "set_allow_heuristic_live", actor, SettingChange, on=on
        )
        return result

    async def pending_approvals(self, actor: Actor) -> list[ApprovalRequest]:
        result: list[ApprovalRequest] = await self._call(
            "pending_approvals", actor, list[ApprovalRequest]
        )
        return result

    async def approve(
        self, actor: Actor, key: str, size: Decimal | str | None = None
    ) -> ApprovalDecision:
        amount = None if size is None else str(size)
        result: ApprovalDecision = await self._call(
            "approve", actor, ApprovalDecision, key=key, size=amount
        )
        return result

    async def reject(self, actor: Actor, key: str) -> ApprovalDecision:
        result: ApprovalDecision = await self._call("reject", actor, ApprovalDecision, key=key)
        return result

    async def run_cycle(self, actor: Actor) -> str:
        result: str = await self._call("run_cycle", actor, str)
        return result

    async def limits(self, actor: Actor) -> RiskLimits:
        result: RiskLimits = await self._call("limits", actor, RiskLimits)
        return result

    async def set_limit(self, actor: Actor, name: str, value: object) -> SettingChange:
        result: SettingChange = await self._call(
            "set_limit", actor, SettingChange, name=name, value=value
        )
        return result

    async def alert_settings(self, actor: Actor) -> AlertSettings:
        result: AlertSettings = await self._call("alert_settings", actor, AlertSettings)
        return result

    async def set_alert_setting(self, actor: Actor, name: str, value: object) -> SettingChange:
        result: SettingChange = await self._call(
            "set_alert_setting", actor, SettingChange, name=name, value=value
        )
        return result

    async def report(self, actor: Actor, day: date | None = None) -> ReportView:
        result: ReportView = await self._call("report", actor, ReportView, day=day)
        return result

    async def chart(self, actor: Actor, kind: str, window_days: int = 30) -> Path:
        result: Path = await self._call("chart", actor, Path, kind=kind, window_days=window_days)
        return result

    async def signals(self, actor: Actor) -> SignalsView:
        result: SignalsView = await self._call("signals", actor, SignalsView)
        return result

    async def deposit(self, actor: Actor, amount: object, reason: str = "") -> CashFlowRecorded:
        result: CashFlowRecorded = await self._call(
            "deposit", actor, CashFlowRecorded, amount=str(amount), reason=reason
        )
        return result

    async def withdraw(self, actor: Actor, amount: object, reason: str = "") -> CashFlowRecorded:
        result: CashFlowRecorded = await self._call(
            "withdraw", actor, CashFlowRecorded, amount=str(amount), reason=reason
        )
        return result

    async def chain_overview(self, actor: Actor) -> ChainOverview:
        result: ChainOverview = await self._call("chain_overview", actor, ChainOverview)
        return result

    async def redeem(self, actor: Actor, market: str) -> ChainOperationView:
        result: ChainOperationView = await self._call(
            "redeem", actor, ChainOperationView, market=market
        )
        return result

    async def merge(
        self, actor: Actor, market: str, pairs: object | None = None
    ) -> ChainOperationView:
        result: ChainOperationView = await self._call(
            "merge",
            actor,
            ChainOperationView,
            market=market,
            pairs=None if pairs is None else str(pairs),
        )
        return result

    async def strategies(self, actor: Actor) -> list[StrategyView]:
        result: list[StrategyView] = await self._call("strategies", actor, list[StrategyView])
        return result

    async def stage_step(self, actor: Actor, name: str, *, up: bool) -> SettingChange:
        result: SettingChange = await self._call(
            "stage_step", actor, SettingChange, name=name, up=up
        )
        return result

    async def set_stage(
        self, actor: Actor, name: str, target: Stage | str, *, expected: Stage | str
    ) -> SettingChange:
        result: SettingChange = await self._call(
            "set_stage", actor, SettingChange, name=name, target=str(target), expected=str(expected)
        )
        return result

    async def start_backtest(self, actor: Actor, strategy: str, days: int) -> BacktestStatus:
        result: BacktestStatus = await self._call(
            "start_backtest", actor, BacktestStatus, strategy=strategy, days=days
        )
        return result

    async def backtest_status(self, actor: Actor, job_id: str) -> BacktestStatus:
        result: BacktestStatus = await self._call(
            "backtest_status", actor, BacktestStatus, job_id=job_id
        )
        return result

    async def why(self, actor: Actor, ref: str | None = None) -> DecisionChain:
        result: DecisionChain = await self._call("why", actor, DecisionChain, ref=ref)
        return result

    async def why_denied(self, actor: Actor, limit: int = 5) -> list[DenialFacts]:
        result: list[DenialFacts] = await self._call(
            "why_denied", actor, list[DenialFacts], limit=limit
        )
        return result

    def subscribe_alerts(self, actor: Actor) -> RemoteStream[Alert]:
        return RemoteStream(self, "alerts", actor, Alert)

    def subscribe_approvals(self, actor: Actor) -> RemoteStream[ApprovalRequest]:
        return RemoteStream(self, "approvals", actor, ApprovalRequest)

    def subscribe_events(self, actor: Actor) -> RemoteStream[EventLine]:
        return RemoteStream(self, "events", actor, EventLine)

    # --- streams ------------------------------------------------------------------------

    async def _lines(self, which: str, actor: Actor) -> AsyncIterator[str]:
        """One connection's lines (keepalives included); ends when the connection does."""
        timeout = httpx.Timeout(self._timeout, read=self._timeout * 3)
        request = self._request(f"/stream/{which}", actor, {}, timeout)
        response = await self._http.send(request, stream=True)
        try:
            if response.status_code != 200:
                await response.aread()
                _document(response, self._name)
                return
            async for line in response.aiter_lines():
                yield line
        finally:
            await response.aclose()


class RemoteStream(Generic[T]):
    """A subscription over HTTP: iterating it connects, and reconnects after a drop."""

    def __init__(self, remote: RemoteControl, which: str, actor: Actor, kind: type[T]) -> None:
        self._remote = remote
        self._which = which
        self._actor = actor
        self._kind = kind
        self._closed = False

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        failures = 0
        while not self._closed:
            try:
                async for line in self._remote._lines(self._which, self._actor):
                    failures = 0
                    if line.strip():
                        yield decode_as(json.loads(line), self._kind)
            except (httpx.HTTPError, ControlError, WireError, ValueError) as error:
                log.info("stream %s of %s dropped: %s", self._which, self._remote.name, error)
            if self._closed:
                return
            await asyncio.sleep(RECONNECT_S[min(failures, len(RECONNECT_S) - 1)])
            failures += 1

    def close(self) -> None:
        self._closed = True


def _document(response: httpx.Response, name: str) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        document = response.json()
        if isinstance(document, dict) and "ok" in document:
            if response.status_code == 401:
                raise ControlError(f"{name} refused the hub's signature")
            return document
    if response.status_code >= 500:
        raise UnreachableError(f"{name} failed inside (HTTP {response.status_code})")
    raise ControlError(f"{name} answered HTTP {response.status_code}")
