"""A small W3C WebDriver client over httpx, for the browser test: `chromedriver --port=N` as a
child process on 127.0.0.1, one headless Chromium session, elements found by CSS selector.

The test needs a dozen of the protocol's endpoints (https://www.w3.org/TR/webdriver2/), so they
are written here rather than taken from Selenium: Selenium brought trio, trio-websocket, outcome,
wsproto, websocket-client and PySocks into the dev venv, and httpcore imports trio whenever it is
installed (about 0.2 s of every app start-up in the dev venv).

    async with chromium_session(CHROMEDRIVER, CHROMIUM, log=tmp / "chromedriver.log") as browser:
        await browser.open(url)
        (button,) = await browser.find_all("#login button")
        await button.click()

A WebDriver error raises `WebDriverError` with the command, the error code and the driver's
message. Leaving the block deletes the session and stops chromedriver (and the browser it
started), also when the block raised.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import free_port
from tests.support.waiting import eventually

# the key a web element reference is sent under (the W3C spec's constant)
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"
HEADLESS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")
STARTUP_TIMEOUT_S = 30.0  # chromedriver listening, on a busy 2-core machine
COMMAND_TIMEOUT_S = 60.0  # a new session starts Chromium; a navigation waits for the page
STOP_TIMEOUT_S = 10.0
# the error of a command on an element the page has since replaced (an htmx swap, say)
STALE_ELEMENT = "stale element reference"


class WebDriverError(Exception):
    """A command the driver refused: its `value.error` code and `value.message`."""

    def __init__(self, command: str, status: int, error: str, message: str) -> None:
        super().__init__(f"{command}: {error} (HTTP {status}): {message}")
        self.command = command
        self.status = status
        self.error = error
        self.message = message


class Browser:
    """One WebDriver session: every command is an HTTP request to chromedriver."""

    def __init__(self, http: httpx.AsyncClient, session_id: str) -> None:
        self.http = http
        self.session_id = session_id

    async def command(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """Send `method path` (relative to the session) and return the reply's `value`."""
        return await call(self.http, method, f"/session/{self.session_id}{path}", body)

    async def open(self, url: str) -> None:
        """Navigate, waiting for the page to load."""
        await self.command("POST", "/url", {"url": url})

    async def find_all(self, selector: str) -> list[Element]:
        """The elements matching a CSS selector, in document order (none: an empty list)."""
        found = await self.command(
            "POST", "/elements", {"using": "css selector", "value": selector}
        )
        return [Element(self, reference[ELEMENT_KEY]) for reference in found]

    async def execute(self, script: str, *arguments: Any) -> Any:
        """Run a function body in the page and return what it returns."""
        return await self.command("POST", "/execute/sync", {"script": script, "args": arguments})

    async def execute_async(self, script: str, *arguments: Any) -> Any:
        """Run a function body that reports its result by calling its last argument."""
        return await self.command("POST", "/execute/async", {"script": script, "args": arguments})

    async def source(self) -> str:
        return str(await self.command("GET", "/source"))

    async def screenshot(self, path: Path) -> None:
        """Write the viewport as a PNG."""
        png = base64.b64decode(await self.command("GET", "/screenshot"))
        await asyncio.to_thread(path.write_bytes, png)


@dataclass(frozen=True)
class Element:
    browser: Browser
    element_id: str

    async def _command(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return await self.browser.command(method, f"/element/{self.element_id}{path}", body)

    async def text(self) -> str:
        """Its rendered text, as a user sees it."""
        return str(await self._command("GET", "/text"))

    async def attribute(self, name: str) -> str | None:
        value = await self._command("GET", f"/attribute/{name}")
        return None if value is None else str(value)

    async def click(self) -> None:
        await self._command("POST", "/click", {})

    async def send_keys(self, text: str) -> None:
        await self._command("POST", "/value", {"text": text})


async def call(
    http: httpx.AsyncClient, method: str, path: str, body: Mapping[str, Any] | None = None
) -> Any:
    """One WebDriver request; its `value`, or `WebDriverError` from an error reply."""
    reply = await http.request(method, path, json=body)
    try:
        value = reply.json()["value"]
    except (ValueError, KeyError, TypeError):
        raise WebDriverError(
            f"{method} {path}", reply.status_code, "no value in reply", reply.text[:2000]
        ) from None
    if reply.is_error:
        error = value if isinstance(value, dict) else {}
        raise WebDriverError(
            f"{method} {path}",
            reply.status_code,
            str(error.get("error", "unknown error")),
            str(error.get("message", value)),
        )
    return value


@asynccontextmanager
async def chromium_session(
    chromedriver: str,
    chromium: str,
    *,
    log: Path,
    arguments: Sequence[str] = HEADLESS,
    mobile_emulation: Mapping[str, Any] | None = None,
) -> AsyncIterator[Browser]:
    """chromedriver on a free port (its output in `log`) and one session of `chromium` started
    with `arguments`; the session is deleted and chromedriver stopped on leaving."""
    port = free_port()
    with log.open("wb") as output:
        # its own process group, so stopping it also stops a browser it left behind
        driver = await asyncio.create_subprocess_exec(
            chromedriver,
            f"--port={port}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=COMMAND_TIMEOUT_S
        ) as http:
            await _until_ready(http, driver, log)
            options: dict[str, Any] = {"binary": chromium, "args": list(arguments)}
            if mobile_emulation is not None:
                options["mobileEmulation"] = dict(mobile_emulation)
            capabilities = {"browserName": "chrome", "goog:chromeOptions": options}
            created = await call(
                http, "POST", "/session", {"capabilities": {"alwaysMatch": capabilities}}
            )
            browser = Browser(http, str(created["sessionId"]))
            try:
                yield browser
            finally:
                with contextlib.suppress(httpx.HTTPError, WebDriverError):
                    await call(http, "DELETE", f"/session/{browser.session_id}")
    finally:
        await _stop(driver)


async def _until_ready(
    http: httpx.AsyncClient, driver: asyncio.subprocess.Process, log: Path
) -> None:
    async def ready() -> bool:
        if driver.returncode is not None:
            raise RuntimeError(f"chromedriver exited ({driver.returncode}): {_tail(log)}")
        try:
            status = await call(http, "GET", "/status")
        except httpx.TransportError:
            return False
        return bool(status.get("ready"))

    try:
        await eventually(ready, timeout=STARTUP_TIMEOUT_S, interval=0.05)
    except AssertionError as failed:
        raise AssertionError(f"chromedriver not ready: {failed}: {_tail(log)}") from None


async def _stop(driver: asyncio.subprocess.Process) -> None:
    """SIGTERM to chromedriver's process group (the browser it started is in it), then SIGKILL
    to whatever is left of the group after STOP_TIMEOUT_S."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, sent)
        with contextlib.suppress(TimeoutError, AssertionError):
            await asyncio.wait_for(driver.wait(), STOP_TIMEOUT_S)
            await eventually(lambda: not _group_alive(driver.pid), timeout=STOP_TIMEOUT_S)
            return


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _tail(log: Path, chars: int = 2000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
