"""`trader doctor`: the settings are valid (checked before this runs); can we reach each
configured service? Prints a table and exits 0 when everything configured answers, 1 if not.
Secrets are used for the checks but never printed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import typer

from trader.config import Settings
from trader.logs import REDACTOR
from trader.store.db import safe_url


@dataclass(frozen=True, slots=True)
class Check:
    service: str
    target: str
    ok: bool | None  # None: not configured, skipped
    detail: str


Probe = Callable[[], Awaitable[str]]


async def _timed(service: str, target: str, probe: Probe) -> Check:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(probe(), timeout=10)
    except Exception as error:
        # Error texts can carry a URL with a token in it: redact before anything is printed.
        return Check(service, target, False, REDACTOR(f"{type(error).__name__}: {error}")[:160])
    elapsed = (time.perf_counter() - started) * 1000
    return Check(service, target, True, f"{detail} ({elapsed:.0f} ms)")


async def _database(settings: Settings) -> str:
    from trader.store.db import create_engine
    from trader.store.schema import current_revision, head_revision

    engine = create_engine(settings.database_url)
    try:
        current = await current_revision(engine)
    finally:
        await engine.dispose()
    head = head_revision()
    if current != head:
        raise RuntimeError(f"schema at {current or 'nothing'}, needs {head}: run `trader migrate`")
    return f"schema {current}"


async def _wallet(settings: Settings) -> str:
    """Wallet type, deployment and pUSD balance: the SDK's client for the key (the venue
    adapter's, imported only when a key is set), never deploying anything."""
    from trader.ops.setup import account_for, collateral
    from trader.venue.polymarket import wallet as wallets

    client = await account_for(settings.venue()).open()
    try:
        name = wallets.WALLET_NAMES[client.wallet_type]
        kind = settings.polymarket_signature_type
        mismatch = wallets.wallet_problem(client, kind)
        if mismatch is not None:
            raise RuntimeError(f"{mismatch.setting}: {mismatch}")
        if not await wallets.is_deployed(client):
            if client.wallet_type != "DEPOSIT_WALLET":  # polymarket.com makes it, not setup
                raise RuntimeError(
                    f"{name} {client.wallet} does not exist on chain: polymarket.com makes it "
                    "(POLYMARKET_FUNDER)"
                )
            raise RuntimeError(f"{name} {client.wallet} not deployed: run `trader setup`")
        balance = await collateral(client)
    finally:
        await client.close()
    return f"{name} {client.wallet} (signature type {kind}), deployed, {balance} pUSD"


def _http_get(client: httpx.AsyncClient, url: str, *, expect: str = "") -> Probe:
    async def probe() -> str:
        response = await client.get(url)
        response.raise_for_status()
        if expect and expect not in response.text:
            raise RuntimeError(f"unexpected answer from {url}")
        return f"HTTP {response.status_code}"

    return probe


async def collect(settings: Settings, client: httpx.AsyncClient) -> list[Check]:
    probes: list[tuple[str, str, Probe]] = [
        ("database", safe_url(settings.database_url), lambda: _database(settings)),
        ("clob", settings.clob_host, _http_get(client, f"{settings.clob_host}/time")),
        ("gamma", settings.gamma_host, _http_get(client, f"{settings.gamma_host}/markets?limit=1")),
    ]
    skipped: list[Check] = []
    if settings.polymarket_private_key is not None:
        probes.append(("wallet", settings.clob_host, lambda: _wallet(settings)))
    else:
        skipped.append(Check("wallet", "-", None, "POLYMARKET_PRIVATE_KEY not set: paper only"))
    if settings.telegram_bot_token is not None:
        token = settings.telegram_bot_token.get_secret_value()
        url = f"{settings.telegram_api_base}/bot{token}/getMe"
        probes.append(("telegram", settings.telegram_api_base, _http_get(client, url)))
    else:
        skipped.append(Check("telegram", "-", None, "TELEGRAM_BOT_TOKEN not set: terminal chat"))
    if settings.whatsapp_token is not None and settings.whatsapp_phone_number_id:
        base = settings.whatsapp_api_base
        headers = {"Authorization": f"Bearer {settings.whatsapp_token.get_secret_value()}"}

        async def whatsapp() -> str:
            response = await client.get(
                f"{base}/{settings.whatsapp_phone_number_id}", headers=headers
            )
            response.raise_for_status()
            return f"HTTP {response.status_code}"

        probes.append(("whatsapp", base, whatsapp))
    else:
        skipped.append(Check("whatsapp", "-", None, "not configured"))
    if settings.anthropic_api_key is None:
        skipped.append(Check("anthropic", "-", None, "ANTHROPIC_API_KEY not set: heuristic model"))
    else:
        base = (settings.anthropic_base_url or "https://api.anthropic.com").rstrip("/")
        key = settings.anthropic_api_key.get_secret_value()

        async def anthropic() -> str:
            response = await client.get(
                f"{base}/v1/models",
                headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
            )
            response.raise_for_status()
            return f"HTTP {response.status_code}"

        probes.append(("anthropic", base, anthropic))
    _search_checks(settings, client, probes, skipped)
    results = await asyncio.gather(*(_timed(name, target, p) for name, target, p in probes))
    return [*results, *skipped]


def _search_checks(
    settings: Settings,
    client: httpx.AsyncClient,
    probes: list[tuple[str, str, Probe]],
    skipped: list[Check],
) -> None:
    """The news search: GDELT answers one small keyless query; Exa is not probed (every
    search is billed), only said to be configured."""
    providers = settings.search_providers() if settings.retrieval_on else ()
    if not providers:
        skipped.append(Check("retrieval", "-", None, "off (RETRIEVAL_ENABLED, or no LLM key)"))
        return
    if "gdelt" in providers:
        base = settings.gdelt_base_url
        url = f"{base}/api/v2/doc/doc?query=election&mode=artlist&format=json&maxrecords=1"
        probes.append(("gdelt", base, _http_get(client, url)))
    if "exa" in providers:
        skipped.append(Check("exa", settings.exa_base_url, None, "key set; not probed (billed)"))


def table(checks: list[Check]) -> str:
    width = max(len(c.service) for c in checks)
    rows = []
    for check in checks:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[check.ok]
        rows.append(f"{mark}  {check.service:<{width}}  {check.target}  {check.detail}")
    return "\n".join(rows)


async def run_doctor(settings: Settings) -> int:
    typer.echo(f"settings: ok (mode {settings.trading_mode.value}, tz {settings.operator_tz})")
    async with httpx.AsyncClient(timeout=8) as client:
        checks = await collect(settings, client)
    typer.echo(table(checks))
    return 1 if any(check.ok is False for check in checks) else 0
