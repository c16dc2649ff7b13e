from __future__ import annotations

import pytest

from polysim.demo import demo_http_port
from trader.config import load_settings


def test_demo_uses_http_port_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PORT", "8081")  # the default value, but set: honoured
    assert demo_http_port(load_settings(None)) == 8081


def test_demo_picks_a_free_port_when_http_port_is_unset_or_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PORT", "")
    port = demo_http_port(load_settings(None))
    assert port != 8081
    assert 1024 <= port <= 65535
