"""The hub's tags: a reply from one instance names it, and so does every reply that follows it
(`/backtest`'s progress edits and its chart), with buttons that come back to the instance."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bot.render.hub import tagged
from bot.reply import Button, Reply

CHART = b"\x89PNG\r\n\x1a\n"


async def test_a_tagged_reply_tags_every_reply_that_follows_it() -> None:
    async def later() -> AsyncIterator[Reply]:
        yield Reply("Backtest: 50%", ("48 of 97 cycles",), buttons=((Button("Stop", "stop"),),))
        yield Reply("Backtest, 2 days", images=(CHART,))

    first = tagged("alpha", Reply("Backtest: starting", follow=later))
    assert first.follow is not None
    updates = [update async for update in first.follow()]

    assert first.title == "[alpha] Backtest: starting"
    assert [update.title for update in updates] == [
        "[alpha] Backtest: 50%",
        "[alpha] Backtest, 2 days",
    ]
    assert updates[0].lines == ("48 of 97 cycles",)
    assert updates[0].buttons == ((Button("Stop", "stop @alpha"),),)
    assert updates[1].images == (CHART,)


def test_a_tagged_reply_without_a_follow_has_none() -> None:
    assert tagged("beta", Reply("Paused")).follow is None
