"""The alert catalog (kinds and their labels), the per-kind policy, and alert message text.

Alert kinds are free strings on `trader.domain.Alert`; the ones listed here are the ones the
operator can see and switch in `/alerts`. An unknown kind is delivered like any other (ON).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from bot.render import common as render
from bot.render import trading as render_trading
from bot.reply import Button, Reply
from bot.timing import QuietHours, QuietHoursError
from trader.control.api import AlertSettings
from trader.domain import Actor, Alert, Severity

KINDS: dict[str, str] = {
    "order_placed": "order placed",
    "order_filled": "order filled",
    "order_rejected": "order rejected",
    "order_cancelled": "order cancelled",
    "risk_mode": "risk mode change",
    "daily_loss": "daily loss limit",
    "kill": "kill switch",
    "feed_stale": "market feed stale",
    "venue_errors": "venue errors",
    "reconciliation": "reconciliation difference",
    "cycle_failed": "signal cycle failed",
    "llm_budget": "LLM budget",
    "market_resolved": "market resolved",
    "startup": "startup",
    "settings_fallback": "stored setting unusable",
    "shutdown": "shutdown",
    "watchdog": "watchdog",
    "approval": "approval requests",
    "daily_report": "daily report",
    "auto_halt": "automatic halt",
    "rearm": "re-arm",
    "drawdown_mode": "drawdown mode change",
    "exposure": "exposure near its limit",
    "supervisor": "component crashes",
    "job_failed": "scheduled job failed",
    "job_recovered": "scheduled job recovered",
    "llm_fallback": "heuristic used instead of the LLM",
    "news_failed": "news stage failed",
    "forecasts_not_stored": "forecasts not stored",
    "exit": "position exits",
    "exits_failed": "exits not evaluated",
    "win_rate": "win rate low",
    "clock_drift": "clock drift",
    "disk_space": "disk space low",
    "telegram_conflict": "Telegram token used elsewhere",
    "whatsapp": "WhatsApp delivery",
}

# the alerts about one decision's order or fill: they carry a /why button for its chain
EXPLAINED_KINDS = frozenset({"order_placed", "order_filled", "order_rejected"})

_MARK = {Severity.INFO: "ℹ️", Severity.WARNING: "⚠️", Severity.CRITICAL: "🚨"}
_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class AlertMode(StrEnum):
    ON = "on"  # delivered, rings (except in quiet hours)
    SILENT = "silent"  # delivered without a notification sound
    OFF = "off"  # not delivered (critical alerts are delivered anyway)


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """What the notifier forwards and how; built from the persisted alert settings."""

    modes: Mapping[str, AlertMode] = field(default_factory=dict)
    min_severity: Severity = Severity.INFO
    quiet_hours: QuietHours | None = None

    def mode_for(self, kind: str) -> AlertMode:
        return self.modes.get(kind, AlertMode.ON)

    def admits(self, severity: Severity) -> bool:
        return _RANK[severity] >= _RANK[self.min_severity]


def policy_from_settings(settings: AlertSettings) -> AlertPolicy:
    """The notifier's policy from the settings the Control API keeps.

    Off: `muted_kinds`, plus order_filled when `fill_alerts` is off and the daily report when
    `daily_report` is off. Silent: `silent_kinds` (a kind in both is off).
    """
    modes: dict[str, AlertMode] = {}
    for kind in settings.silent_kinds:
        modes[kind] = AlertMode.SILENT
    for kind in settings.muted_kinds:
        modes[kind] = AlertMode.OFF
    if not settings.fill_alerts:
        modes["order_filled"] = AlertMode.OFF
    if not settings.daily_report:
        modes["daily_report"] = AlertMode.OFF
    quiet = None
    if settings.quiet_start and settings.quiet_end:
        try:
            quiet = QuietHours.parse(f"{settings.quiet_start}-{settings.quiet_end}")
        except QuietHoursError:
            quiet = None
    return AlertPolicy(modes=modes, min_severity=settings.min_severity, quiet_hours=quiet)


def alert_reply(
    alert: Alert, *, ack_id: str | None = None, repeat: int = 0, duplicates: int = 0
) -> Reply:
    label = KINDS.get(alert.kind, alert.kind.replace("_", " "))
    title = f"{_MARK[alert.severity]} {alert.title}"
    if repeat:
        title = f"{title} (repeat {repeat}, not yet acknowledged)"
    lines = [line for line in alert.body.split("\n") if line] if alert.body else []
    lines.append(f"{alert.severity.value} · {label} · ref {alert.correlation_id[:8]}")
    if duplicates:
        lines.append(f"Happened {duplicates} more time(s) since.")
    buttons: tuple[tuple[Button, ...], ...] = (
        ((Button("Acknowledge", f"ack {ack_id}"),),) if ack_id else ()
    )
    if alert.kind in EXPLAINED_KINDS and alert.correlation_id:  # open the chain behind it
        buttons = (*buttons, (render_trading.why_button(alert.correlation_id),))
    images = (Path(alert.attachment),) if alert.attachment else ()  # the daily report's dashboard
    return Reply(title, tuple(lines), buttons=buttons, images=images)


def acknowledged_reply(
    alert: Alert, actor: Actor, when: datetime, ctx: render.RenderContext
) -> Reply:
    who = actor.name or str(actor)
    return Reply(
        f"{_MARK[alert.severity]} {alert.title}",
        (
            *(line for line in alert.body.split("\n") if line),
            f"Acknowledged by {who} at {ctx.local(when)}",
        ),
    )


def digest_reply(alerts: Sequence[Alert], repeats: Counter[str], examples: int) -> Reply:
    """One message for a burst: counts per kind, the repeats, and the last few titles."""
    worst = max((a.severity for a in alerts), key=_RANK.__getitem__, default=Severity.INFO)
    kinds = Counter(a.kind for a in alerts)
    total = len(alerts) + sum(repeats.values())
    lines = [f"{KINDS.get(kind, kind)}: {count}" for kind, count in kinds.most_common()]
    lines += [f"repeated: {title} ×{count}" for title, count in repeats.most_common(examples)]
    if alerts:
        lines.append("Latest:")
        lines += [f"  {_MARK[a.severity]} {a.title}" for a in alerts[-examples:]]
    return Reply(f"{_MARK[worst]} Digest: {total} more alert(s)", tuple(lines))


def settings_reply(policy: AlertPolicy, zone_name: str) -> Reply:
    quiet = f"{policy.quiet_hours} ({zone_name})" if policy.quiet_hours else "off"
    lines = [
        f"Minimum severity: {policy.min_severity.value}",
        f"Quiet hours: {quiet} (critical alerts always ring)",
        "",
    ]
    width = max(len(kind) for kind in KINDS)
    lines += [f"{kind:<{width}}  {policy.mode_for(kind).value}" for kind in KINDS]
    lines += ["", "Change: /alerts <kind|all> on|silent|off  ·  /quiet HH:MM-HH:MM|off"]
    return Reply("Alert settings", tuple(lines))
