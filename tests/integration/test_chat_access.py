"""One access gate for every transport: a stranger, a viewer and an operator get the same
decisions for the same command on Telegram (the real aiogram client against the fake Bot
API), WhatsApp (signed webhooks to the app's server, answers through the fake Graph API) and
the terminal chat."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import pytest

from bot.access import Roster
from bot.commands.core import CommandCore
from bot.console import ConsoleChat, format_plain
from bot.notifier import Notifier
from bot.telegram.callbacks import pack
from tests.support.chat_stack import (
    ChatStack,
    FakeDesk,
    memory_control,
    start_chat_stack,
)
from tests.support.graph_server import (
    OPERATOR,
    STRANGER,
    VIEWER,
    FakeGraphAPI,
    WhatsAppStack,
    button_reply,
    inbound,
    start_whatsapp_stack,
)
from tests.support.telegram_server import OPERATOR_ID, STRANGER_ID, VIEWER_ID, FakeBotAPI
from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.domain import TradingState
from trader.state import ControlState

REFUSAL = "Not authorised. Send /whoami to get your id for the operator to add."
KEY = "ap-0123456789ab"
TELEGRAM_USERS = {"stranger": STRANGER_ID, "viewer": VIEWER_ID, "operator": OPERATOR_ID}
WHATSAPP_USERS = {"stranger": STRANGER, "viewer": VIEWER, "operator": OPERATOR}


class Driver(Protocol):
    """One transport as a person uses it. Answers are the reply's title as they see it."""

    channel: str
    operator_name: str
    clock: FakeClock
    desk: FakeDesk
    state: ControlState

    def id_of(self, who: str) -> str: ...

    async def say(self, who: str, text: str) -> str: ...

    async def silent(self, who: str, text: str) -> bool: ...

    async def tap(self, who: str, command: str) -> str: ...

    async def stop(self) -> None: ...


def title(text: str) -> str:
    return text.split("\n", 1)[0].strip("*")


class TelegramDriver:
    channel = "telegram"
    operator_name = "User"  # the fake Bot API's first_name
    users = TELEGRAM_USERS

    def __init__(self, api: FakeBotAPI, stack: ChatStack) -> None:
        assert stack.desk is not None
        self.api, self.stack = api, stack
        self.clock, self.desk, self.state = stack.clock, stack.desk, stack.state

    def id_of(self, who: str) -> str:
        return str(self.users[who])

    async def say(self, who: str, text: str) -> str:
        user = self.users[who]
        before = len(self.api.to(user))
        self.api.send_text(user, text)
        await eventually(lambda: len(self.api.to(user)) > before)
        return title(self.api.to(user)[before].plain)

    async def silent(self, who: str, text: str) -> bool:
        user = self.users[who]
        before = len(self.api.to(user))
        self.api.send_text(user, text)
        whoami = await self.say(who, "/whoami")
        return [title(m.plain) for m in self.api.to(user)[before:]] == [whoami]

    async def tap(self, who: str, command: str) -> str:
        user = self.users[who]
        data = pack(command)
        assert data is not None
        before = len(self.api.to(user))
        query = self.api.press(user, None, data)
        await eventually(lambda: self.api.answer_for(query) is not None)
        answer = self.api.answer_for(query)
        assert answer is not None
        if answer.get("text"):
            return str(answer["text"])  # a toast on the button
        await eventually(lambda: len(self.api.to(user)) > before)
        return title(self.api.to(user)[before].plain)

    async def stop(self) -> None:
        await self.stack.stop()
        await self.api.stop()


class WhatsAppDriver:
    channel = "whatsapp"
    operator_name = "Pat"  # the fake Graph API's profile name
    users = WHATSAPP_USERS

    def __init__(self, api: FakeGraphAPI, stack: WhatsAppStack) -> None:
        assert stack.desk is not None
        self.api, self.stack = api, stack
        self.clock, self.desk, self.state = stack.clock, stack.desk, stack.state

    def id_of(self, who: str) -> str:
        return self.users[who]

    async def say(self, who: str, text: str) -> str:
        *_, sent = await self.stack.say(self.users[who], text)  # after any held alert cards
        return title(sent.text)

    async def silent(self, who: str, text: str) -> bool:
        return await self.stack.say(self.users[who], text) == []

    async def tap(self, who: str, command: str) -> str:
        number = self.users[who]
        await self.stack.deliver(inbound(number, button_reply(command, "button"), self.clock.now()))
        return title(self.api.to(number)[-1].text)

    async def stop(self) -> None:
        await self.stack.stop()
        await self.api.stop()


