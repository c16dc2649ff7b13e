"""The display time zone reaches renderers through their context: a renderer handed zone X
shows times in X, whatever another renderer in the same process was handed, and there is no
process-wide zone to set."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot import alerts
from bot.commands.core import CommandCore
from bot.notifier import Notifier
from bot.render import common
from bot.reply import Role
from tests.support.chat_stack import memory_control
from trader.clock import FakeClock
from trader.control.api import EventLine
from trader.domain import Actor, Alert, Severity

NOON_UTC = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TOKYO = common.RenderContext(ZoneInfo("Asia/Tokyo"))
NEW_YORK = common.RenderContext(ZoneInfo("America/New_York"))
ADA = Actor("console", "ada", "Ada")


def test_there_is_no_process_wide_display_zone() -> None:
    assert not hasattr(common, "set_zone")
    assert not hasattr(common, "local")  # only a context shows a time


def test_each_context_renders_its_own_zone_in_any_order() -> None:
    rows = [EventLine(7, NOON_UTC, "startup", "system", "c1", "")]

    first = common.events(rows, TOKYO).text
    other = common.events(rows, NEW_YORK).text
    again = common.events(rows, TOKYO).text

    assert "#7 2026-01-15 21:00 JST startup" in first
    assert "#7 2026-01-15 07:00 EST startup" in other
    assert again == first  # rendering in New York left Tokyo's rendering alone


def test_an_acknowledgement_shows_the_time_in_the_notifiers_zone() -> None:
    alert = Alert("watchdog", Severity.CRITICAL, "No heartbeat")

    tokyo = alerts.acknowledged_reply(alert, ADA, NOON_UTC, TOKYO)
    utc = alerts.acknowledged_reply(alert, ADA, NOON_UTC, common.RenderContext(UTC))

    assert tokyo.lines[-1] == "Acknowledged by Ada at 2026-01-15 21:00 JST"
    assert utc.lines[-1] == "Acknowledged by Ada at 2026-01-15 12:00 UTC"


async def _core(zone: ZoneInfo, clock: FakeClock) -> CommandCore:
    control = (await memory_control(clock)).control
    return CommandCore(control, clock=clock, notifier=Notifier(clock, zone=zone), zone=zone)


async def test_two_command_cores_in_one_process_reply_in_their_own_zones() -> None:
    clock = FakeClock(NOON_UTC)
    tokyo = await _core(ZoneInfo("Asia/Tokyo"), clock)
    new_york = await _core(ZoneInfo("America/New_York"), clock)

    from_tokyo = await tokyo.handle("/events", ADA, Role.VIEWER)
    from_new_york = await new_york.handle("/events", ADA, Role.VIEWER)

    assert "2026-01-15 21:00 JST" in from_tokyo.text  # the audited /events itself
    assert "2026-01-15 07:00 EST" in from_new_york.text
    assert "EST" not in from_tokyo.text
    assert tokyo.context.notifier is not None
    assert tokyo.context.notifier.render.local(NOON_UTC) == "2026-01-15 21:00 JST"
