"""sd_notify over a real NOTIFY_SOCKET datagram socket, as systemd would provide it."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.ops.sdnotify import SystemdNotifier


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    try:
        yield server, path
    finally:
        server.close()


def test_ready_status_and_stopping_reach_the_socket(
    systemd_socket: tuple[socket.socket, str],
) -> None:
    server, path = systemd_socket
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": path})
    try:
        assert notifier.ready("trading")
        assert server.recv(4096) == b"READY=1\nSTATUS=trading"
        assert notifier.stopping()
        assert server.recv(4096) == b"STOPPING=1"
    finally:
        notifier.close()


def test_abstract_socket_addresses_are_supported() -> None:
    name = f"polyops-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind("\0" + name)
    server.settimeout(2)
    notifier = SystemdNotifier(f"@{name}")
    try:
        assert notifier.watchdog()
        assert server.recv(4096) == b"WATCHDOG=1"
    finally:
        notifier.close()
        server.close()


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = SystemdNotifier.from_environment({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert notifier.watchdog_interval_s is None


def test_watchdog_interval_is_half_of_watchdog_sec_for_this_pid_only() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "123"}
    assert SystemdNotifier.from_environment(env, pid=123).watchdog_interval_s == 15.0
    assert SystemdNotifier.from_environment(env, pid=456).watchdog_interval_s is None


def test_a_missing_socket_is_reported_once_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = SystemdNotifier(str(tmp_path / "gone.sock"))
    try:
        assert not notifier.watchdog()
        assert not notifier.watchdog()
    finally:
        notifier.close()
    assert sum("sd_notify" in record.message for record in caplog.records) == 1


async def test_keepalive_pings_from_the_event_loop_every_half_watchdog_sec(
    systemd_socket: tuple[socket.socket, str],
) -> None:
    server, path = systemd_socket
    clock = FakeClock()
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    task = asyncio.create_task(notifier.keepalive(clock))
    try:
        await eventually(lambda: len(clock.sleeps) >= 3, interval=0)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        notifier.close()
    assert clock.sleeps[:3] == [1.0, 1.0, 1.0]
    assert [server.recv(4096) for _ in range(3)] == [b"WATCHDOG=1"] * 3


async def test_keepalive_returns_at_once_without_a_watchdog() -> None:
    clock = FakeClock()

    await asyncio.wait_for(SystemdNotifier(None).keepalive(clock), timeout=1)

    assert clock.sleeps == []  # returned without looping: nothing to keep alive
