"""The webhook's pure parts, roles by number, the 24-hour window, and error classification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.reply import Role
from bot.whatsapp.access import ServiceWindow, masked, normalise, number_roster
from bot.whatsapp.graph import ErrorKind, classify, error_from_body
from bot.whatsapp.webhook import SeenIds, parse_events, sign, signature_valid
from tests.support.graph_server import (
    APP_SECRET,
    OPERATOR,
    PHONE_NUMBER_ID,
    button_reply,
    encode,
    inbound,
    list_reply,
    signed,
    status,
    text,
)
from trader.clock import FakeClock

AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_the_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = encode(inbound(OPERATOR, text("status"), AT))

    assert sign(APP_SECRET, body) == signed(body)
    assert signature_valid(APP_SECRET, body, signed(body))
    assert signature_valid(APP_SECRET, body, signed(body).upper().replace("SHA256=", "sha256="))
    assert not signature_valid(APP_SECRET, body + b" ", signed(body))
    assert not signature_valid("other-secret", body, signed(body))
    assert not signature_valid(APP_SECRET, body, None)
    assert not signature_valid(APP_SECRET, body, signed(body).removeprefix("sha256="))


def test_typed_text_and_tapped_choices_become_command_lines() -> None:
    typed = inbound(OPERATOR, text("  /pause slow  "), AT, message_id="w1", name="Kim")
    button = inbound(OPERATOR, button_reply("confirm ab12 cancel", "🛑 Cancel & halt"), AT)
    row = inbound(OPERATOR, list_reply("decide ap-1 half", "½ 1"), AT, context="wamid.card")

    (first,) = parse_events(typed, PHONE_NUMBER_ID)[0]
    (second,) = parse_events(button, PHONE_NUMBER_ID)[0]
    (third,) = parse_events(row, PHONE_NUMBER_ID)[0]

    assert (first.id, first.sender, first.name, first.kind) == ("w1", OPERATOR, "Kim", "text")
    assert first.text == "  /pause slow  "
    assert first.sent_at == AT
    assert not first.tapped
    assert (second.kind, second.text, second.tapped) == ("button", "confirm ab12 cancel", True)
    assert (third.kind, third.text, third.context_id) == ("list", "decide ap-1 half", "wamid.card")


def test_statuses_and_their_errors_are_parsed() -> None:
    payload = status("wamid.9", "failed", OPERATOR, AT, code=131026)

    messages, statuses = parse_events(payload, PHONE_NUMBER_ID)

    assert messages == []
    (event,) = statuses
    assert (event.id, event.status, event.recipient, event.at) == (
        "wamid.9",
        "failed",
        OPERATOR,
        AT,
    )
    assert event.errors[0].code == 131026


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"entry": "x"},
        {"entry": [{"changes": [{"field": "account_update", "value": {}}]}]},
        inbound("not-a-number", text("status"), AT),
    ],
)
def test_anything_else_is_ignored(payload: object) -> None:
    assert parse_events(payload, PHONE_NUMBER_ID) == ([], [])


def test_seen_ids_are_bounded() -> None:
    seen = SeenIds(size=2)

    firsts = [seen.first(item) for item in ("a", "b", "a", "c", "d", "a")]

    assert firsts == [True, True, False, True, True, True]  # "a" forgotten after c and d


def test_roles_by_number_and_no_operators_means_nobody() -> None:
    access = number_roster(["+44 7700 900001"], ("447700900002",))
    nobody = number_roster([], [])

    assert access.role_of("447700900001") is Role.OPERATOR
    assert access.role_of("447700900002") is Role.VIEWER
    assert access.role_of("447700900003") is Role.STRANGER
    assert access.recipients(Role.OPERATOR) == ["447700900001"]
    assert access.recipients(Role.VIEWER) == ["447700900001", "447700900002"]
    assert nobody.role_of("447700900001") is Role.STRANGER
    assert normalise("+1 (555) 010-0000") == "15550100000"
    assert masked("447700900001") == "…0001"


def test_the_window_opens_with_a_message_and_closes_early_by_the_margin() -> None:
    clock = FakeClock(AT)
    window = ServiceWindow(clock, margin=timedelta(minutes=10))

    closed_before = window.is_open(OPERATOR)
    window.opened(OPERATOR, AT - timedelta(hours=1))
    window.opened(OPERATOR, AT - timedelta(hours=3))  # an older retry does not move it back
    open_now = window.is_open(OPERATOR)
    clock.advance(timedelta(hours=22, minutes=49).total_seconds())
    still_open = window.is_open(OPERATOR)
    clock.advance(60)
    closed_in_margin = window.is_open(OPERATOR)

    assert (closed_before, open_now, still_open, closed_in_margin) == (False, True, True, False)
    assert window.closes_at(OPERATOR) == AT + timedelta(hours=23)


def test_a_message_stamped_in_the_future_counts_from_now() -> None:
    clock = FakeClock(AT)
    window = ServiceWindow(clock)

    window.opened(OPERATOR, AT + timedelta(hours=5))

    assert window.last_inbound(OPERATOR) == AT


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (130429, 429, ErrorKind.RATE_LIMIT),
        (131056, 400, ErrorKind.RATE_LIMIT),
        (4, 400, ErrorKind.RATE_LIMIT),
        (131047, 400, ErrorKind.WINDOW_CLOSED),
        (131026, 400, ErrorKind.UNDELIVERABLE),
        (132001, 404, ErrorKind.TEMPLATE),
        (190, 401, ErrorKind.UNAUTHORIZED),
        (131000, 500, ErrorKind.TRANSIENT),
        (None, 503, ErrorKind.TRANSIENT),
        (None, 0, ErrorKind.TRANSIENT),
        (100, 400, ErrorKind.REJECTED),
        (None, 429, ErrorKind.RATE_LIMIT),
    ],
)
def test_graph_errors_are_classified_by_code(
    code: int | None, status: int, kind: ErrorKind
) -> None:
    assert classify(code, status) is kind


def test_an_error_body_is_read_without_the_request() -> None:
    body = {
        "error": {
            "message": "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            "code": 131056,
            "error_data": {"details": "too many messages to this number"},
        }
    }

    error = error_from_body(400, body)
    odd = error_from_body(502, "<html>bad gateway</html>")

    assert (error.code, error.kind) == (131056, ErrorKind.RATE_LIMIT)
    assert str(error).startswith("#131056 (#131056) (Business Account")
    assert "too many messages" in str(error)
    assert (odd.code, odd.kind) == (None, ErrorKind.TRANSIENT)
