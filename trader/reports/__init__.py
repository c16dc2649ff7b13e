"""The daily morning report: figures from the database, chat text, and matplotlib charts.

    ReportService(sessions, clock, zone)       .report(day) and .chart(kind, window_days)
    build_report(sessions, clock, zone, day)   -> Report(text, image_path, data)
    render_chart(sessions, clock, zone, kind)  -> Path of one chart's PNG
    report_command(database_url, date, out)    -> exit status, for `trader report`

    ReportWorker(database_url)                 the app's: reports made in a child process

Importing this package imports no matplotlib: charts are drawn in a worker thread, which
imports it on first use, or with a `ReportWorker` in a child process (the app's way).
"""

from __future__ import annotations

from trader.reports.api import (
    DEFAULT_REPORTS_DIR,
    Renderer,
    Report,
    ReportService,
    build_report,
    default_renderer,
    load_data,
    render_chart,
    report_command,
)
from trader.reports.collect import MarkSource, ReportOptions
from trader.reports.model import ChartKind, ReportData
from trader.reports.worker import ReportWorker

__all__ = [
    "DEFAULT_REPORTS_DIR",
    "ChartKind",
    "MarkSource",
    "Renderer",
    "Report",
    "ReportData",
    "ReportOptions",
    "ReportService",
    "ReportWorker",
    "build_report",
    "default_renderer",
    "load_data",
    "render_chart",
    "report_command",
]
