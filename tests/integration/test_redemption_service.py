"""The redemption service (trader/execution/redemption/) over a scripted `ChainOps` (the
paper venue with its chain calls held, refused or answered late: tests/support/chain.py), on
the real execution core and database: redeemed once, followed by tx id across a restart, a
send without a tx id settled from the holdings, cash up by the payout, one alert."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.chain import ScriptedChainVenue
from tests.support.execution_rig import CONDITION, NO, YES, Rig, book, build_rig, buy, market
from tests.support.paper import MemoryJournal
from trader.clock import FakeClock
from trader.control.types import ControlError
from trader.domain import Alert
from trader.execution.chain_records import OperationKind, OperationState, SqlChainOperationStore
from trader.execution.redemption import RedemptionRun, RedemptionService
from trader.execution.runtime import ExecutionCore
from trader.store.trading import MarketRepository
from trader.venue.base import VenueUnavailable
from trader.venue.paper.feed import StaticMarketData

D = Decimal


class Stack:
    def __init__(
        self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
    ) -> None:
        self.engine, self.sessions, self.clock = engine, sessions, clock
        self.data = StaticMarketData(clock, [market(clock=clock)])
        self.data.set_book(book(YES, [("0.48", "100")], [("0.52", "100")]))
        self.data.set_book(book(NO, [("0.47", "100")], [("0.51", "100")]))
        self.venue = ScriptedChainVenue(
            self.data, bankroll=D(1000), clock=clock, journal=MemoryJournal()
        )
        self.rig: Rig | None = None
        self.alerts: list[Alert] = []
        self.cash_at_resolution = D(0)

    async def start(self) -> Rig:
        rig = await build_rig(self.engine, self.sessions, self.venue, self.clock, data=self.data)
        rig.run("execution.writer", "execution.fills")
        subscription = rig.bus.alerts.subscribe()
        self._subscription = subscription
        self.rig = rig
        return rig

    def drain_alerts(self) -> list[Alert]:
        while (envelope := self._subscription.get_nowait()) is not None:
            self.alerts.append(envelope.payload)
        return self.alerts

    async def stop(self) -> None:
        if self.rig is not None:
            await self.rig.stop()
            await self.rig.events.close()
            self.rig = None

    async def restart(self) -> Rig:
        """The trader's process again, over the same database and the same venue."""
        await self.stop()
        return await self.start()

    @property
    def runtime(self) -> ExecutionCore:
        assert self.rig is not None, "the trader is not running"
        return self.rig.runtime

    @property
    def service(self) -> RedemptionService:
        assert self.rig is not None
        service = self.rig.runtime.redemption
        assert service is not None
        return service

    async def records(self) -> list[tuple[OperationKind, OperationState]]:
        store = SqlChainOperationStore(self.sessions)
        return [(r.kind, r.state) for r in await store.of_market(CONDITION)]


@contextlib.asynccontextmanager
async def stack(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Stack]:
    clock = FakeClock()
    built = Stack(engine, sessions, clock)
    await built.venue.start()
    await built.start()
    try:
        yield built
    finally:
        await built.stop()
        await built.venue.close()
        built.data.close()


async def hold(s: Stack, token: str, size: str) -> None:
    """Buy `size` shares of `token` at its ask (YES 0.52, NO 0.51)."""
    price = "0.52" if token == YES else "0.51"
    await s.runtime.handle(buy(price=price, size=size, token_id=token, model="0.7"))


async def hold_and_resolve(s: Stack, payouts: dict[str, Decimal], token: str = YES) -> None:
    """Buy 20 shares of `token`, resolve the market, let reconciliation settle it."""
    assert s.rig is not None
    await hold(s, token, "20")
    s.data.resolve(CONDITION, payouts)
    await s.rig.runtime.reconcile("test")
    assert s.rig.runtime.summary().redeemable == sum(
        (D(20) * p for t, p in payouts.items() if t == token), D(0)
    )
    s.cash_at_resolution = s.rig.runtime.summary().cash


