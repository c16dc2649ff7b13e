"""Pure pieces of the chat: confirmations, quiet hours, token buckets, splitting, formatting,
callback data."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.commands.core import parse
from bot.confirm import Confirmations, Refused
from bot.render.common import split_message, utf16_length
from bot.reply import Button, Reply
from bot.telegram import format as fmt
from bot.telegram.callbacks import ApprovalCallback, ConfirmCallback, pack
from bot.timing import QuietHours, QuietHoursError, TokenBucket
from trader.clock import FakeClock
from trader.domain import Actor

ADA = Actor("telegram", "1", "Ada")
BOB = Actor("telegram", "2", "Bob")


def test_confirmation_is_honoured_once_for_the_same_user() -> None:
    clock = FakeClock()
    book = Confirmations(clock)
    pending = book.issue("kill", ADA, {"cancel", "abort"})

    with pytest.raises(Refused):
        book.take(pending.token, "cancel", BOB)
    assert book.take(pending.token, "cancel", ADA).action == "kill"
    with pytest.raises(Refused):
        book.take(pending.token, "cancel", ADA)


def test_confirmation_expires() -> None:
    clock = FakeClock()
    book = Confirmations(clock, ttl=timedelta(seconds=60))
    pending = book.issue("kill", ADA, {"cancel"})

    clock.advance(61)

    with pytest.raises(Refused, match="expired"):
        book.take(pending.token, "cancel", ADA)


def test_confirmation_refuses_a_choice_it_did_not_offer_and_a_forged_token() -> None:
    book = Confirmations(FakeClock())
    pending = book.issue("rearm", ADA, {"rearm", "abort"})

    with pytest.raises(Refused):
        book.take(pending.token, "flatten", ADA)
    with pytest.raises(Refused):
        book.take("deadbeef0000", "rearm", ADA)
    assert book.take(pending.token, "rearm", ADA).action == "rearm"


@pytest.mark.parametrize(
    ("window", "local", "quiet"),
    [
        ("22:00-07:00", "03:00", True),
        ("22:00-07:00", "21:59", False),
        ("22:00-07:00", "07:00", False),
        ("01:30-05:00", "01:30", True),
        ("01:30-05:00", "12:00", False),
    ],
)
def test_quiet_hours_window(window: str, local: str, quiet: bool) -> None:
    zone = ZoneInfo("America/New_York")
    hour, minute = map(int, local.split(":"))
    when = datetime(2026, 7, 1, hour, minute, tzinfo=zone).astimezone(UTC)

    assert QuietHours.parse(window).contains(when, zone) is quiet


@pytest.mark.parametrize("bad", ["22-07", "25:00-07:00", "07:00-07:00", "", "off"])
def test_quiet_hours_rejects_bad_windows(bad: str) -> None:
    with pytest.raises(QuietHoursError):
        QuietHours.parse(bad)


async def test_token_bucket_waits_on_the_injected_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(clock, rate=1.0, burst=2)

    for _ in range(5):
        await bucket.acquire()

    assert sum(clock.sleeps) == pytest.approx(3.0)


def test_token_bucket_gives_rate_times_time_however_the_float_sums_fall() -> None:
    clock = FakeClock()
    bucket = TokenBucket(clock, rate=30, burst=3)
    taken = 0

    for _ in range(100):  # 0.1 s steps leave 0.9999999999999991 tokens at 0.6 s
        while bucket.take():
            taken += 1
        clock.advance(0.1)
    while bucket.take():
        taken += 1

    assert taken == 3 + 100 * 3
    assert bucket.wait_time() == pytest.approx(1 / 30)


def test_split_keeps_every_character_in_order_below_the_limit() -> None:
    text = "\n".join(f"line {i} " + "é😀" * (i % 40) for i in range(900))

    parts = split_message(text, 4096, measure=utf16_length)

    assert len(parts) > 2
    assert all(utf16_length(part) <= 4096 for part in parts)
    assert "\n".join(parts) == text


def test_format_escapes_dynamic_text_and_bolds_only_the_title() -> None:
    reply = Reply("Will <b>X</b> & Y?", ("price < 0.5 & > 0.4", "</code>"))

    (part,) = fmt.parts(reply)

    assert part.html.startswith("<b>Will &lt;b&gt;X&lt;/b&gt; &amp; Y?</b>\n")
    assert "<" not in part.html.removeprefix("<b>").replace("</b>", "", 1)
    assert html.unescape(part.html.replace("<b>", "").replace("</b>", "")) == reply.text
    assert part.plain == reply.text


def test_format_puts_a_long_reply_in_several_parts() -> None:
    reply = Reply("Report", tuple("x" * 99 for _ in range(101)))

    parts = fmt.parts(reply)

    assert len(parts) == 3
    assert "\n".join(p.plain for p in parts) == reply.text


def test_callback_data_round_trips_through_the_factories() -> None:
    data = pack("confirm 3fa9c1d2e0aa flatten")
    assert data == "cf:3fa9c1d2e0aa:flatten"
    parsed = ConfirmCallback.unpack(data)
    assert parsed.as_command() == "confirm 3fa9c1d2e0aa flatten"
    decision = ApprovalCallback.unpack(pack("decide 0123456789abcdef0123456789abcdef half") or "")
    assert decision.decision == "half"


def test_callback_data_that_cannot_fit_is_not_packed() -> None:
    assert pack("confirm " + "x" * 80 + " ok") is None
    assert fmt.keyboard(Reply("t", buttons=((Button("Too long", "ack " + "y" * 70),),))) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/status@polyops_bot", ("status", [])),
        ("  /PAUSE  slow news ", ("pause", ["slow", "news"])),
        ('/pause "unbalanced', ("pause", ['"unbalanced'])),
        ("", ("", [])),
        ('""', ("", [])),
        # a phone's no-break or wide space separates words as a space does (the root filter
        # already matched "/status\u00a0x" as /status)
        ("/pause\u00a0slow news", ("pause", ["slow", "news"])),
        ("/status\u2003x", ("status", ["x"])),
        ("/pause\u00a0'slow\u00a0news'", ("pause", ["slow news"])),
        ("/pause\x0cslow", ("pause", ["slow"])),  # ASCII separators str.split splits on
    ],
)
def test_parse(text: str, expected: tuple[str, list[str]]) -> None:
    assert parse(text) == expected


def test_a_hub_button_carries_its_instance_and_a_lone_traders_keeps_its_form() -> None:
    from bot.telegram.callbacks import AtApprovalCallback, AtCommandCallback, AtConfirmCallback

    data = pack("confirm 3fa9c1d2e0aa cancel @beta")
    assert data == "hcf:3fa9c1d2e0aa:cancel:beta"
    assert AtConfirmCallback.unpack(data).as_command() == "confirm 3fa9c1d2e0aa cancel @beta"
    approval = AtApprovalCallback.unpack(pack("decide ap-0123456789ab approve @alpha") or "")
    assert approval.as_command() == "decide ap-0123456789ab approve @alpha"
    shortcut = AtCommandCallback.unpack(pack("status @beta") or "")
    assert shortcut.as_command() == "status @beta"
    assert pack("confirm 3fa9c1d2e0aa flatten") == "cf:3fa9c1d2e0aa:flatten"


@pytest.mark.parametrize(
    ("line", "links"),
    [
        ("see polymarket.com/event/x", True),
        ("https://x", True),
        ("http://localhost:8080/health", True),
        ("www.example", True),
        ("t.me/polyops", True),
        ("dashboard at 127.0.0.1:8080", True),
        ("президент.рф/news", True),
        ("例子.中国", True),
        ("example．com", True),
        ("Equity $500.00 · 2.0% · v0.1.0", False),
        ("Will the U.S. election be called by Dec. 31?", False),
        ("e.g. rain", False),
    ],
)
def test_a_part_says_whether_it_may_hold_a_link(line: str, links: bool) -> None:
    (part,) = fmt.parts(Reply("Title", (line,)))

    assert part.links is links
