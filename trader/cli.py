"""The `trader` command line. Every command validates the settings first: a bad setting
stops it before anything is touched, with one line per problem and exit status 2."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from trader.config import ConfigError, Settings, load_settings
from trader.ops.collector import collector_paused

cli = typer.Typer(
    name="trader",
    help="Polyops: chat-ops trading for Polymarket.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_CONFIG = 2


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        config_exit(error)


def config_exit(error: ConfigError) -> NoReturn:
    """One line per problem on stderr, exit status 2: for bad settings and for a setting a
    service refused at start-up (a revoked Telegram token)."""
    typer.echo("Polyops cannot start: the configuration has problems:", err=True)
    for line in error.problems:
        typer.echo(line, err=True)
    raise typer.Exit(EXIT_CONFIG) from None


def setup_logging_for(settings: Settings) -> None:
    from trader.logs import setup_logging, url_secrets

    setup_logging(
        settings.log_level,
        as_json=settings.log_json,
        secrets=(
            settings.polymarket_private_key,
            settings.polymarket_relayer_api_key,
            settings.telegram_bot_token,
            settings.whatsapp_token,
            settings.whatsapp_app_secret,
            settings.whatsapp_verify_token,
            settings.anthropic_api_key,
            settings.openai_api_key,
            settings.exa_api_key,
            settings.control_api_secret,
            settings.hub_secrets,
            *url_secrets(settings.polygon_rpc_url),  # a provider's key rides in its URL
            *url_secrets(settings.relayer_host),
        ),
    )


@cli.command("check-config")
def check_config() -> None:
    """Validate the settings (environment and .env) and say so."""
    settings = settings_or_exit()
    typer.echo(f"configuration ok: mode={settings.trading_mode.value} tz={settings.operator_tz}")


@cli.command()
def migrate(revision: Annotated[str, typer.Option(help="target revision")] = "head") -> None:
    """Bring the database schema to the latest revision (alembic upgrade)."""
    from trader.store.migrate import upgrade

    settings = settings_or_exit()
    setup_logging_for(settings)
    upgrade(settings.database_url, revision)
    typer.echo(f"database migrated to {revision}")


@cli.command()
def run(
    console: Annotated[bool, typer.Option(help="terminal chat on stdin/stdout")] = True,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
) -> None:
    """Run the trader and the chat frontend in one process (the Procfile's `app`)."""
    with collector_paused():  # until the app is ready, which turns it back on
        code = _run(console=console, duration=duration)
    raise typer.Exit(code)


def _run(*, console: bool, duration: float | None) -> int:
    from trader.app.root import App, ConsoleIO
    from trader.store.schema import SchemaError

    settings = settings_or_exit()
    setup_logging_for(settings)
    app = App(settings, console_io=ConsoleIO() if console else None)
    try:
        return asyncio.run(app.run(duration=duration))
    except SchemaError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except ConfigError as error:
        config_exit(error)


@cli.command()
def hub(
    console: Annotated[bool, typer.Option(help="terminal chat on stdin/stdout")] = False,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
) -> None:
    """Mission control: one chat for every trader in HUB_INSTANCES (the Procfile's `hub`)."""
    with collector_paused():  # until the hub is ready, which turns it back on
        code = _hub(console=console, duration=duration)
    raise typer.Exit(code)


def _hub(*, console: bool, duration: float | None) -> int:
    from trader.hub.app import HubApp

    settings = settings_or_exit()
    setup_logging_for(settings)
    app = HubApp(settings, console=console)
    try:
        return asyncio.run(app.run(duration=duration))
    except ConfigError as error:
        config_exit(error)


@cli.command("web-password")
def web_password() -> None:
    """Print the hash of a password for WEB_USERS (name=operator|viewer=HASH)."""
    from trader.web.auth import hash_password

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        typer.echo("Use at least 10 characters.", err=True)
        raise typer.Exit(EXIT_CONFIG)
    typer.echo(hash_password(password))


@cli.command()
def doctor() -> None:
    """Validate the settings and check that every configured service answers."""
    from trader.ops.doctor import run_doctor

    settings = settings_or_exit()
    setup_logging_for(settings)
    raise typer.Exit(asyncio.run(run_doctor(settings)))


@cli.command()
def setup() -> None:
    """Make the wallet ready: deploy the deposit wallet, set its approvals, show what to fund."""
    from trader.ops.setup import run_setup

    settings = settings_or_exit()
    setup_logging_for(settings)
    raise typer.Exit(asyncio.run(run_setup(settings)))


@cli.command()
def watchdog() -> None:
    """Watch the app's heartbeat; alert when it goes quiet (the Procfile's `watchdog`)."""
    with collector_paused():  # until it watches, which turns it back on
        from trader.watchdog import run_watchdog

        settings = settings_or_exit()
        setup_logging_for(settings)
        code = run_watchdog(settings)
    raise typer.Exit(code)


@cli.command()
def backup(
    dest: Annotated[Path, typer.Option(help="directory for the backup files")],
    keep: Annotated[int, typer.Option(min=1, help="how many backups to keep")] = 7,
) -> None:
    """Online copy of the SQLite database, pruned to the newest KEEP (PostgreSQL: pg_dump)."""
    from trader.ops.backup import backup_command

    settings = settings_or_exit()
    setup_logging_for(settings)
    raise typer.Exit(backup_command(settings.database_url, dest, keep))


@cli.command()
def report(
    date: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="the operator's day (default: yesterday)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="dashboard PNG (default data/reports/report-DAY.png)")
    ] = None,
    window: Annotated[int, typer.Option(min=1, max=365, help="chart window in days")] = 30,
) -> None:
    """Print the daily report for a day and write its dashboard PNG, offline from the database."""
    from trader.reports import report_command

    settings = settings_or_exit()
    setup_logging_for(settings)
    day = date.date() if date else None
    raise typer.Exit(
        report_command(settings.database_url, day, out, zone=settings.zone, window_days=window)
    )


