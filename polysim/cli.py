"""The workshop's commands for the `trader` CLI: `trader sim` and `trader demo`.

Registered through the `polyops.cli` entry-point group (pyproject.toml), so the product's
CLI lists them without importing this package. Heavy imports stay inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(cli: typer.Typer) -> None:
    """Add the workshop's commands to the `trader` app."""
    cli.command()(demo)
    cli.command()(sim)
    cli.command("sim-history")(sim_history)


def demo(
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
) -> None:
    """Run the whole product offline on embedded defaults with a terminal chat."""
    from polysim.demo import run_demo
    from trader.cli import settings_or_exit, setup_logging_for

    settings = settings_or_exit()
    setup_logging_for(settings)
    raise typer.Exit(run_demo(settings, duration=duration))


def sim(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = 8900,
    scenario: Annotated[Path | None, typer.Option(help="scenario file (JSON)")] = None,
    seed: Annotated[int, typer.Option(help="random seed for the price walk")] = 1,
) -> None:
    """Run the local CLOB simulator (REST, WebSocket, Gamma, Data API) standalone."""
    from polysim.clob import run as run_sim

    run_sim(host=host, port=port, scenario_path=scenario, seed=seed)


def sim_history(
    out: Annotated[Path, typer.Option(help="history file to write (JSON)")],
    start: Annotated[str, typer.Option("--from", help="first day, UTC (YYYY-MM-DD)")],
    days: Annotated[int, typer.Option(min=1, help="days the markets span")] = 14,
    markets: Annotated[int, typer.Option(min=1, help="how many markets")] = 24,
    seed: Annotated[int, typer.Option(help="random seed")] = 19,
) -> None:
    """Write a deterministic synthetic history for `trader backtest` (synthetic data)."""
    from datetime import UTC, datetime

    from polysim.synthetic.backtest import write_synthetic_history

    first = datetime.strptime(start, "%Y-%m-%d").replace(tzinfo=UTC)
    history = write_synthetic_history(out, first, days, markets, seed)
    typer.echo(f"{out}: {len(history.markets)} markets, {len(history.news)} news items")
