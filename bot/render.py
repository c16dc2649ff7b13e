"""Text for replies and alerts, in the operator's terms. No markup: transports escape and style.

Times are stored in UTC and shown in the operator's time zone only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.reply import Reply
from trader.control import EventLine, StatusSnapshot

TELEGRAM_LIMIT = 4096
_ZONE: ZoneInfo = ZoneInfo("UTC")


def set_zone(zone: ZoneInfo) -> None:
    global _ZONE
    _ZONE = zone


def local(when: datetime | None) -> str:
    if when is None:
        return "never"
    return when.astimezone(_ZONE).strftime("%Y-%m-%d %H:%M %Z")


def age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def status(snapshot: StatusSnapshot) -> Reply:
    lines = [
        f"Mode: {snapshot.mode.value}",
        f"Trading: {snapshot.trading_state.value}"
        + (f" ({snapshot.state_reason})" if snapshot.state_reason else ""),
        f"Approval mode: {'on' if snapshot.approval_mode else 'off'}",
        f"Up: {age(snapshot.now - snapshot.started_at)} (pid {snapshot.pid}, v{snapshot.version})",
    ]
    for name, state in sorted(snapshot.components.items()):
        lines.append(f"  {name}: {state}")
    return Reply("Polyops status", tuple(lines))


def events(rows: Sequence[EventLine]) -> Reply:
    if not rows:
        return Reply("No events yet.")
    lines = [
        f"#{row.seq} {local(row.at)} {row.type} by {row.actor or '-'}"
        + (f": {row.summary}" if row.summary else "")
        for row in rows
    ]
    return Reply(f"Last {len(rows)} events", tuple(lines))


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split at line boundaries so every part is at most `limit` characters.

    A single line longer than the limit is cut at the limit (nothing is dropped).
    """
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current or not parts:
        parts.append(current)
    return parts