@cli.command()
def backtest(
    start: Annotated[
        datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M"], help="start, UTC"),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M"], help="end, UTC"),
    ] = None,
    history: Annotated[Path | None, typer.Option(help="history file (JSON)")] = None,
    recorded: Annotated[
        Path | None,
        typer.Option(
            help="the recorder's directory (RECORDER_DIR): its books, markets, news and"
            " resolutions merged into the history (or the history alone); replay reads its"
            " forecasts unless --forecast-db"
        ),
    ] = None,
    fetch: Annotated[
        bool,
        typer.Option(
            help="fetch the history from the venue (Gamma and prices-history via the SDK) into"
            " the cache (--history, default BACKTEST_HISTORY_CACHE), refreshing it, then replay"
        ),
    ] = False,
    strategy: Annotated[str | None, typer.Option(help="run only this strategy")] = None,
    forecasts: Annotated[str, typer.Option(help="heuristic, replay or llm")] = "heuristic",
    forecast_db: Annotated[
        str | None, typer.Option(help="replay: database URL the forecasts were recorded in")
    ] = None,
    bankroll: Annotated[float | None, typer.Option(help="starting cash (pUSD)")] = None,
    half_spread: Annotated[float, typer.Option(help="fill model: price to best bid/ask")] = 0.01,
    depth: Annotated[float, typer.Option(help="fill model: shares per level")] = 250,
    levels: Annotated[int, typer.Option(min=1, help="fill model: levels per side")] = 3,
    out: Annotated[Path, typer.Option(help="where the JSON and PNG go")] = Path("data/backtests"),
    compare: Annotated[
        tuple[Path, Path] | None, typer.Option(help="print two runs' JSON side by side")
    ] = None,
) -> None:
    """Replay a history through the real strategies, risk, execution and paper venue."""
    import dataclasses
    from decimal import Decimal

    from trader.backtest.command import backtest_config, compare_command, run_command
    from trader.backtest.feed import FillModel

    if compare is not None:
        raise typer.Exit(compare_command(*compare))
    settings = settings_or_exit()
    if fetch and history is None:
        history = settings.backtest_history_cache
    problems = [
        f"{name}: required"
        for name, value in (("--from", start), ("--to", end), ("--history", history or recorded))
        if value is None
    ]
    if forecasts not in ("heuristic", "replay", "llm"):
        problems.append(f"--forecasts: heuristic, replay or llm, not {forecasts!r}")
    if problems or start is None or end is None:
        for line in problems:
            typer.echo(f"backtest: {line}", err=True)
        raise typer.Exit(EXIT_CONFIG)
    config = backtest_config(
        settings,
        start=start.replace(tzinfo=UTC),
        end=end.replace(tzinfo=UTC),
        strategy=strategy,
        forecasts="replay"
        if forecasts == "replay"
        else "llm"
        if forecasts == "llm"
        else "heuristic",
        bankroll=Decimal(str(bankroll)) if bankroll is not None else None,
        forecast_database=forecast_db,
        fill_model=FillModel(Decimal(str(half_spread)), Decimal(str(depth)), levels),
    )
    if recorded is not None and config.forecasts == "replay" and forecast_db is None:
        config = dataclasses.replace(config, recording=recorded)
    fetch_from = settings.venue() if fetch else None
    raise typer.Exit(run_command(config, history, out, fetch_from=fetch_from, recorded=recorded))


@cli.command()
def why(
    ref: Annotated[
        str | None, typer.Argument(help="order id, approval ref, correlation id or market")
    ] = None,
    denied: Annotated[bool, typer.Option(help="the last denials with their rules")] = False,
) -> None:
    """Why the trader did it: the chain behind a decision (the last one without REF)."""
    from trader.explain.command import why_command

    settings = settings_or_exit()
    setup_logging_for(settings)
    raise typer.Exit(why_command(settings.database_url, ref, denied=denied, zone=settings.zone))


def _load_plugins() -> None:
    """Commands from installed plugins (entry-point group `polyops.cli`): the workshop
    package `polysim` adds `trader sim` and `trader demo` this way, so the product never
    imports it. A plugin is a callable taking the Typer app."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="polyops.cli"):
        entry.load()(cli)


def main() -> None:
    _load_plugins()
    try:
        cli()
    except ConfigError as error:  # defensive: a command that loaded settings itself
        for line in error.problems:
            print(line, file=sys.stderr)
        sys.exit(EXIT_CONFIG)


if __name__ == "__main__":
    main()
