"""The watchdog's rules, end to end in one process: a real heartbeat row in a migrated
database, the real httpx sender against a fake Bot API (and a fake Graph API) on loopback,
and a FakeClock that moves time instead of sleeping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support.telegram_server import FakeBotAPI
from trader.clock import FakeClock
from trader.ops.health import HeartbeatProviders, HeartbeatWriter
from trader.store.repositories import HeartbeatRepository
from trader.store.tables import HeartbeatRow
from trader.venue.base import CancelResult, Venue
from trader.watchdog import (
    HttpAlertSender,
    TelegramTarget,
    VenueCanceller,
    Watchdog,
    WatchdogConfig,
    WhatsAppTarget,
)

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OPERATORS = (1001, 1002)
TIMEOUT = 60.0
POLL = 2.0


@dataclass
class FakeGraphAPI:
    """The one WhatsApp Cloud API call the watchdog makes: POST /{phone id}/messages."""

    token: str = "EAAtest-whatsapp-token"
    posts: list[dict[str, Any]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    async def start(self) -> FakeGraphAPI:
        app = web.Application()
        app.router.add_post("/v21.0/{phone}/messages", self._messages)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.port = self.runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _messages(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response(
                {"error": {"message": "Invalid OAuth access token"}}, status=401
            )
        body = await request.json()
        self.posts.append({"phone": request.match_info["phone"], **body})
        return web.json_response({"messages": [{"id": f"wamid.{len(self.posts)}"}]})


class FakeVenue:
    """Only what the emergency cancel touches: start, cancel_all, close."""

    def __init__(self, fail_times: int = 0) -> None:
        self.fail_times = fail_times
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def cancel_all(self) -> CancelResult:
        self.calls.append("cancel_all")
        if self.fail_times > 0:
            self.fail_times -= 1
            raise ConnectionError("venue unreachable")
        return CancelResult(canceled=("0xa", "0xb"), not_canceled={"0xc": "already matched"})

    async def close(self) -> None:
        self.calls.append("close")


class FlakyReader:
    """The real repository, made to fail on demand (a database that is briefly away)."""

    def __init__(self, inner: HeartbeatRepository) -> None:
        self.inner = inner
        self.down = False

    async def latest(self, component: str) -> HeartbeatRow | None:
        if self.down:
            raise OperationalError("SELECT", {}, Exception("unable to open database file"))
        return await self.inner.latest(component)


@dataclass
class Rig:
    clock: FakeClock
    api: FakeBotAPI
    repository: HeartbeatRepository
    writer: HeartbeatWriter
    client: httpx.AsyncClient
    reader: FlakyReader

    def texts(self, chat: int = OPERATORS[0]) -> list[str]:
        return [message.text for message in self.api.to(chat)]

    def watchdog(self, **overrides: Any) -> Watchdog:
        canceller = overrides.pop("canceller", None)
        sender = overrides.pop("sender", None) or HttpAlertSender(
            self.client,
            telegram=TelegramTarget(self.api.base_url, SecretStr(self.api.token), OPERATORS),
        )
        config = WatchdogConfig(timeout_s=TIMEOUT, poll_interval_s=POLL, **overrides)
        return Watchdog(self.reader, sender, self.clock, config, canceller=canceller)

    async def run_for(self, watchdog: Watchdog, seconds: float, *, beating: bool) -> None:
        """Advance time poll by poll; the app beats every 10 s when `beating`."""
        elapsed = 0.0
        while elapsed < seconds:
            self.clock.advance(POLL)
            elapsed += POLL
            if beating and round(elapsed) % 10 == 0:
                await self.writer.beat()
            await watchdog.poll()


@pytest.fixture
async def rig(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Rig]:
    clock = FakeClock(START)
    repository = HeartbeatRepository(sessions, clock)
    writer = HeartbeatWriter(
        repository,
        clock,
        HeartbeatProviders(trading_state=lambda: "RUNNING", open_orders=lambda: 2),
        interval_s=10,
        pid=4242,
    )
    async with FakeBotAPI() as api, httpx.AsyncClient() as client:
        yield Rig(clock, api, repository, writer, client, FlakyReader(repository))


async def test_silence_alerts_once_repeats_with_backoff_and_recovers(rig: Rig) -> None:
    watchdog = rig.watchdog()
    await rig.writer.beat()
    await rig.run_for(watchdog, 120, beating=True)
    assert rig.texts() == []

    await rig.run_for(watchdog, 62, beating=False)  # the last beat was at 120 s: 62 s ago
    texts = rig.texts()
    assert len(texts) == 1
    assert texts[0].startswith("🚨 Polyops app silent: no heartbeat for")
    assert "pid 4242" in texts[0]
    assert "trading RUNNING" in texts[0]
    assert "2 open orders" in texts[0]
    assert rig.texts(OPERATORS[1]) == texts  # every operator

    await rig.run_for(watchdog, 60, beating=False)  # first repeat after the timeout
    await rig.run_for(watchdog, 120, beating=False)  # then twice that
    await rig.run_for(watchdog, 100, beating=False)  # not yet four times
    assert [t.split(":")[0] for t in rig.texts()] == [
        "🚨 Polyops app silent",
        "🚨 Polyops app still silent",
        "🚨 Polyops app still silent",
    ]

    await rig.run_for(watchdog, 10, beating=True)
    assert rig.texts()[-1].startswith("✅ Polyops app recovered")
    assert len(rig.texts()) == 4
    await rig.run_for(watchdog, 200, beating=True)
    assert len(rig.texts()) == 4


async def test_no_heartbeat_ever_alerts_after_the_timeout_from_watchdog_start(rig: Rig) -> None:
    watchdog = rig.watchdog()
    await rig.run_for(watchdog, 58, beating=False)
    assert rig.texts() == []
    await rig.run_for(watchdog, 4, beating=False)
    assert len(rig.texts()) == 1
    assert "none recorded since the watchdog started" in rig.texts()[0]


async def test_a_row_already_stale_at_watchdog_start_alerts_at_once(rig: Rig) -> None:
    await rig.writer.beat()
    rig.clock.advance(3600)
    await rig.watchdog().poll()
    assert len(rig.texts()) == 1
    assert "no heartbeat for 60 min" in rig.texts()[0]


async def test_an_app_clock_ahead_of_ours_cannot_hide_a_silence(rig: Rig) -> None:
    ahead = FakeClock(START + timedelta(minutes=10))
    skewed = HeartbeatWriter(
        rig.repository, ahead, HeartbeatProviders(trading_state=lambda: "RUNNING"), interval_s=10
    )
    watchdog = rig.watchdog()
    await skewed.beat()
    await watchdog.poll()
    for _ in range(5):
        rig.clock.advance(10)
        ahead.advance(10)
        await skewed.beat()
        await watchdog.poll()
    await rig.run_for(watchdog, 64, beating=False)
    assert len(rig.texts()) == 1


async def test_a_clean_stop_is_one_notice_without_repeats(rig: Rig) -> None:
    watchdog = rig.watchdog()
    await rig.run_for(watchdog, 20, beating=True)
    await rig.writer.write_final("shutdown")
    await rig.run_for(watchdog, 600, beating=False)
    assert len(rig.texts()) == 1
    assert rig.texts()[0].startswith("⚠️ Polyops app stopped (shutdown at")
    await rig.run_for(watchdog, 10, beating=True)
    assert rig.texts()[-1].startswith("✅ Polyops app recovered")


async def test_a_database_briefly_away_is_survived_and_a_long_outage_is_said(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    watchdog = rig.watchdog()
    await rig.run_for(watchdog, 20, beating=True)
    rig.reader.down = True
    await rig.run_for(watchdog, 30, beating=True)  # brief: logged, no alert
    assert rig.texts() == []
    assert any("cannot read the heartbeat" in r.message for r in caplog.records)
    rig.reader.down = False
    await rig.run_for(watchdog, 10, beating=True)
    assert rig.texts() == []

    rig.reader.down = True
    await rig.run_for(watchdog, 200, beating=True)
    assert len(rig.texts()) == 1
    assert "database unreachable" in rig.texts()[0]
    rig.reader.down = False
    await rig.run_for(watchdog, 10, beating=True)
    assert len(rig.texts()) == 2
    assert "database reachable again" in rig.texts()[1]
    assert "recovered" in rig.texts()[1]


async def test_an_undelivered_alert_is_retried_with_backoff(rig: Rig) -> None:
    rig.api.fail("sendMessage", 502, "Bad Gateway", times=4)  # both operators, twice
    watchdog = rig.watchdog()
    await rig.writer.beat()
    await rig.run_for(watchdog, 62, beating=False)  # refused
    await rig.run_for(watchdog, 2, beating=False)  # the next poll: refused again
    await rig.run_for(watchdog, 2, beating=False)  # backing off: not tried
    assert rig.texts() == []
    assert len(rig.api.refused) == 4
    await rig.run_for(watchdog, 2, beating=False)  # 4 s after the second failure
    assert len(rig.texts()) == 1
    assert rig.texts()[0].startswith("🚨 Polyops app silent")


async def test_without_any_channel_the_log_is_the_delivery_without_flooding(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    watchdog = rig.watchdog(sender=HttpAlertSender(rig.client))
    await rig.writer.beat()
    await rig.run_for(watchdog, 600, beating=False)
    logged = [r.getMessage() for r in caplog.records if "no channel configured" in r.getMessage()]
    assert len(logged) == 4  # the alert, then repeats after 60, 120 and 240 s
    assert list(watchdog.sent) == [line.split(": ", 1)[1] for line in logged]


async def test_live_mode_cancels_every_open_order_once_after_cancel_after(rig: Rig) -> None:
    venue = FakeVenue(fail_times=1)
    canceller = VenueCanceller(lambda: cast(Venue, venue))
    watchdog = rig.watchdog(cancel_after_s=120.0, canceller=canceller)
    await rig.writer.beat()
    await rig.run_for(watchdog, 118, beating=False)
    assert venue.calls == []
    await rig.run_for(watchdog, 4, beating=False)
    assert venue.calls == ["start", "cancel_all", "close"]  # failed, closed anyway
    assert "could not cancel open orders" in rig.texts()[-1]
    await rig.run_for(watchdog, 6, beating=False)  # retried after a 5 s backoff
    assert venue.calls.count("cancel_all") == 2
    assert "2 cancelled, 1 not cancelled (already matched)" in rig.texts()[-1]
    await rig.run_for(watchdog, 600, beating=False)
    assert venue.calls.count("cancel_all") == 2
    await rig.run_for(watchdog, 10, beating=True)
    assert "open orders were cancelled by the watchdog" in rig.texts()[-1]


async def test_paper_mode_never_cancels(rig: Rig) -> None:
    venue = FakeVenue()
    canceller = VenueCanceller(lambda: cast(Venue, venue))
    watchdog = rig.watchdog(cancel_after_s=None, canceller=canceller)
    await rig.run_for(watchdog, 600, beating=False)
    assert venue.calls == []


async def test_whatsapp_gets_the_alert_template_with_the_text(rig: Rig) -> None:
    graph = await FakeGraphAPI().start()
    try:
        sender = HttpAlertSender(
            rig.client,
            whatsapp=WhatsAppTarget(
                f"http://127.0.0.1:{graph.port}/v21.0",
                SecretStr(graph.token),
                "1234567890",
                ("447700900123",),
                "polyops_alert",
                "en",
            ),
        )
        watchdog = rig.watchdog(sender=sender)
        await rig.writer.beat()
        await rig.run_for(watchdog, 62, beating=False)
    finally:
        await graph.stop()
    assert len(graph.posts) == 1
    post = graph.posts[0]
    assert post["phone"] == "1234567890"
    assert post["to"] == "447700900123"
    assert post["template"]["name"] == "polyops_alert"
    parameter = post["template"]["components"][0]["parameters"][0]["text"]
    assert parameter.startswith("🚨 Polyops app silent")
    assert "\n" not in parameter


async def test_a_refused_token_is_logged_without_the_token(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    sender = HttpAlertSender(
        rig.client,
        telegram=TelegramTarget(rig.api.base_url, SecretStr("999:wrong-token-value"), OPERATORS),
    )
    assert await sender.send("test") == 0
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "HTTP 401" in logged
    assert "wrong-token-value" not in logged


async def test_recovery_by_a_new_process_says_so(rig: Rig) -> None:
    watchdog = rig.watchdog()
    await rig.writer.beat()
    await rig.run_for(watchdog, 62, beating=False)
    restarted = HeartbeatWriter(
        rig.repository,
        rig.clock,
        HeartbeatProviders(trading_state=lambda: "PAUSED"),
        interval_s=10,
        pid=5555,
    )
    await restarted.beat()
    await watchdog.poll()
    assert "from a new process (pid 4242 -> 5555)" in rig.texts()[-1]
    assert "trading PAUSED" in rig.texts()[-1]
