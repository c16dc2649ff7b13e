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
