"""A local RSS feed for the offline demo: headlines about the demo scenario's markets, dated
relative to now, served on 127.0.0.1 so the news stage and the heuristic model have something
to read without the internet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web

# (headline, seconds after the demo starts that it appears, minutes old when it appears)
HEADLINES = (
    ("Fed officials signal support for a rate cut at the next meeting", 0, 25),
    ("Committee members agree inflation is clear of target worries; cut likely", 0, 70),
    ("Heat record unlikely this summer as forecasts fall below the peak", 0, 55),
    ("BTC rally stalls; analysts say $150k close this year unlikely", 0, 35),
    ("Home team leads the final at half time", 0, 10),
    # Breaking news for the second cycle: something new to analyse, so an approval request.
    ("Competition authority set to approve the merger, sources say", 45, 1),
    ("Merger approval advances as regulators clear the final review", 45, 2),
)


def render_feed(started: datetime, now: datetime) -> str:
    items = []
    elapsed = (now - started).total_seconds()
    for n, (title, appears_s, minutes_old) in enumerate(HEADLINES):
        if appears_s > elapsed:
            continue
        appeared = started + timedelta(seconds=appears_s)
        published = format_datetime(appeared - timedelta(minutes=minutes_old))
        items.append(
            f"<item><title>{escape(title)}</title><guid>demo-{n}</guid>"
            f"<link>http://127.0.0.1/demo/{n}</link><pubDate>{published}</pubDate>"
            f"<description>{escape(title)}.</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>Polyops demo wire</title><link>http://127.0.0.1/</link>"
        "<description>Offline demo headlines</description>" + "".join(items) + "</channel></rss>"
    )


async def start_feed(host: str, port: int) -> tuple[web.AppRunner, str]:
    """Serve the feed; returns the runner (close it with `cleanup()`) and the feed URL."""
    started = datetime.now(UTC)

    async def feed(request: web.Request) -> web.Response:
        feed = render_feed(started, datetime.now(UTC))
        return web.Response(text=feed, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/news.xml", feed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, f"http://{host}:{port}/news.xml"
