"""The notifier: settings, quiet hours, dedupe, digests, critical repeats, approval expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.alerts import AlertMode, AlertPolicy
from bot.notifier import Notifier, NotifierConfig
from bot.reply import Reply, Role
from bot.timing import QuietHours
from trader.clock import FakeClock
from trader.domain import Actor, Alert, Severity

OPERATOR = Actor("telegram", "42", "Ada")


class RecordingChannel:
    def __init__(self) -> None:
        self.published: list[tuple[Reply, Role, str | None]] = []
        self.updates: list[tuple[str, Reply]] = []

    async def publish(self, reply: Reply, *, audience: Role, key: str | None = None) -> None:
        self.published.append((reply, audience, key))

    async def update(self, key: str, reply: Reply) -> None:
        self.updates.append((key, reply))

    @property
    def titles(self) -> list[str]:
        return [reply.title for reply, _, _ in self.published]


def make(
    clock: FakeClock, policy: AlertPolicy | None = None, **config: object
) -> tuple[Notifier, RecordingChannel]:
    notifier = Notifier(
        clock,
        zone=ZoneInfo("Europe/Paris"),
        config=NotifierConfig(**config),
        policy=policy,  # type: ignore[arg-type]
    )
    channel = RecordingChannel()
    notifier.add_channel(channel)
    return notifier, channel


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))


async def test_notifier_during_quiet_hours_sends_a_warning_silently(clock: FakeClock) -> None:
    quiet = AlertPolicy(quiet_hours=QuietHours.parse("22:00-07:00"))
    notifier, channel = make(clock, quiet)
    clock.set(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))  # 03:00 in Paris

    await notifier.notify(Alert("feed_stale", Severity.WARNING, "Market feed stale"))

    ((reply, audience, _),) = channel.published
    assert reply.silent
    assert audience is Role.VIEWER


async def test_notifier_outside_quiet_hours_rings(clock: FakeClock) -> None:
    notifier, channel = make(clock, AlertPolicy(quiet_hours=QuietHours.parse("22:00-07:00")))

    await notifier.notify(Alert("feed_stale", Severity.WARNING, "Market feed stale"))

    assert not channel.published[0][0].silent


async def test_notifier_critical_in_quiet_hours_rings_and_repeats_until_acknowledged(
    clock: FakeClock,
) -> None:
    notifier, channel = make(
        clock,
        AlertPolicy(quiet_hours=QuietHours.parse("22:00-07:00")),
        repeat_every=timedelta(minutes=5),
    )
    clock.set(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    await notifier.notify(Alert("watchdog", Severity.CRITICAL, "Heartbeat stopped"))
    first, _, key = channel.published[0]
    assert not first.silent
    assert key is not None
    assert first.buttons[0][0].label == "Acknowledge"

    clock.advance(60)
    await notifier.tick()
    assert len(channel.published) == 1  # not due yet
    clock.advance(5 * 60)
    await notifier.tick()
    clock.advance(5 * 60)
    await notifier.tick()
    assert len(channel.published) == 3
    assert all(not reply.silent for reply, _, _ in channel.published)
    assert "repeat 2" in channel.published[-1][0].title

    ack_id = first.buttons[0][0].data.split()[1]
    assert await notifier.acknowledge(ack_id, OPERATOR) is not None
    clock.advance(60 * 60)
    await notifier.tick()
    assert len(channel.published) == 3
    ((updated_key, done),) = channel.updates
    assert updated_key == key
    assert "Acknowledged by Ada" in done.text
    assert not done.buttons
    assert await notifier.acknowledge(ack_id, OPERATOR) is None  # a second tap does nothing


async def test_notifier_storm_of_a_thousand_venue_errors_sends_a_handful(clock: FakeClock) -> None:
    notifier, channel = make(clock)

    for i in range(1000):
        await notifier.notify(
            Alert("venue_errors", Severity.WARNING, "Venue error", f"HTTP 503 on request {i}")
        )
        if i % 100 == 0:
            clock.advance(1)
    clock.advance(120)
    await notifier.tick()

    assert 1 < len(channel.published) <= 7
    digest = channel.published[-1][0]
    assert "Digest" in digest.title
    assert "venue errors: 995" in digest.text


async def test_notifier_identical_alerts_within_the_window_are_sent_once(clock: FakeClock) -> None:
    notifier, channel = make(clock, dedupe_window=timedelta(minutes=5))

    for _ in range(50):
        await notifier.notify(Alert("feed_stale", Severity.WARNING, "Feed stale", "no book 60s"))
    clock.advance(90)
    await notifier.tick()

    assert channel.titles[0].endswith("Feed stale")
    assert len(channel.published) == 2
    assert "×49" in channel.published[1][0].text
    clock.advance(10 * 60)
    await notifier.notify(Alert("feed_stale", Severity.WARNING, "Feed stale", "no book 60s"))
    assert len(channel.published) == 3  # the window passed: it is news again


async def test_notifier_kind_off_is_dropped_but_critical_always_arrives(clock: FakeClock) -> None:
    policy = AlertPolicy(modes={"order_filled": AlertMode.OFF, "kill": AlertMode.OFF})
    notifier, channel = make(clock, policy)

    await notifier.notify(Alert("order_filled", Severity.INFO, "Filled 10 @ 0.41"))
    await notifier.notify(Alert("kill", Severity.CRITICAL, "Kill switch engaged"))

    assert len(channel.published) == 1
    assert "Kill switch" in channel.titles[0]
    assert notifier.stats["dropped"] == 1


async def test_notifier_silent_kind_arrives_without_sound(clock: FakeClock) -> None:
    notifier, channel = make(clock, AlertPolicy(modes={"order_filled": AlertMode.SILENT}))

    await notifier.notify(Alert("order_filled", Severity.INFO, "Filled"))

    assert channel.published[0][0].silent


async def test_notifier_below_minimum_severity_is_dropped(clock: FakeClock) -> None:
    notifier, channel = make(clock, AlertPolicy(min_severity=Severity.WARNING))

    await notifier.notify(Alert("order_placed", Severity.INFO, "Placed"))

    assert channel.published == []


async def test_notifier_expired_approval_request_is_edited_to_say_so(clock: FakeClock) -> None:
    notifier, channel = make(clock)
    await notifier.announce_approval(
        "r1", Reply("Approve?"), clock.now() + timedelta(minutes=10), lambda: Reply("Expired")
    )
    assert channel.published[0][1] is Role.OPERATOR

    clock.advance(9 * 60)
    await notifier.tick()
    assert channel.updates == []
    clock.advance(61)
    await notifier.tick()

    ((key, reply),) = channel.updates
    assert key == "ap:r1"
    assert reply.title == "Expired"
    assert not reply.buttons
    clock.advance(3600)
    await notifier.tick()
    assert len(channel.updates) == 1


async def test_notifier_a_broken_channel_does_not_silence_the_others(clock: FakeClock) -> None:
    class Broken(RecordingChannel):
        async def publish(self, reply: Reply, *, audience: Role, key: str | None = None) -> None:
            raise RuntimeError("down")

    notifier = Notifier(clock)
    good = RecordingChannel()
    notifier.add_channel(Broken())
    notifier.add_channel(good)

    await notifier.notify(Alert("startup", Severity.INFO, "Started"))

    assert len(good.published) == 1


async def test_notifier_a_repeat_does_not_hold_back_a_different_alert(clock: FakeClock) -> None:
    notifier, channel = make(clock)

    await notifier.notify(Alert("feed_stale", Severity.WARNING, "Feed stale"))
    await notifier.notify(Alert("feed_stale", Severity.WARNING, "Feed stale"))
    await notifier.notify(Alert("order_filled", Severity.INFO, "Filled"))

    assert len(channel.published) == 2
    assert channel.titles[1].endswith("Filled")
