"""The mission-control page in a real browser: Debian's headless Chromium driven by Selenium
through chromedriver, at a phone's width (390 x 844), against the page as the hub serves it
for two traders (tests/support/web_rig.py: their Control APIs over signed HTTP on 127.0.0.1).

Login, the status of both instances, the live event stream updating, a kill with its
confirmation, the approval of a pending trade, and a viewer who sees no control and is refused
when posting anyway. Screenshots of each step are written to the test's tmp dir (`shots/`).
Skipped, saying why, when chromium or chromedriver is not installed
(`apt-get install chromium chromium-driver`).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.web_rig import OPERATOR, VIEWER, WebRig, web_rig
from trader.domain import TradingState

pytestmark = pytest.mark.slow
T = TypeVar("T")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no chromium/chromedriver found: apt-get install -y chromium chromium-driver",
)


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(argument)
    # a phone's screen (a desktop window cannot be narrower than 500 px in headless Chromium)
    phone = {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1}}
    options.add_experimental_option("mobileEmulation", phone)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


class Page:
    """Blocking Selenium calls, each run in a thread so the servers' loop keeps serving."""

    def __init__(self, driver: Any, rig: WebRig, shots: Path) -> None:
        self.driver = driver
        self.rig = rig
        self.shots = shots

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(call, *args)

    async def open(self, path: str) -> None:
        await self.run(self.driver.get, self.rig.url + path)

    async def css(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return await self.run(self.driver.find_elements, By.CSS_SELECTOR, selector)

    async def text(self, selector: str) -> str:
        found = await self.css(selector)
        return " ".join([await self.run(lambda e=e: e.text) for e in found])

    async def click(self, selector: str) -> None:
        (element,) = await self.css(selector)
        await self.run(element.click)

    async def wait(self, predicate: Callable[[], Any], within: float = 15) -> None:
        deadline = time.monotonic() + within
        while True:
            if await predicate():
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not in the page within {within}s: {self.driver.page_source[-2000:]}"
                )
            await asyncio.sleep(0.2)

    async def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await self.run(self.driver.save_screenshot, str(path))
        return path

    async def login(self, who: tuple[str, str]) -> None:
        await self.open("/login")
        (user,) = await self.css("input[name=user]")
        (password,) = await self.css("input[name=password]")
        await self.run(user.send_keys, who[0])
        await self.run(password.send_keys, who[1])
        await self.click("#login button")
        await self.wait(lambda: self.css("#instances"))


@needs_browser
async def test_mission_control_in_a_phone_sized_browser(tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    async with web_rig(tmp_path) as rig:
        driver = await asyncio.to_thread(browser)
        page = Page(driver, rig, shots)
        try:
            await page.open("/")
            await page.wait(lambda: page.css("#login"))  # sent to the login page
            await page.shot("1-login")

            # login: the status of both instances
            await page.login(OPERATOR)
            assert await page.text("#state-alpha") == "RUNNING"
            assert await page.text("#state-beta") == "RUNNING"
            width = await page.run(driver.execute_script, "return document.body.scrollWidth")
            assert await page.run(driver.execute_script, "return window.innerWidth") == 390
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
            await page.wait(lambda: page.css("#confirm-kill"))
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
            await page.wait(lambda: page.css("#flash"))
            assert any(c[0] == "approve" for c in rig.memories["alpha"].desk.calls)
            assert ("hub.web:ann", "approve") in rig.memories["alpha"].events.audited()
            await page.shot("6-approved")

            # a viewer: no control buttons, and refused when posting anyway
            await page.click("header form button")
            await page.wait(lambda: page.css("#login"))
            rig.memories["alpha"].desk.request_approval(key="ap-00000000000b")
            await page.login(VIEWER)
            assert await page.css(".controls button") == []
            assert await page.css("#approve-ap-00000000000b") == []
            assert "Pending approvals (1)" in await page.text("#instance-alpha")
            await page.shot("7-viewer")
            status = await page.run(driver.execute_async_script, _POST_ANYWAY)
            assert status == 403
            assert rig.memories["alpha"].desk.trading.state is TradingState.RUNNING
        finally:
            await asyncio.to_thread(driver.quit)
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-login.png",
        "2-status.png",
        "3-events.png",
        "4-kill-confirm.png",
        "5-killed.png",
        "6-approved.png",
        "7-viewer.png",
    ]


async def _has(page: Page, selector: str, text: str) -> bool:
    return text in await page.text(selector)


# the viewer's own session and CSRF token, a pause posted as if the button were there
_POST_ANYWAY = """
const done = arguments[arguments.length - 1];
const csrf = document.querySelector('header input[name=csrf]').value;
const body = new URLSearchParams({csrf: csrf, instance: 'alpha', action: 'pause'});
fetch('/act', {method: 'POST', body: body}).then(r => done(r.status));
"""
