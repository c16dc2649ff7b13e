"""The hub's chat over the fake Bot API and the real aiogram client, for two traders whose
Control APIs are served over signed HTTP on 127.0.0.1 (in-memory trading parts).

/status shows both and a total, /status beta one, /pause beta pauses only beta, /kill all
lists both and kills both after one confirmation, buttons come back to their instance, alerts
arrive tagged, an instance that stops answering is an alert, and a viewer controls nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.chat_stack import ask, tap
from tests.support.hub_stack import hub_stack
from tests.support.telegram_server import OPERATOR_ID, VIEWER_ID, FakeBotAPI
from tests.support.waiting import eventually
from trader.domain import Alert, Severity, TradingState


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


async def test_status_shows_every_instance_and_a_total(
    fake_telegram: FakeBotAPI, tmp_path: Path
) -> None:
    async with hub_stack(fake_telegram, tmp_path) as hub:
        hub.memories["beta"].desk.request_approval()
        await eventually(lambda: bool(fake_telegram.texts(OPERATOR_ID)))  # the approval card
        summary = await ask(fake_telegram, OPERATOR_ID, "/status")
        one = await ask(fake_telegram, OPERATOR_ID, "/status beta")

    lines = summary.plain.splitlines()
    assert lines[0] == "Polyops · 2 instances"
    assert lines[1].startswith("🟢 alpha · paper · RUNNING · $500.00 · today")
    assert lines[2].startswith("🟢 beta · paper · RUNNING")
    assert lines[2].endswith("1 to approve")
    assert lines[3].startswith("Total $1,000.00 · today")
    assert one.plain.startswith("[beta] Polyops status")
    assert any(data.endswith(":beta") for _label, data in one.buttons)  # Refresh comes back


async def test_pause_beta_pauses_only_beta_and_kill_all_kills_both_after_one_confirmation(
    fake_telegram: FakeBotAPI, tmp_path: Path
) -> None:
    async with hub_stack(fake_telegram, tmp_path) as hub:
        paused = await ask(fake_telegram, OPERATOR_ID, "/pause beta slow news")
        states = {n: m.desk.trading.state for n, m in hub.memories.items()}
        prompt = await ask(fake_telegram, OPERATOR_ID, "/kill all")
        asked = prompt.plain  # the message is edited into the answer when tapped
        before_tap = {n: m.desk.trading.state for n, m in hub.memories.items()}
        await tap(fake_telegram, OPERATOR_ID, prompt, "halt ALL")
        await eventually(
            lambda: all(m.desk.trading.state is TradingState.KILLED for m in hub.memories.values())
        )
        done = fake_telegram.to(OPERATOR_ID)[-1]
        audited = {n: m.events.audited("hub.telegram") for n, m in hub.memories.items()}

    assert paused.plain.startswith("[beta] Paused: no new entries.")
    assert states == {"alpha": TradingState.RUNNING, "beta": TradingState.PAUSED}
    assert "• alpha (paper, RUNNING, 0 open orders)" in asked
    assert "• beta (paper, PAUSED, 0 open orders)" in asked
    assert before_tap == states  # nothing happens before the confirmation
    assert "alpha: KILLED" in done.plain
    assert "beta: KILLED" in done.plain
    assert (f"hub.telegram:{OPERATOR_ID}", "kill") in audited["alpha"]
    assert (f"hub.telegram:{OPERATOR_ID}", "pause") in audited["beta"]
    assert (f"hub.telegram:{OPERATOR_ID}", "pause") not in audited["alpha"]


async def test_a_kill_button_of_one_instance_acts_on_that_instance_only(
    fake_telegram: FakeBotAPI, tmp_path: Path
) -> None:
    async with hub_stack(fake_telegram, tmp_path) as hub:
        prompt = await ask(fake_telegram, OPERATOR_ID, "/kill alpha")
        asked = prompt.plain
        await tap(fake_telegram, OPERATOR_ID, prompt, "Cancel orders and halt")
        await eventually(lambda: hub.memories["alpha"].desk.trading.state is TradingState.KILLED)
        beta = hub.memories["beta"].desk.trading.state

    assert asked.startswith("[alpha]")
    assert beta is TradingState.RUNNING


async def test_alerts_and_approvals_from_each_instance_arrive_tagged(
    fake_telegram: FakeBotAPI, tmp_path: Path
) -> None:
    async with hub_stack(fake_telegram, tmp_path) as hub:
        for name in ("alpha", "beta"):
            hub.memories[name].desk.publish_alert(
                Alert("venue_errors", Severity.WARNING, "Venue slow", "5 errors", dedupe_key="v")
            )
        await eventually(
            lambda: (
                {"⚠️ [alpha] Venue slow", "⚠️ [beta] Venue slow"}
                <= {t.splitlines()[0] for t in fake_telegram.texts(OPERATOR_ID)}
            )
        )
        hub.memories["beta"].desk.request_approval()
        await eventually(
            lambda: any(
                t.startswith("[beta]") and "approv" in t.casefold()
                for t in fake_telegram.texts(OPERATOR_ID)
            )
        )
        card = next(
            s for s in fake_telegram.to(OPERATOR_ID) if s.plain.startswith("[beta]") and s.buttons
        )
        buttons = list(card.buttons)
        await tap(fake_telegram, OPERATOR_ID, card, "Approve")
        await eventually(lambda: any(c[0] == "approve" for c in hub.memories["beta"].desk.calls))
        alpha_calls = hub.memories["alpha"].desk.calls
        await eventually(lambda: not card.buttons)  # every copy edited: decided, no buttons
        decided = card.plain

    assert len(buttons) == 4  # approve, half, reject, and Why (which /why answers there too)
    assert all(data.endswith(":beta") for _label, data in buttons)
    assert not any(c[0] == "approve" for c in alpha_calls)
    assert decided.startswith("[beta] ")  # the edited card still names its instance


async def test_an_instance_that_stops_answering_is_an_alert(
    fake_telegram: FakeBotAPI, tmp_path: Path
) -> None:
    async with hub_stack(fake_telegram, tmp_path) as hub:
        await hub.watch.check()
        quiet = list(fake_telegram.texts(OPERATOR_ID))
        await hub.served["beta"].server.stop()
        await hub.watch.check()
        await eventually(
            lambda: any(
                "[beta] instance not answering" in t for t in fake_telegram.texts(OPERATOR_ID)
            )
        )
        summary = await ask(fake_telegram, OPERATOR_ID, "/status")

    assert not any("not answering" in t for t in quiet)
    assert "⚫ beta · not answering" in summary.plain
    assert "1 of 2 instances answering" in summary.plain
    assert "🟢 alpha" in summary.plain


async def test_a_viewer_reads_every_instance_and_controls_none(
    fake_telegram: FakeBotAPI, tmp_path: Path
) -> None:
    async with hub_stack(fake_telegram, tmp_path) as hub:
        summary = await ask(fake_telegram, VIEWER_ID, "/status")
        pause = await ask(fake_telegram, VIEWER_ID, "/pause beta")
        kill = await ask(fake_telegram, VIEWER_ID, "/kill all")
        states = {n: m.desk.trading.state for n, m in hub.memories.items()}

    assert summary.plain.startswith("Polyops · 2 instances")
    assert "needs the operator role" in pause.plain
    assert "needs the operator role" in kill.plain
    assert set(states.values()) == {TradingState.RUNNING}


async def test_help_says_how_to_address_an_instance_and_a_bare_command_asks_which(
    fake_telegram: FakeBotAPI, tmp_path: Path
) -> None:
    async with hub_stack(fake_telegram, tmp_path):
        shown = await ask(fake_telegram, OPERATOR_ID, "/help")
        which = await ask(fake_telegram, OPERATOR_ID, "/positions")

    assert "Instances: alpha, beta. Name one after the command" in shown.plain
    assert which.plain.startswith("Which instance? /positions <instance>")
    assert [label for label, _data in which.buttons] == ["alpha", "beta"]
    assert [data for _label, data in which.buttons] == [
        "hcm:positions::alpha",
        "hcm:positions::beta",
    ]


async def test_the_morning_report_is_one_message_with_a_section_per_instance(
    fake_telegram: FakeBotAPI, tmp_path: Path
) -> None:
    async with hub_stack(fake_telegram, tmp_path) as hub:
        for name, equity in (("alpha", "1,010.00"), ("beta", "990.00")):
            hub.memories[name].desk.publish_alert(
                Alert(
                    "daily_report",
                    Severity.INFO,
                    "Daily report",
                    f"Equity ${equity}",
                    attachment="/nowhere/on/this/machine.png",
                )
            )
        await eventually(
            lambda: any("Daily report · 2 instances" in t for t in fake_telegram.texts(OPERATOR_ID))
        )
        texts = fake_telegram.texts(OPERATOR_ID)

    (report,) = [t for t in texts if "Daily report" in t]  # one message, not one per instance
    assert "— alpha —\nEquity $1,010.00" in report
    assert "— beta —\nEquity $990.00" in report
    assert "(the image is on beta's machine: /report beta)" in report
