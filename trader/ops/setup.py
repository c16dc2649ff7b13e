"""`trader setup`: make the configured wallet ready to trade, and say what is still missing.

For the default deposit wallet (POLYMARKET_SIGNATURE_TYPE=3) it derives and shows the
wallet's address, deploys it through the relayer when the relayer says it is not deployed,
grants the trading approvals the SDK knows (`setup_trading_approvals`), and shows the address
to fund with its pUSD balance. An EOA (0) needs no deployment and pays gas for its own
approvals; a proxy (1) or Safe (2) was made by polymarket.com and is only checked.

Each step that cannot be done is one line naming the setting (or the thing) that is missing;
the exit status is 0 when the wallet is ready, 1 when something is missing, 2 for bad
settings. Running it again is safe: a deployed wallet is not deployed twice and granted
approvals are skipped. Secrets are used, never printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import typer
from polymarket import AsyncSecureClient
from polymarket.errors import RequestRejectedError

from trader.clock import SystemClock
from trader.config import Settings, VenueConfig
from trader.logs import REDACTOR
from trader.venue.polymarket import wallet as wallets
from trader.venue.polymarket.account import PolymarketAccount, WalletConfig
from trader.venue.polymarket.convert import COLLATERAL_SCALE
from trader.wiring import endpoints

EXIT_MISSING = 1
EXIT_CONFIG = 2
RELAYER_KEY_HINT = (
    "(with POLYMARKET_RELAYER_API_KEY_ADDRESS, the address that owns the key: see "
    "docs.polymarket.com/trading/gasless, relayer API keys)"
)


@dataclass(slots=True)
class SetupReport:
    rows: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def show(self, name: str, value: str) -> None:
        self.rows.append((name, value))

    def missing(self, line: str) -> None:
        self.problems.append(REDACTOR(line))

    def text(self) -> str:
        width = max((len(name) for name, _ in self.rows), default=0)
        lines = [f"{name:<{width}}  {value}" for name, value in self.rows]
        if self.problems:
            lines += ["", "missing:", *self.problems]
        else:
            lines += ["", "ready to trade"]
        return "\n".join(lines)


def account_for(config: VenueConfig) -> PolymarketAccount:
    if config.private_key is None:
        raise ValueError("no private key")
    relayer_key = config.relayer_api_key
    return PolymarketAccount(
        WalletConfig(
            private_key=config.private_key.get_secret_value(),
            signature_type=config.signature_type,
            funder=config.funder,
            relayer_api_key=relayer_key.get_secret_value() if relayer_key else None,
            relayer_api_key_address=config.relayer_api_key_address,
        ),
        environment=endpoints(config).environment(),
        clock=SystemClock(),
    )


async def collateral(client: AsyncSecureClient) -> Decimal:
    answer = await client.get_balance_allowance(asset_type="COLLATERAL")
    return Decimal(answer.balance) / COLLATERAL_SCALE


async def set_up(client: AsyncSecureClient, config: VenueConfig) -> SetupReport:
    report = SetupReport()
    kind = config.signature_type
    report.show("signer", f"{client.signer} (the key's address)")
    report.show("wallet", f"{client.wallet} {wallets.WALLET_NAMES[client.wallet_type]}")
    mismatch = wallets.wallet_problem(client, kind)
    if mismatch is not None:
        report.missing(f"{mismatch.setting}: {mismatch}")
        return report
    if await _deployed(client, config, report):
        await _approvals(client, config, report)
    balance = await collateral(client)
    report.show("balance", f"{balance} pUSD")
    report.show("fund", f"{client.wallet} (send pUSD on Polygon to this address)")
    if balance <= 0:
        report.missing(f"funds: {client.wallet} holds no pUSD: send pUSD on Polygon to it")
    return report


async def _deployed(client: AsyncSecureClient, config: VenueConfig, report: SetupReport) -> bool:
    if client.wallet_type == "EOA":
        report.show("deployed", "not needed (an EOA)")
        return True
    if await wallets.is_deployed(client):
        report.show("deployed", "yes")
        return True
    if client.wallet_type != "DEPOSIT_WALLET":
        report.show("deployed", "no")
        report.missing(f"POLYMARKET_FUNDER: {wallets.not_deployed(client)}")
        return False
    if config.relayer_api_key is None:
        report.show("deployed", "no")
        report.missing(
            "POLYMARKET_RELAYER_API_KEY: required to deploy the deposit wallet through the "
            f"relayer {RELAYER_KEY_HINT}"
        )
        return False
    try:
        await wallets.deploy(client)
    except Exception as error:
        report.show("deployed", "no")
        report.missing(relayer_problem("the relayer did not deploy the wallet", error))
        return False
    report.show("deployed", "yes (deployed now through the relayer)")
    return True


async def _approvals(client: AsyncSecureClient, config: VenueConfig, report: SetupReport) -> None:
    try:
        before = await wallets.approvals(client)
    except Exception as error:
        report.missing(f"POLYGON_RPC_URL: could not read the wallet's approvals: {error}")
        return
    if before.complete:
        report.show("approvals", f"all {before.required} set")
        return
    if client.wallet_type != "EOA" and config.relayer_api_key is None:
        report.show("approvals", f"{before.missing} of {before.required} missing")
        report.missing(
            f"POLYMARKET_RELAYER_API_KEY: required to set the {before.missing} missing trading "
            f"approvals through the relayer {RELAYER_KEY_HINT}"
        )
        return
    try:
        await wallets.set_approvals(client)
        after = await wallets.approvals(client)
    except Exception as error:
        report.show("approvals", f"{before.missing} of {before.required} missing")
        if client.wallet_type != "EOA":
            report.missing(relayer_problem("the relayer did not set the approvals", error))
        else:
            report.missing(f"approvals: not set (the key's address pays gas in POL): {error}")
        return
    granted = before.missing - after.missing
    report.show(
        "approvals", f"{after.required - after.missing} of {after.required} set ({granted} now)"
    )
    if not after.complete:
        report.missing(f"approvals: {after.missing} still missing after setting them")


def relayer_problem(what: str, error: Exception) -> str:
    """A relayer failure, naming the key when the relayer refused it, else the relayer."""
    refused = isinstance(error, RequestRejectedError) and error.status in (401, 403)
    setting = "POLYMARKET_RELAYER_API_KEY" if refused else "RELAYER_HOST"
    return f"{setting}: {what}: {type(error).__name__}: {error}"


async def run_setup(settings: Settings) -> int:
    config = settings.venue()
    if config.private_key is None:
        typer.echo("POLYMARKET_PRIVATE_KEY: required: setup acts for the key's wallet", err=True)
        return EXIT_CONFIG
    account = account_for(config)
    try:
        client = await account.open()
    except Exception as error:
        typer.echo(f"CLOB_HOST: {REDACTOR(str(error))}", err=True)
        return EXIT_MISSING
    try:
        report = await set_up(client, config)
    except Exception as error:  # a read the venue did not answer: say so, no traceback
        typer.echo(f"setup stopped: {REDACTOR(f'{type(error).__name__}: {error}')}", err=True)
        return EXIT_MISSING
    finally:
        await client.close()
    typer.echo(report.text())
    return EXIT_MISSING if report.problems else 0


__all__ = ["SetupReport", "account_for", "collateral", "run_setup", "set_up"]
