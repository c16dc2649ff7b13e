"""The mission-control page in a real browser: Debian's headless Chromium driven through
chromedriver by the project's small WebDriver client (tests/support/webdriver.py), at a phone's
width (390 x 844), against the page as the hub serves it for two traders
(tests/support/web_rig.py: their Control APIs over signed HTTP on 127.0.0.1).

Login, the status of both instances, the live event stream updating, a kill with its
confirmation, the approval of a pending trade, and a viewer who sees no control and is refused
when posting anyway. Screenshots of each step are written to the test's tmp dir (`shots/`).
Skipped, saying why, when chromium or chromedriver is not installed
(`apt-get install chromium chromium-driver`).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from tests.support.waiting import eventually
from tests.support.web_rig import OPERATOR, VIEWER, WebRig, web_rig
from tests.support.webdriver import (
    STALE_ELEMENT,
    Browser,
    Element,
    WebDriverError,
    chromium_session,
)
from trader.domain import TradingState

pytestmark = pytest.mark.slow
T = TypeVar("T")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no chromium/chromedriver found: apt-get install -y chromium chromium-driver",
)
# a phone's screen (a desktop window cannot be narrower than 500 px in headless Chromium)
PHONE = {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1}}


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    """A headless Chromium session; deleted, and chromedriver stopped, even when the test fails."""
    assert CHROMIUM is not None  # needs_browser skips otherwise
    assert CHROMEDRIVER is not None
    log = tmp_path / "chromedriver.log"
    async with chromium_session(CHROMEDRIVER, CHROMIUM, log=log, mobile_emulation=PHONE) as session:
        yield session


class Page:
    """The browser on the rig's page: selectors, waits and screenshots."""

    def __init__(self, browser: Browser, rig: WebRig, shots: Path) -> None:
        self.browser = browser
        self.rig = rig
        self.shots = shots

    async def open(self, path: str) -> None:
        await self.browser.open(self.rig.url + path)

    async def css(self, selector: str) -> list[Element]:
        return await self.browser.find_all(selector)

    async def shown(self, selector: str) -> bool:
        return bool(await self.css(selector))

    async def text(self, selector: str) -> str:
        async def read() -> str:
            return " ".join([await element.text() for element in await self.css(selector)])

        return await self.fresh(read)

    async def click(self, selector: str) -> None:
        async def click() -> None:
            (element,) = await self.css(selector)
            await element.click()

        await self.fresh(click)

    async def fresh(self, action: Callable[[], Awaitable[T]]) -> T:
        """`action` again while it meets an element the page replaced after it was found (an
        event refreshes the instances' cards: htmx swaps `#instances` for a new copy)."""
        done: list[T] = []

        async def attempt() -> bool:
            try:
                done.append(await action())
            except WebDriverError as refused:
                if refused.error != STALE_ELEMENT:
                    raise
                return False
            return True

        await self.wait(attempt)
        return done[0]

    async def wait(self, predicate: Callable[[], Awaitable[bool]], within: float = 15) -> None:
        try:
            await eventually(predicate, timeout=within, interval=0.2)
        except AssertionError:
            source = await self.browser.source()
            raise AssertionError(f"not in the page within {within}s: {source[-2000:]}") from None

    async def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await self.browser.screenshot(path)
        return path

    async def login(self, who: tuple[str, str]) -> None:
        await self.open("/login")
        (user,) = await self.css("input[name=user]")
        (password,) = await self.css("input[name=password]")
        await user.send_keys(who[0])
        await password.send_keys(who[1])
        await self.click("#login button")
        await self.wait(lambda: self.shown("#instances"))


