"""The real aiogram client against the fake Bot API server: commands and roles."""

from __future__ import annotations

from tests.support.chat_stack import ChatStack
from tests.support.telegram_fixtures import stack
from tests.support.telegram_server import (
    OPERATOR_ID,
    STRANGER_ID,
    VIEWER_ID,
    FakeBotAPI,
)
from tests.support.waiting import eventually

__all__ = ["stack"]  # fixtures used by name below


async def ask(api: FakeBotAPI, user: int, text: str, *, count: int = 1) -> list[str]:
    before = len(api.to(user))
    api.send_text(user, text)
    await eventually(lambda: len(api.to(user)) >= before + count)
    return [m.plain for m in api.to(user)[before:]]


async def test_start_registers_menus_by_role(stack: ChatStack, api: FakeBotAPI) -> None:
    names = {key: [c["command"] for c in commands] for key, commands in api.commands.items()}

    assert names["default"] == ["whoami"]
    assert "pause" in names[f"chat:{OPERATOR_ID}"]
    assert "status" in names[f"chat:{OPERATOR_ID}"]
    assert "status" in names[f"chat:{VIEWER_ID}"]
    assert "pause" not in names[f"chat:{VIEWER_ID}"]
    assert ("deleteWebhook", {"drop_pending_updates": "false"}) in api.calls


async def test_status_for_operator_and_viewer(stack: ChatStack, api: FakeBotAPI) -> None:
    (operator_reply,) = await ask(api, OPERATOR_ID, "/status")
    (viewer_reply,) = await ask(api, VIEWER_ID, "/status")

    assert operator_reply.startswith("Polyops status")
    assert "Trading: RUNNING" in operator_reply
    assert viewer_reply.startswith("Polyops status")


async def test_a_command_as_a_photos_caption_is_answered_as_the_command(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    before = len(api.to(OPERATOR_ID))
    sender = {"id": OPERATOR_ID, "is_bot": False, "first_name": "Op"}
    photo = {"file_id": "f1", "file_unique_id": "u1", "width": 1, "height": 1}
    api.push_raw(
        {
            "message": {
                "message_id": 9001,
                "date": api.now(),
                "chat": {"id": OPERATOR_ID, "type": "private"},
                "from": sender,
                "photo": [photo],
                "caption": "/status",
            }
        }
    )
    await eventually(lambda: len(api.to(OPERATOR_ID)) > before)

    assert api.to(OPERATOR_ID)[before].plain.startswith("Polyops status")


async def test_stranger_gets_one_short_refusal_and_nothing_else(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    (refusal,) = await ask(api, STRANGER_ID, "/status")
    api.send_text(STRANGER_ID, "/pause")
    api.send_text(STRANGER_ID, "/events")
    (whoami,) = await ask(api, STRANGER_ID, "/whoami")

    assert refusal.startswith("Not authorised")
    assert whoami == f"Your telegram id is {STRANGER_ID}"
    assert len(api.to(STRANGER_ID)) == 2
    assert stack.events.audited(f"telegram:{STRANGER_ID}") == []
    assert stack.trading.state.value == "RUNNING"


async def test_viewer_cannot_control(stack: ChatStack, api: FakeBotAPI) -> None:
    (reply,) = await ask(api, VIEWER_ID, "/pause lunch")

    assert reply == "/pause needs the operator role; you are a viewer."
    assert stack.events.audited(f"telegram:{VIEWER_ID}") == []


async def test_operator_pauses_and_resumes(stack: ChatStack, api: FakeBotAPI) -> None:
    (paused,) = await ask(api, OPERATOR_ID, "/pause slow news")
    (resumed,) = await ask(api, OPERATOR_ID, "/resume")

    assert paused.startswith("Paused: no new entries.")
    assert "Reason: slow news" in paused
    assert resumed == "Resumed: trading."
    assert [c for _, c in stack.events.audited(f"telegram:{OPERATOR_ID}")] == ["pause", "resume"]


async def test_unknown_command_gets_help_by_role(stack: ChatStack, api: FakeBotAPI) -> None:
    (operator_help,) = await ask(api, OPERATOR_ID, "/frobnicate")
    (viewer_help,) = await ask(api, VIEWER_ID, "/help")

    assert operator_help.startswith("Unknown command 'frobnicate'")
    assert "/pause" in operator_help
    assert "/status" in viewer_help
    assert "/pause" not in viewer_help


async def test_in_a_group_the_senders_id_decides(stack: ChatStack, api: FakeBotAPI) -> None:
    group = -5005
    api.send_text(STRANGER_ID, "/pause", chat_id=group)
    api.send_text(STRANGER_ID, "just chatting", chat_id=group)
    api.send_text(OPERATOR_ID, "/status@polyops_test_bot", chat_id=group)
    api.send_text(OPERATOR_ID, "/status@some_other_bot", chat_id=group)

    await eventually(lambda: any(t.startswith("Polyops status") for t in api.texts(group)))
    await stack.transport.outbox.drain()
    texts = api.texts(group)
    assert sum(t.startswith("Polyops status") for t in texts) == 1
    assert sum(t.startswith("Not authorised") for t in texts) == 1
    assert stack.events.audited(f"telegram:{STRANGER_ID}") == []
