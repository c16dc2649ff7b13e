"""Strategy stages: development -> paper -> live; only a promoted strategy trades real money.

The stage table, its persistence (a bad stored entry never stops start-up), the risk rule that
denies an entry of a strategy whose stage does not allow the mode (a sell is never trapped),
and `/strategies`, `/promote`, `/demote` through the command core: a viewer may look, only an
operator may move a stage, only after a confirmation, and a stale confirmation moves nothing.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from bot.commands.core import REFUSAL, CommandCore
from bot.notifier import Notifier
from bot.reply import Role
from tests.support.chat_stack import MemoryControl, memory_control
from tests.support.memory import MemoryStore
from tests.unit.test_bot_commands import ADA, button
from tests.unit.test_risk import ROOMY, buy, context
from trader.clock import FakeClock
from trader.config import ConfigError, load_settings
from trader.domain import Actor, Side, TradingMode
from trader.execution.risk import RiskApproval, RiskDenial, RiskEngine, RiskRule
from trader.stages import DEFAULT_STAGES, Stage, StageBook, StageError, parse_stage_setting
from trader.state import ControlState

BEA = Actor("console", "bea")  # a second operator


# the table ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "paper", "live"),
    [(Stage.DEVELOPMENT, False, False), (Stage.PAPER, True, False), (Stage.LIVE, True, True)],
)
def test_which_stage_trades_in_which_mode(stage: Stage, paper: bool, live: bool) -> None:
    assert stage.allows(TradingMode.PAPER) is paper
    assert stage.allows(TradingMode.LIVE) is live


def test_no_strategy_trades_real_money_before_it_is_promoted() -> None:
    book = StageBook.defaults()
    assert set(book.names) == set(DEFAULT_STAGES) == {"llm_edge"}
    assert book.trading_in(TradingMode.LIVE) == ()
    assert book.trading_in(TradingMode.PAPER) == ("llm_edge",)
    assert book.allows("manual", TradingMode.LIVE)  # not a strategy: not staged


def test_a_stage_moves_one_step_at_a_time_and_not_past_either_end() -> None:
    book = parse_stage_setting("llm_edge=development")
    assert book.step("llm_edge", up=True) is Stage.PAPER
    with pytest.raises(StageError, match="cannot be demoted further"):
        book.step("llm_edge", up=False)
    live = book.with_stage("llm_edge", Stage.LIVE)
    assert live.step("llm_edge", up=False) is Stage.PAPER
    with pytest.raises(StageError, match="cannot be promoted further"):
        live.step("llm_edge", up=True)
    with pytest.raises(StageError, match="unknown strategy 'nope'; the strategies are"):
        book.step("nope", up=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("llm_edge", "'llm_edge' is not strategy=stage"),
        ("llm_edge=production", "unknown stage 'production'"),
        ("momentum=live", "unknown strategy 'momentum'"),
    ],
)
def test_a_bad_strategy_stages_setting_stops_start_up_naming_it(text: str, message: str) -> None:
    with pytest.raises(StageError, match=message):
        parse_stage_setting(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(None, strategy_stages=text)
    assert "STRATEGY_STAGES" in str(caught.value)
    assert message.split("'")[1] in str(caught.value)


def test_the_setting_gives_the_starting_stage() -> None:
    settings = load_settings(None, strategy_stages=" llm_edge = Live ")  # stage in any case
    book = parse_stage_setting(settings.strategy_stages)
    assert book.stage_of("llm_edge") is Stage.LIVE


# persistence ----------------------------------------------------------------------------


async def test_a_stage_survives_a_restart_and_the_setting_only_seeds_a_fresh_database() -> None:
    store, clock = MemoryStore(), FakeClock()
    first = ControlState(store, clock, stage_defaults=parse_stage_setting("llm_edge=development"))
    await first.load()
    assert first.stages.stage_of("llm_edge") is Stage.DEVELOPMENT
    await first.set_stage("llm_edge", Stage.PAPER, "console:ada")

    # a restart with a different setting: the stored stage wins
    second = ControlState(store, clock, stage_defaults=parse_stage_setting("llm_edge=live"))
    await second.load()
    assert second.stages.stage_of("llm_edge") is Stage.PAPER


async def test_an_unusable_stored_stage_keeps_its_default_and_is_reported() -> None:
    store, clock = MemoryStore(), FakeClock()
    await store.set(
        "strategy_stages", {"llm_edge": "yolo", "gone_strategy": "live"}, updated_by="sql"
    )
    state = ControlState(store, clock)
    await state.load()  # never raises on stored data

    assert state.stages.stage_of("llm_edge") is Stage.PAPER
    problems = [p.message for p in state.limit_problems if p.name == "strategy_stages"]
    assert any("unknown stage 'yolo'" in p for p in problems)
    assert any("unknown strategy 'gone_strategy'" in p for p in problems)
    assert (await store.get_all())["strategy_stages"] == StageBook.defaults().to_json()


async def test_a_failed_write_changes_no_stage() -> None:
    class FailingStore(MemoryStore):
        fail = False

        async def set(self, key: str, value: object, *, updated_by: str) -> None:
            if self.fail:
                raise OSError("database is locked")
            await super().set(key, value, updated_by=updated_by)

    store = FailingStore()
    state = ControlState(store, FakeClock())
    await state.load()
    store.fail = True
    with pytest.raises(OSError, match="database is locked"):
        await state.set_stage("llm_edge", Stage.LIVE, "console:ada")
    assert state.stages.stage_of("llm_edge") is Stage.PAPER


# the risk rule --------------------------------------------------------------------------


def test_risk_denies_an_entry_of_a_strategy_not_staged_for_the_mode() -> None:
    stages = parse_stage_setting("llm_edge=paper")
    entry = buy(strategy="llm_edge")

    live = RiskEngine().check(entry, context(mode=TradingMode.LIVE, stages=stages))
    paper = RiskEngine().check(entry, context(mode=TradingMode.PAPER, stages=stages))
    manual = RiskEngine().check(
        buy(strategy="manual"), context(mode=TradingMode.LIVE, stages=stages)
    )

    assert isinstance(live, RiskDenial)
    assert live.rule is RiskRule.STRATEGY_STAGE
    assert live.message == (
        "llm_edge is at stage paper (trades in paper mode): no orders in live mode"
    )
    assert isinstance(paper, RiskApproval)
    assert isinstance(manual, RiskApproval)


def test_a_development_strategy_is_denied_in_every_mode() -> None:
    stages = parse_stage_setting("llm_edge=development")
    for mode in TradingMode:
        decision = RiskEngine().check(buy(strategy="llm_edge"), context(mode=mode, stages=stages))
        assert isinstance(decision, RiskDenial)
        assert decision.rule is RiskRule.STRATEGY_STAGE


def test_a_demoted_strategy_may_still_sell_what_is_held() -> None:
    stages = parse_stage_setting("llm_edge=development")
    held = dataclasses.replace(ROOMY, token_shares=Decimal(50))
    sell = buy(strategy="llm_edge", side=Side.SELL, limit_price=Decimal("0.49"), size=Decimal(20))

    decision = RiskEngine().check(
        sell, context(mode=TradingMode.LIVE, stages=stages, exposure=held)
    )

    assert isinstance(decision, RiskApproval)
    assert decision.reduces


# the chat -------------------------------------------------------------------------------


async def chat(mode: TradingMode = TradingMode.PAPER) -> tuple[CommandCore, MemoryControl]:
    clock = FakeClock()
    parts = await memory_control(clock, mode=mode)
    return CommandCore(parts.control, clock=clock, notifier=Notifier(clock)), parts


async def test_a_viewer_sees_the_stages_and_a_stranger_nothing() -> None:
    core, _ = await chat()

    viewer = await core.handle("/strategies", ADA, Role.VIEWER)
    stranger = await core.handle("/strategies", ADA, Role.STRANGER)

    assert viewer.text.startswith("Strategies")
    assert "llm_edge: paper (trades now) · no orders yet" in viewer.lines
    assert stranger == REFUSAL


async def test_a_viewer_cannot_promote() -> None:
    core, parts = await chat()

    reply = await core.handle("/promote llm_edge", ADA, Role.VIEWER)

    assert reply.notice
    assert "operator" in reply.text.casefold()
    assert parts.state.stages.stage_of("llm_edge") is Stage.PAPER


async def test_an_operator_promotes_after_confirming_and_it_is_audited() -> None:
    core, parts = await chat(TradingMode.LIVE)
    state, events = parts.state, parts.events

    ask = await core.handle("/promote llm_edge", ADA, Role.OPERATOR)
    assert ask.text.startswith("Promote llm_edge?\n")
    assert "paper → live" in ask.lines
    assert any("REAL MONEY" in line for line in ask.lines)
    assert state.stages.stage_of("llm_edge") is Stage.PAPER  # nothing moved yet

    done = await core.handle(button(ask, "Promote llm_edge to live"), ADA, Role.OPERATOR)

    assert "live" in done.text
    assert state.stages.stage_of("llm_edge") is Stage.LIVE
    changed = [e for e in events.rows if e.type == "strategy_stage_changed"]
    assert [(e.payload, e.actor) for e in changed] == [
        ({"strategy": "llm_edge", "from": "paper", "to": "live"}, str(ADA))
    ]
    status = await core.handle("/status", ADA, Role.VIEWER)
    assert "Strategies trading: llm_edge" in status.lines


async def test_a_stale_confirmation_moves_nothing() -> None:
    core, parts = await chat()
    state = parts.state
    first = await core.handle("/demote llm_edge", ADA, Role.OPERATOR)
    second = await core.handle("/demote llm_edge", BEA, Role.OPERATOR)
    await core.handle(button(second, "Demote llm_edge to development"), BEA, Role.OPERATOR)
    assert state.stages.stage_of("llm_edge") is Stage.DEVELOPMENT

    late = await core.handle(button(first, "Demote llm_edge to development"), ADA, Role.OPERATOR)

    assert "is now at stage development, not paper: nothing changed" in late.text
    assert state.stages.stage_of("llm_edge") is Stage.DEVELOPMENT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/promote", "Give exactly one strategy name."),
        ("/promote momentum", "unknown strategy 'momentum'"),
        ("/promote llm_edge;drop", "Not a valid strategy name"),
    ],
)
async def test_bad_promotions_get_a_useful_reply(text: str, expected: str) -> None:
    core, _ = await chat()
    reply = await core.handle(text, ADA, Role.OPERATOR)
    assert expected in reply.text


async def test_status_says_when_nothing_may_trade_in_live_mode() -> None:
    core, _ = await chat(TradingMode.LIVE)
    status = await core.handle("/status", ADA, Role.VIEWER)
    assert "Strategies trading: none at a stage for live mode (/strategies)" in status.lines


async def test_status_follows_the_stages_as_they_change() -> None:
    core, _ = await chat(TradingMode.LIVE)
    before = await core.handle("/status", ADA, Role.VIEWER)
    ask = await core.handle("/promote llm_edge", ADA, Role.OPERATOR)
    await core.handle(button(ask, "Promote llm_edge to live"), ADA, Role.OPERATOR)

    after = await core.handle("/status", ADA, Role.VIEWER)

    assert "Strategies trading: none at a stage for live mode (/strategies)" in before.lines
    assert "Strategies trading: llm_edge" in after.lines
