"""Configuration errors through the real CLI: one line naming the problem, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "123456789:AAFakeTelegramTokenThatIsSecret_0123456"


def check_config(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POLYMARKET_", "TELEGRAM_", "WHATSAPP_", "DATABASE_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "trader.cli", "check-config"],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def problem_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0] == "Polyops cannot start: the configuration has problems:"
    return lines[1:]


def test_a_non_utf8_env_file_names_its_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"TRADING_MODE=paper\nOPERATOR_TZ=Europe/Z\xfcrich\n")
    result = check_config(tmp_path)
    assert result.returncode == 2
    assert problem_lines(result) == [".env: line 2 is not UTF-8 text (save the file as UTF-8)"]
    assert "Traceback" not in result.stderr


def test_unparseable_lines_are_named_without_their_content(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"TRADING_MODE=paper\nthis is junk {SECRET}\nHTTP_PORT=8082\n'broken\n"
    )
    result = check_config(tmp_path)
    assert result.returncode == 2
    assert problem_lines(result) == [
        ".env: line 2 is not NAME=value (line not shown)",
        ".env: line 4 is not NAME=value (line not shown)",
    ]
    assert SECRET not in result.stdout + result.stderr


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("HTTP_PORT=8082\nTRADING_MODE=paper\nhttp_port=8083\n")
    result = check_config(tmp_path)
    assert result.returncode == 2
    assert problem_lines(result) == [".env: HTTP_PORT is set twice (lines 1 and 3); keep one"]


def test_an_env_that_is_not_a_readable_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()
    result = check_config(tmp_path)
    assert result.returncode == 2
    assert problem_lines(result) == [".env: cannot be read (it is a directory, not a file)"]


def test_a_dangling_env_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".env").symlink_to(tmp_path / "gone.env")
    result = check_config(tmp_path)
    assert result.returncode == 2
    assert problem_lines(result) == [".env: cannot be read (No such file or directory)"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_env_file_is_refused(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("TRADING_MODE=paper\n")
    env.chmod(0)
    result = check_config(tmp_path)
    assert result.returncode == 2
    assert problem_lines(result) == [".env: cannot be read (Permission denied)"]


def test_a_database_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    result = check_config(tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{missing}/polyops.db")
    assert result.returncode == 2
    [line] = problem_lines(result)
    assert line.startswith(f"DATABASE_URL: the directory {missing} does not exist")
    assert not missing.exists()


def test_the_default_data_directory_is_created_on_first_use(tmp_path: Path) -> None:
    result = check_config(tmp_path, DATABASE_URL="sqlite+aiosqlite:///./data/mine.db")
    assert result.returncode == 0, result.stderr
