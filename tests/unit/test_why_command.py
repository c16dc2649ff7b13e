"""/why through the access gate and the Control API, over a recorded chain (a fake of our own
`WhySource` port): a viewer may ask, a stranger learns nothing, bad input is answered plainly,
and the Why buttons on order, fill and approval messages carry the chain's id."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from bot.access import REFUSAL, Request, Roster
from bot.alerts import alert_reply
from bot.commands.core import CommandCore
from bot.notifier import Notifier
from bot.render.common import RenderContext
from bot.render.trading import approval_request
from bot.whatsapp import format as whatsapp_format
from tests.support.chat_stack import memory_control
from trader.clock import FakeClock
from trader.control.api import ApprovalRequest, ControlAPI
from trader.control.why import DecisionChain, DenialFacts, RiskFacts
from trader.domain import Actor, Alert, Severity, Side, TradingMode

VIEWER = Actor(channel="telegram", user_id="2002")
STRANGER = Actor(channel="telegram", user_id="3003")
T0 = datetime(2026, 3, 9, 14, tzinfo=UTC)
CHAIN = DecisionChain(
    "x",
    "c0ffee",
    "0xfed",
    "Will the Fed cut rates?",
    "Yes",
    risk=RiskFacts(T0, False, rule="max_exposure", message="total exposure would be 1100"),
)


class Recorded:
    def __init__(self) -> None:
        self.asked: list[str | None] = []

    async def explain(self, ref: str | None) -> DecisionChain:
        self.asked.append(ref)
        if ref == "nothing":
            raise LookupError("nothing recorded for 'nothing'")
        return CHAIN

    async def denials(self, limit: int) -> list[DenialFacts]:
        self.asked.append(f"denied {limit}")
        return [DenialFacts(T0, "c0ffee", "max_exposure", "over", "0xfed", "Will the Fed?", "BUY")]


async def gate(why: Recorded | None) -> CommandCore:
    clock = FakeClock(T0)
    parts = await memory_control(clock)
    control = parts.control
    if why is not None:
        control = ControlAPI(
            state=parts.state,
            events=parts.events,
            event_reader=parts.events,
            clock=clock,
            mode=TradingMode.PAPER,
            desk=parts.desk,
            why=why,
        )
    core = CommandCore(control, clock=clock, notifier=Notifier(clock))
    core.access.set_roster("telegram", Roster.of([1001], [2002]))
    return core


async def test_a_viewer_gets_the_chain_and_a_stranger_nothing() -> None:
    why = Recorded()
    core = await gate(why)

    viewer = await core.access.handle(Request(VIEWER, "/why 0xabc"))
    stranger = await core.access.handle(Request(STRANGER, "/why 0xabc"))

    assert viewer.reply.title == "Why: Will the Fed cut rates? — Yes"
    assert "Risk: DENIED by max_exposure: total exposure would be 1100" in viewer.reply.text
    assert stranger.reply == REFUSAL
    assert why.asked == ["0xabc"]  # the stranger's question never reached the records


async def test_the_forms_of_the_command() -> None:
    why = Recorded()
    core = await gate(why)

    last = await core.access.handle(Request(VIEWER, "/why"))
    denied = await core.access.handle(Request(VIEWER, "/why denied 3"))
    words = await core.access.handle(Request(VIEWER, "/why fed cut"))
    assert words.reply.title.startswith("Why:")
    unknown = await core.access.handle(Request(VIEWER, "/why nothing"))
    bad = await core.access.handle(Request(VIEWER, "/why denied many"))

    assert why.asked == [None, "denied 3", "fed cut", "nothing"]
    assert last.reply.title.startswith("Why:")
    assert denied.reply.title == "Last 1 denial(s)"
    assert "max_exposure: over" in denied.reply.text
    assert "/why c0ffee" in denied.reply.text
    assert unknown.reply.title == "Refused: nothing recorded for 'nothing'"
    assert "Expected one whole number" in bad.reply.text


async def test_without_a_source_the_command_says_it_is_not_configured() -> None:
    core = await gate(None)

    verdict = await core.access.handle(Request(VIEWER, "/why"))

    assert verdict.reply.title == "Decisions cannot be explained in this process."


def test_order_fill_and_approval_messages_carry_a_why_button() -> None:
    fill = Alert("order_filled", Severity.INFO, "Filled: BUY 10 @ 0.5", correlation_id="c0ffee")
    startup = Alert("startup", Severity.INFO, "Polyops started", correlation_id="c0ffee")
    request = ApprovalRequest(
        "ap-1",
        "0xfed",
        "Will the Fed?",
        "tok",
        "Yes",
        Side.BUY,
        Decimal("0.5"),
        Decimal(10),
        Decimal(5),
        "llm_edge",
        "edge",
        Decimal("0.6"),
        T0,
        T0,
        "c0ffee",
    )

    fill_buttons = [b.data for row in alert_reply(fill).buttons for b in row]
    card = approval_request(request, T0, RenderContext(UTC))
    card_buttons = [b.data for row in card.buttons for b in row]
    (on_whatsapp,) = whatsapp_format.plan(replace(card, lines=()))

    assert fill_buttons == ["why c0ffee"]
    assert alert_reply(startup).buttons == ()
    assert card_buttons[-1] == "why c0ffee"
    # WhatsApp keeps its three reply buttons: the optional Why is left out there
    assert isinstance(on_whatsapp, whatsapp_format.Buttons)
    assert [c.id for c in on_whatsapp.choices] == card_buttons[:3]
