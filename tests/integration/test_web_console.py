"""The web page's guards over real HTTP (httpx against the real aiohttp server, no browser):
logins, expiring sessions, CSRF on every form, a viewer refused, every action audited with the
web user as actor (through the hub's signed Control API, as `hub.web:<user>`)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx

from tests.support.web_rig import OPERATOR, VIEWER, login, web_rig
from trader.clock import FakeClock
from trader.domain import TradingState


async def test_pages_need_a_login_and_a_wrong_password_is_refused(tmp_path: Path) -> None:
    async with web_rig(tmp_path) as rig, httpx.AsyncClient(base_url=rig.url) as http:
        anonymous = await http.get("/")
        page = await http.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        wrong = await http.post(
            "/login", data={"csrf": token.group(1), "user": OPERATOR[0], "password": "nope"}
        )
        act = await http.post("/act", data={"instance": "alpha", "action": "pause"})

    assert anonymous.status_code == 303
    assert anonymous.headers["Location"] == "/login"
    assert "Wrong name or password." in wrong.text
    assert act.status_code == 303  # to the login page: nothing done
    assert rig.memories["alpha"].desk.trading.state is TradingState.RUNNING


async def test_an_operator_pauses_through_the_page_and_is_audited(tmp_path: Path) -> None:
    async with web_rig(tmp_path) as rig, httpx.AsyncClient(base_url=rig.url) as http:
        csrf = await login(http, OPERATOR)
        page = await http.get("/")
        paused = await http.post("/act", data={"csrf": csrf, "instance": "beta", "action": "pause"})

    assert 'id="instance-alpha"' in page.text
    assert 'id="instance-beta"' in page.text
    assert "beta: trading PAUSED" in paused.text
    assert rig.memories["beta"].desk.trading.state is TradingState.PAUSED
    assert rig.memories["alpha"].desk.trading.state is TradingState.RUNNING
    assert ("hub.web:ann", "pause") in rig.memories["beta"].events.audited()


async def test_a_form_without_its_csrf_token_is_refused(tmp_path: Path) -> None:
    async with web_rig(tmp_path) as rig, httpx.AsyncClient(base_url=rig.url) as http:
        await login(http, OPERATOR)
        missing = await http.post("/act", data={"instance": "beta", "action": "pause"})
        forged = await http.post(
            "/act", data={"csrf": "guess", "instance": "beta", "action": "pause"}
        )

    assert missing.status_code == 403
    assert forged.status_code == 403
    assert rig.memories["beta"].desk.trading.state is TradingState.RUNNING


async def test_a_viewer_sees_no_controls_and_is_refused_when_posting(tmp_path: Path) -> None:
    async with web_rig(tmp_path) as rig, httpx.AsyncClient(base_url=rig.url) as http:
        rig.memories["alpha"].desk.request_approval()
        csrf = await login(http, VIEWER)
        page = await http.get("/")
        posted = await http.post("/act", data={"csrf": csrf, "instance": "beta", "action": "pause"})
        approve = await http.post(
            "/act",
            data={"csrf": csrf, "instance": "alpha", "action": "approve", "key": "ap-0123456789ab"},
        )

    assert 'id="pause-alpha"' not in page.text
    assert 'id="approve-ap-0123456789ab"' not in page.text
    assert "Pending approvals (1)" in page.text  # a viewer reads
    assert posted.status_code == 403
    assert approve.status_code == 403
    assert rig.memories["beta"].desk.trading.state is TradingState.RUNNING
    assert not rig.memories["alpha"].desk.calls


async def test_a_kill_needs_its_confirmation(tmp_path: Path) -> None:
    async with web_rig(tmp_path) as rig, httpx.AsyncClient(base_url=rig.url) as http:
        csrf = await login(http, OPERATOR)
        unconfirmed = await http.post(
            "/act", data={"csrf": csrf, "instance": "beta", "action": "kill", "confirm": "x"}
        )
        preview = await http.post(
            "/act", data={"csrf": csrf, "instance": "beta", "action": "kill-preview"}
        )
        state_after_preview = rig.memories["beta"].desk.trading.state
        token = re.search(r'name="confirm" value="([^"]+)"', preview.text)
        assert token is not None
        form = {"csrf": csrf, "instance": "beta", "action": "kill", "confirm": token.group(1)}
        killed = await http.post("/act", data=form | {"choice": "cancel"})
        again = await http.post("/act", data=form | {"choice": "cancel"})

    assert unconfirmed.status_code == 403
    assert "Kill beta: confirm" in preview.text
    assert state_after_preview is TradingState.RUNNING
    assert "beta: trading KILLED" in killed.text
    assert again.status_code == 403  # a confirmation is used once
    assert rig.memories["beta"].desk.trading.state is TradingState.KILLED
    assert rig.memories["alpha"].desk.trading.state is TradingState.RUNNING


async def test_a_session_expires(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        web_rig(tmp_path, session_ttl=timedelta(minutes=30), clock=clock) as rig,
        httpx.AsyncClient(base_url=rig.url) as http,
    ):
        await login(http, OPERATOR)
        fresh = await http.get("/")
        clock.advance(31 * 60)
        stale = await http.get("/")

    assert fresh.status_code == 200
    assert stale.status_code == 303
    assert stale.headers["Location"] == "/login"


async def test_five_wrong_passwords_lock_the_name_for_a_while(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        web_rig(tmp_path, clock=clock) as rig,
        httpx.AsyncClient(base_url=rig.url) as http,
    ):

        async def attempt(password: str) -> httpx.Response:
            page = await http.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token is not None
            form = {"csrf": token.group(1), "user": OPERATOR[0], "password": password}
            return await http.post("/login", data=form)

        for _ in range(5):
            await attempt("wrong")
        locked = await attempt(OPERATOR[1])
        clock.advance(16 * 60)
        later = await attempt(OPERATOR[1])

    assert "Too many wrong passwords" in locked.text
    assert later.status_code == 303