@pytest.fixture
async def yes_won(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Stack]:
    """20 YES held in a market that resolved YES, settled by reconciliation, not yet redeemed."""
    async with stack(engine, sessions) as s:
        await hold_and_resolve(s, {YES: D(1), NO: D(0)})
        yield s


async def test_a_resolved_yes_is_redeemed_once_and_cash_rises_by_the_payout(yes_won: Stack) -> None:
    s = yes_won

    run = await s.service.run_once()
    again = await s.service.run_once()

    assert [op.payout for op in run.confirmed] == [D(20)]
    assert again.confirmed == again.sent == ()
    assert s.venue.sends == 1
    assert s.runtime.summary().cash == s.cash_at_resolution + D(20)
    assert s.runtime.summary().redeemable == 0
    assert (await s.venue.balance()).cash == s.runtime.summary().cash
    assert await s.venue.positions() == []
    assert await s.records() == [(OperationKind.REDEEM, OperationState.CONFIRMED)]
    types = await s.rig.event_types(run.confirmed[0].correlation_id)
    assert types == ["redemption_requested", "redemption_sent", "redemption_confirmed"]
    redeemed = [a for a in s.drain_alerts() if a.kind == "redeem_confirmed"]
    assert len(redeemed) == 1
    assert "20.00 pUSD" in redeemed[0].title
    assert "Will it rain tomorrow?" in redeemed[0].title
    result = await s.runtime.reconcile("test")  # the venue agrees: nothing to correct
    assert result.corrections == ()


