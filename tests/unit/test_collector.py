"""The garbage collector around start-up (trader.ops.collector): off for the import and the
start-up of the long-lived commands, on again once ready, and never left off on the way out."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trader.cli import EXIT_CONFIG, cli
from trader.ops.collector import collector_paused, resume_collector


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()


def test_the_collector_is_off_inside_the_block_and_on_after_it() -> None:
    with collector_paused():
        inside = gc.isenabled()

    assert (inside, gc.isenabled()) == (False, True)


def test_a_start_up_that_fails_leaves_the_collector_on() -> None:
    with pytest.raises(RuntimeError, match="start-up failed"), collector_paused():
        raise RuntimeError("start-up failed")

    assert gc.isenabled()


def test_resuming_freezes_what_start_up_made_and_turns_the_collector_on() -> None:
    with collector_paused():
        made_at_start_up = ["a start-up object"]  # a list: the collector tracks it
        resume_collector()
        on_again = gc.isenabled()

    assert on_again
    # frozen: in the permanent generation, which no pass (and no get_objects) walks
    assert all(seen is not made_at_start_up for seen in gc.get_objects())


@pytest.mark.parametrize("command", ["run", "hub", "watchdog"])
def test_a_long_lived_command_refused_by_its_settings_leaves_the_collector_on(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env

    result = CliRunner().invoke(cli, [command], env={"TRADING_MODE": "neither"})

    assert result.exit_code == EXIT_CONFIG, result.output
    assert gc.isenabled()
