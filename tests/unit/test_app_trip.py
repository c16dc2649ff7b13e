from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from trader.app.root import App
from trader.config import load_settings
from trader.domain import Alert, Severity


class RecordingHalt:
    def __init__(self) -> None:
        self.tripped: list[str] = []

    async def on_circuit_breaker(self, name: str, error: BaseException) -> None:
        self.tripped.append(name)


async def test_a_tripped_trading_component_halts_but_the_http_server_only_alerts() -> None:
    app = App(load_settings(None))
    halt = RecordingHalt()
    app.trading = SimpleNamespace(execution=SimpleNamespace(halt=halt))  # type: ignore[assignment]
    alerts = app.bus.alerts.subscribe()

    await app._on_trip("http", OSError("address already in use"))
    await app._on_trip("execution.intents", RuntimeError("boom"))

    assert halt.tripped == ["execution.intents"]  # only the trading component halts
    raised: list[Any] = []
    while (envelope := alerts.get_nowait()) is not None:
        raised.append(envelope.payload)
    assert len(raised) == 1
    alert: Alert = raised[0]
    assert alert.severity is Severity.CRITICAL
    assert "http" in alert.title