async def test_a_50_50_resolution_redeems_no_at_half_a_dollar(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with stack(engine, sessions) as s:
        await hold_and_resolve(s, {YES: D("0.5"), NO: D("0.5")}, token=NO)
        assert s.rig is not None
        cash = s.rig.runtime.summary().cash

        run = await s.service.run_once()

        assert [op.payout for op in run.confirmed] == [D(10)]
        assert s.rig.runtime.summary().cash == cash + D(10)
        assert (await s.venue.balance()).cash == s.rig.runtime.summary().cash


async def test_a_pending_redemption_is_followed_by_its_tx_id_across_a_restart_and_sent_once(
    yes_won: Stack,
) -> None:
    s = yes_won
    s.venue.hold = True

    first = await s.service.run_once()
    await s.service.run_once()  # still pending: not sent again
    rig = await s.restart()
    after_restart = await s.service.run_once()  # pending: followed, not sent
    await s.venue.release()
    mined = await s.service.run_once()

    assert [op.state for op in first.sent] == [OperationState.SENT]
    assert after_restart.confirmed == ()
    assert s.venue.sends == 1
    assert [op.tx_id for op in mined.confirmed] == [first.sent[0].tx_id]
    assert rig.runtime.summary().cash == s.cash_at_resolution + D(20)
    assert rig.runtime.summary().redeemable == 0
    assert await s.records() == [(OperationKind.REDEEM, OperationState.CONFIRMED)]


async def test_a_send_whose_answer_was_lost_is_settled_from_the_holdings_not_sent_again(
    yes_won: Stack,
) -> None:
    s = yes_won
    s.venue.lose_answer = True

    lost = await s.service.run_once()
    s.venue.lose_answer = False
    rig = await s.restart()
    settled = await s.service.run_once()

    assert [op.state for op in lost.pending] == [OperationState.REQUESTED]
    assert [op.message for op in settled.confirmed] == ["settled from the holdings"]
    assert s.venue.sends == 1
    assert rig.runtime.summary().cash == s.cash_at_resolution + D(20)


async def test_a_request_that_never_reached_the_venue_fails_after_the_grace_and_is_asked_again(
    yes_won: Stack,
) -> None:
    s = yes_won
    s.venue.lose_request = True
    await s.service.run_once()
    s.venue.lose_request = False

    waiting = await s.service.run_once()  # within the grace: neither sent nor given up
    s.clock.advance(601)
    later = await s.service.run_once()

    assert [op.state for op in waiting.pending] == [OperationState.REQUESTED]
    assert waiting.confirmed == ()
    assert s.venue.sends == 2  # the lost one, then once more after the grace
    assert [op.state for op in later.failed] == [OperationState.FAILED]
    assert [op.payout for op in later.confirmed] == [D(20)]
    assert await s.records() == [
        (OperationKind.REDEEM, OperationState.FAILED),
        (OperationKind.REDEEM, OperationState.CONFIRMED),
    ]
    assert any(a.kind == "redeem_failed" for a in s.drain_alerts())


async def test_a_refused_redemption_fails_with_an_alert_and_stops_after_three_tries(
    yes_won: Stack,
) -> None:
    s = yes_won
    s.venue.refuse = "execution reverted"

    for _ in range(5):
        await s.service.run_once()

    assert s.venue.sends == 3
    assert s.runtime.summary().cash == s.cash_at_resolution
    assert s.runtime.summary().redeemable == D(20)  # still owed
    failed = [a for a in s.drain_alerts() if a.kind == "redeem_failed"]
    assert len(failed) == 3
    assert "execution reverted" in failed[0].body
    s.venue.refuse = None
    by_hand = await s.service.redeem(CONDITION, "telegram:42")  # the operator may still
    assert by_hand.state is OperationState.CONFIRMED
    assert s.runtime.summary().cash == s.cash_at_resolution + D(20)


async def test_redeem_by_hand_refuses_what_is_not_redeemable_or_already_in_flight(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with stack(engine, sessions) as s:
        with contextlib.suppress(ControlError):
            await s.service.redeem(CONDITION, "telegram:42")
            raise AssertionError("nothing was settled: the redeem must be refused")
        await hold_and_resolve(s, {YES: D(1), NO: D(0)})
        listed = await s.service.redeemable()
        s.venue.hold = True
        await s.service.redeem(CONDITION, "telegram:42")

        refused = ""
        try:
            await s.service.redeem(CONDITION, "telegram:42")
        except ControlError as error:
            refused = str(error)

        assert [(i.market, i.payout, i.operation) for i in listed] == [(CONDITION, D(20), None)]
        assert "already sent" in refused
        assert s.venue.sends == 1


async def test_a_pair_worth_more_merged_than_sold_is_merged_into_collateral(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with stack(engine, sessions) as s:
        await hold(s, YES, "20")
        await hold(s, NO, "12")
        runtime = s.runtime
        cost = {t: p.size * p.average_price for t in (YES, NO) if (p := runtime.position(t))}
        cash = runtime.summary().cash
        [pair] = s.service.mergeable()  # bids 0.48 + 0.47: 12 pairs sell for 11.40

        run = await s.service.run_once()

        assert (pair.pairs, pair.sale) == (D(12), D("11.40"))
        assert [op.payout for op in run.confirmed] == [D(12)]
        assert s.venue.calls == [("merge", CONDITION, {"pairs": D(12)})]
        assert runtime.summary().cash == cash + D(12)
        assert (await s.venue.balance()).cash == runtime.summary().cash
        yes = runtime.position(YES)
        assert yes is not None
        assert yes.size == D(8)
        assert runtime.position(NO) is None
        realized = sum((r.pnl for r in runtime.realizations()), D(0))
        assert realized == D(12) - cost[NO] - D(12) * cost[YES] / D(20)
        assert {p.token_id: p.size for p in await s.venue.positions()} == {YES: D(8)}
        assert (await s.service.run_once()).confirmed == ()  # one side is gone: nothing more
        result = await runtime.reconcile("test")
        assert result.corrections == ()


async def test_a_pair_that_sells_for_more_than_a_dollar_is_not_merged(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with stack(engine, sessions) as s:
        await hold(s, YES, "10")
        await hold(s, NO, "10")
        runtime = s.runtime
        for token, bid in ((YES, "0.56"), (NO, "0.50")):
            runtime.board.put_book(book(token, [(bid, "100")], [("0.99", "100")]))

        run = await s.service.run_once()

        [pair] = s.service.mergeable()
        assert pair.sale == D("10.60")
        assert pair.gain < 0
        assert run.confirmed == ()
        assert s.venue.sends == 0


async def test_a_resolved_market_off_the_board_is_named_and_routed_from_the_markets_table(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    listed = replace(market(), condition_id="0xnegrisk", neg_risk=True, question="Who wins?")
    await MarketRepository(sessions, FakeClock()).upsert(listed)
    store = SqlChainOperationStore(sessions)

    assert await store.market_facts("0xnegrisk") == ("Who wins?", True)
    assert await store.market_facts("0xnever-seen") is None


async def test_the_job_goes_on_while_resolutions_cannot_be_read(yes_won: Stack) -> None:
    s = yes_won

    async def down(condition_ids: object) -> dict[str, dict[str, Decimal]]:
        raise VenueUnavailable("gamma is down")

    original = s.data.resolved_markets
    s.data.resolved_markets = down  # type: ignore[method-assign,assignment]
    during = await s.service.run_once()
    s.data.resolved_markets = original  # type: ignore[method-assign]
    after = await s.service.run_once()

    assert during == RedemptionRun()
    assert [op.payout for op in after.confirmed] == [D(20)]
    assert s.venue.sends == 1


async def test_a_sent_redemption_the_relayer_forgot_is_settled_from_the_holdings_never_resent(
    yes_won: Stack,
) -> None:
    s = yes_won
    s.venue.hold = True
    first = await s.service.run_once()
    s.venue.forget()  # the relayer restarted: a 404 for the tx id, the tx still in flight

    waiting = await s.service.run_once()  # within the grace: neither failed nor sent again
    s.clock.advance(300)
    still = await s.service.run_once()
    await s.venue.release()  # it is mined after all: the shares go
    settled = await s.service.run_once()

    assert [op.state for op in first.sent] == [OperationState.SENT]
    assert [op.state for op in waiting.sent] == [OperationState.SENT]
    assert [op.state for op in still.sent] == [OperationState.SENT]
    assert s.venue.sends == 1
    assert [op.message for op in settled.confirmed] == ["settled from the holdings"]
    assert s.runtime.summary().cash == s.cash_at_resolution + D(20)
    assert await s.records() == [(OperationKind.REDEEM, OperationState.CONFIRMED)]
    assert not any(a.kind == "redeem_failed" for a in s.drain_alerts())


async def test_a_forgotten_transaction_whose_shares_stay_fails_after_the_grace_once(
    yes_won: Stack,
) -> None:
    s = yes_won
    s.venue.hold = True
    await s.service.run_once()
    s.venue.forget()
    s.venue.hold = False

    s.clock.advance(601)
    later = await s.service.run_once()

    assert [op.message for op in later.failed] == [
        "not mined: the venue does not know held-0; the holdings did not change"
    ]
    assert s.venue.sends == 2  # given up after the grace, then asked once more
    assert [op.payout for op in later.confirmed] == [D(20)]


async def test_a_refusal_naming_the_rpc_url_alerts_without_its_key(yes_won: Stack) -> None:
    from trader.logs import REDACTOR, url_secrets

    s = yes_won
    key = "Zx9rT4kLm2Qw8vBn6Yh3Jd5Fs7Gp1Ac0"
    REDACTOR.register(*url_secrets(f"https://polygon-mainnet.g.alchemy.com/v2/{key}"))
    s.venue.refuse = f"rejected by https://polygon-mainnet.g.alchemy.com/v2/{key}: bad nonce"

    run = await s.service.run_once()

    failed = [a for a in s.drain_alerts() if a.kind == "redeem_failed"]
    assert len(failed) == 1
    assert "polygon-mainnet.g.alchemy.com/v2/[REDACTED]: bad nonce" in failed[0].body
    assert key not in failed[0].body + failed[0].title
    assert key not in run.failed[0].message
    stored = await SqlChainOperationStore(s.sessions).of_market(CONDITION)
    assert key not in stored[0].message