@needs_browser
async def test_mission_control_in_a_phone_sized_browser(tmp_path: Path, browser: Browser) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    async with web_rig(tmp_path) as rig:
        page = Page(browser, rig, shots)
        await page.open("/")
        await page.wait(lambda: page.shown("#login"))  # sent to the login page
        await page.shot("1-login")

        # login: the status of both instances
        await page.login(OPERATOR)
        assert await page.text("#state-alpha") == "RUNNING"
        assert await page.text("#state-beta") == "RUNNING"
        width = await browser.execute("return document.body.scrollWidth")
        assert await browser.execute("return window.innerWidth") == 390
        assert width <= 390  # nothing wider than the phone
        await page.shot("2-status")

        # the live event stream updates
        await page.wait(lambda: _has(page, "#live", "live"))
        rig.memories["alpha"].events.append(
            "order_filled", {"market": "rain-paris"}, correlation_id=None, actor="trader"
        )
        await page.wait(lambda: _has(page, "#events", "[alpha] order_filled"))
        await page.shot("3-events")

        # a kill with its confirmation: beta only
        await page.click("#kill-preview-beta")
        await page.wait(lambda: page.shown("#confirm-kill"))
        assert rig.memories["beta"].desk.trading.state is TradingState.RUNNING
        await page.shot("4-kill-confirm")
        await page.click("#confirm-cancel")
        await page.wait(lambda: _has(page, "#flash", "beta: trading KILLED"))
        assert await page.text("#state-beta") == "KILLED"
        assert rig.memories["alpha"].desk.trading.state is TradingState.RUNNING
        assert ("hub.web:ann", "kill") in rig.memories["beta"].events.audited()
        await page.shot("5-killed")

        # the approval of a pending trade
        request = rig.memories["alpha"].desk.request_approval()
        await page.open("/")
        await page.click(f"#approve-{request.key}")
        await page.wait(lambda: page.shown("#flash"))
        assert any(c[0] == "approve" for c in rig.memories["alpha"].desk.calls)
        assert ("hub.web:ann", "approve") in rig.memories["alpha"].events.audited()
        await page.shot("6-approved")

        # a viewer: no control buttons, and refused when posting anyway
        await page.click("header form button")
        await page.wait(lambda: page.shown("#login"))
        rig.memories["alpha"].desk.request_approval(key="ap-00000000000b")
        await page.login(VIEWER)
        assert await page.css(".controls button") == []
        assert await page.css("#approve-ap-00000000000b") == []
        assert "Pending approvals (1)" in await page.text("#instance-alpha")
        await page.shot("7-viewer")
        status = await browser.execute_async(_POST_ANYWAY)
        assert status == 403
        assert rig.memories["alpha"].desk.trading.state is TradingState.RUNNING
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-login.png",
        "2-status.png",
        "3-events.png",
        "4-kill-confirm.png",
        "5-killed.png",
        "6-approved.png",
        "7-viewer.png",
    ]


@needs_browser
async def test_the_webdriver_client_says_why_and_stops_the_driver_when_the_test_fails(
    tmp_path: Path,
) -> None:
    with pytest.raises(_TestFailed) as failed:
        await _refused_then_failing(tmp_path / "chromedriver.log")
    refused, driver_url = failed.value.args
    assert "invalid selector (HTTP 400): invalid selector" in str(refused)
    assert refused.error == "invalid selector"
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):  # chromedriver is gone
            await http.get(driver_url)


class _TestFailed(Exception):
    pass


async def _refused_then_failing(log: Path) -> None:
    assert CHROMIUM is not None  # needs_browser skips otherwise
    assert CHROMEDRIVER is not None
    async with chromium_session(CHROMEDRIVER, CHROMIUM, log=log) as session:
        try:
            await session.find_all("[[")
        except WebDriverError as refused:
            raise _TestFailed(refused, str(session.http.base_url)) from None
        raise AssertionError("an invalid selector was accepted")


async def _has(page: Page, selector: str, text: str) -> bool:
    return text in await page.text(selector)


# the viewer's own session and CSRF token, a pause posted as if the button were there
_POST_ANYWAY = """
const done = arguments[arguments.length - 1];
const csrf = document.querySelector('header input[name=csrf]').value;
const body = new URLSearchParams({csrf: csrf, instance: 'alpha', action: 'pause'});
fetch('/act', {method: 'POST', body: body}).then(r => done(r.status));
"""