@dataclass
class ConsoleDriver:
    """The terminal chat with a roster that names a viewer too (the app's terminal user is
    the operator); a button in the terminal is typed as the command it shows."""

    clock: FakeClock
    desk: FakeDesk
    state: ControlState
    chats: dict[str, ConsoleChat]
    channel: str = "console"
    operator_name: str = "console:operator"  # no display name: the actor's id

    def id_of(self, who: str) -> str:
        return who

    async def say(self, who: str, text: str) -> str:
        reply = await self.chats[who].answer(text)
        assert reply is not None
        return title(format_plain(reply))

    async def silent(self, who: str, text: str) -> bool:
        return await self.chats[who].answer(text) is None

    async def tap(self, who: str, command: str) -> str:
        return await self.say(who, command)

    async def stop(self) -> None:
        return None


async def telegram() -> TelegramDriver:
    api = await FakeBotAPI().start()
    return TelegramDriver(api, await start_chat_stack(api))


async def whatsapp() -> WhatsAppDriver:
    api = await FakeGraphAPI().start()
    return WhatsAppDriver(api, await start_whatsapp_stack(api))


async def console() -> ConsoleDriver:
    clock = FakeClock()
    parts = await memory_control(clock)
    state, desk, control = parts.state, parts.desk, parts.control
    core = CommandCore(control, clock=clock, notifier=Notifier(clock))
    roster = Roster.of(["operator"], ["viewer"])
    chats = {
        who: ConsoleChat(core, stdin=io.StringIO(), stdout=io.StringIO(), user=who, roster=roster)
        for who in ("stranger", "viewer", "operator")
    }
    return ConsoleDriver(clock, desk, state, chats)


TRANSPORTS: dict[str, Callable[[], Awaitable[Driver]]] = {
    "telegram": telegram,
    "whatsapp": whatsapp,
    "console": console,
}


@pytest.fixture(params=list(TRANSPORTS))
async def driver(request: pytest.FixtureRequest) -> AsyncIterator[Driver]:
    the_driver = await TRANSPORTS[request.param]()
    try:
        yield the_driver
    finally:
        await the_driver.stop()


def expected(driver: Driver) -> dict[tuple[str, str], str]:
    viewer_needs = "needs the operator role; you are a viewer."
    table = {}
    for who in ("stranger", "viewer", "operator"):
        table[(who, "/whoami")] = f"Your {driver.channel} id is {driver.id_of(who)}"
    for action in ("/status", "/frobnicate", "tap Refresh", "tap Approve", "/pause"):
        table[("stranger", action)] = REFUSAL
    for who in ("viewer", "operator"):
        table[(who, "/status")] = "Polyops status"
        table[(who, "tap Refresh")] = "Polyops status"
        table[(who, "/frobnicate")] = "Unknown command 'frobnicate'. Commands:"
    table[("viewer", "tap Approve")] = f"/decide {viewer_needs}"
    table[("viewer", "/pause")] = f"/pause {viewer_needs}"
    table[("operator", "tap Approve")] = f"✅ Approved by {driver.operator_name}: order placed"
    table[("operator", "/pause")] = "Paused: no new entries."
    return table


async def test_every_transport_gives_each_role_the_same_decisions(driver: Driver) -> None:
    seen: dict[tuple[str, str], str] = {}
    repeated_refusal_silent = []
    for who in ("stranger", "viewer", "operator"):
        seen[(who, "/whoami")] = await driver.say(who, "/whoami")
        for text in ("/status", "/frobnicate"):
            seen[(who, text)] = await driver.say(who, text)
            driver.clock.advance(3601)  # past the stranger's once-an-hour refusal
        seen[(who, "tap Refresh")] = await driver.tap(who, "status")
        driver.clock.advance(3601)
        driver.desk.request_approval(key=KEY)
        seen[(who, "tap Approve")] = await driver.tap(who, f"decide {KEY} approve")
        driver.clock.advance(3601)
        paused_before = driver.desk.trading_status().state
        seen[(who, "/pause")] = await driver.say(who, "/pause")
        if who == "stranger":
            repeated_refusal_silent.append(await driver.silent(who, "/pause"))
        assert (who, paused_before) != ("operator", TradingState.PAUSED)

    assert seen == expected(driver)
    assert repeated_refusal_silent == [True]  # a stranger is told once an hour, not each time
    assert driver.desk.trading_status().state is TradingState.PAUSED
    approvals = [call for call in driver.desk.calls if call[0] == "approve"]
    assert [actor.split(":")[0] for _, actor, _ in approvals] == [driver.channel]
    assert [actor.split(":", 1)[1] for _, actor, _ in approvals] == [driver.id_of("operator")]
