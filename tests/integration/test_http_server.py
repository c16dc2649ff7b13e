"""The app's HTTP server on loopback: /health, /metrics (parsed by prometheus_client), routes."""

from __future__ import annotations

import math
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from trader.clock import FakeClock
from trader.control.types import ExecutionResult, Outcome
from trader.domain import Alert
from trader.ops.health import FeedCheck, HealthMonitor
from trader.ops.httpserver import HttpServer, is_loopback
from trader.ops.metrics import GaugeSources, Metrics

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Usage:
    model: str = "claude-haiku-4-5"
    provider: str = "anthropic"
    input_tokens: int = 1200
    output_tokens: int = 300
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: Decimal = Decimal("0.0042")


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(START)
        self.feed_age = 1.0
        self.alerts: list[Alert] = []
        self.monitor = HealthMonitor(
            [FeedCheck(lambda: self.feed_age, stale_after_s=30)], self.clock, self.alerts.append
        )
        self.metrics = Metrics()


Served = tuple[World, HttpServer, httpx.AsyncClient]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    world = World()
    server = HttpServer("127.0.0.1", 0, health=world.monitor, metrics=world.metrics)

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"got": (await request.read()).decode()})

    server.add_route("POST", "/whatsapp/webhook", echo)
    async with server, httpx.AsyncClient(base_url=server.url) as client:
        yield world, server, client


async def test_health_is_200_when_every_check_passes(served: Served) -> None:
    _world, _server, client = served
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["feed"]["status"] == "ok"


async def test_health_is_503_with_the_failing_check_when_one_fails(served: Served) -> None:
    world, _server, client = served
    world.feed_age = 120.0
    response = await client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["feed"]
    assert "2 min ago" in body["checks"]["feed"]["detail"]
    assert len(world.alerts) == 1  # /health runs feed the same once-per-episode alerts
    world.clock.advance(10)
    assert (await client.get("/health")).status_code == 503
    assert len(world.alerts) == 1


async def test_metrics_parse_with_the_prometheus_parser(served: Served) -> None:
    world, _server, client = served
    metrics: Metrics = world.metrics
    metrics.set_sources(
        GaugeSources(
            heartbeat_age_s=lambda: 1.25,
            equity_usd=lambda: Decimal("1012.50"),
            drawdown=lambda: Decimal("0.031"),
            alert_queue_depth=lambda: 2,
            open_orders=lambda: 1 / 0,  # a broken provider reads NaN, never breaks the scrape
        )
    )
    metrics.record_cycle(42.0)
    metrics.record_cycle(3.0, ok=False)
    metrics.record_execution(ExecutionResult(Outcome.PLACED, "c1"))
    metrics.record_execution(ExecutionResult(Outcome.DENIED, "c2", rule="max_exposure"))
    metrics.record_fill()
    metrics.record_venue_error("rate_limited")
    metrics.record_llm_usage(Usage())
    metrics.set_health("feed", True)

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}

    def value(family: str, sample: str | None = None, **labels: str) -> float:
        for s in families[family].samples:
            if (sample is None or s.name == sample) and all(
                s.labels.get(k) == v for k, v in labels.items()
            ):
                return float(s.value)
        raise AssertionError(f"no sample {family} {labels}")

    assert value("polyops_heartbeat_age_seconds") == 1.25
    assert value("polyops_equity_usd") == 1012.5
    assert value("polyops_drawdown_ratio") == pytest.approx(0.031)
    assert value("polyops_alert_queue_depth") == 2
    assert math.isnan(value("polyops_open_orders"))
    assert value("polyops_cycle_duration_seconds", "polyops_cycle_duration_seconds_count") == 1
    assert value("polyops_cycle_duration_seconds", "polyops_cycle_duration_seconds_sum") == 42
    assert value("polyops_cycles", result="failed") == 1
    assert value("polyops_orders", outcome="placed") == 1
    assert value("polyops_orders", outcome="denied") == 1
    assert value("polyops_risk_denials", rule="max_exposure") == 1
    assert value("polyops_fills") == 1
    assert value("polyops_venue_errors", code="rate_limited") == 1
    haiku = {"provider": "anthropic", "model": "claude-haiku-4-5"}
    assert value("polyops_llm_tokens", **haiku, kind="input") == 1200
    assert value("polyops_llm_cost_usd", **haiku) == pytest.approx(0.0042)
    assert value("polyops_health_check_failing", check="feed") == 1
    assert not any(name.startswith("python_") or name.startswith("process_") for name in families)


def test_each_metrics_instance_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.record_fill()
    assert b"polyops_fills_total 1.0" in first.render()
    assert b"polyops_fills_total 0.0" in second.render()
    assert isinstance(first.registry, CollectorRegistry)
    assert first.registry is not second.registry


async def test_registered_routes_are_served_and_get_the_raw_body(served: Served) -> None:
    _world, _server, client = served
    response = await client.post("/whatsapp/webhook", content=b'{"entry": []}')
    assert response.json() == {"got": '{"entry": []}'}


async def test_routes_cannot_be_added_after_start_or_over_health(served: Served) -> None:
    _world, server, _client = served

    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    with pytest.raises(RuntimeError, match="before the server starts"):
        server.add_route("GET", "/late", handler)
    with pytest.raises(ValueError, match="served by the HTTP server"):
        HttpServer().add_route("GET", "/health", handler)


async def test_without_monitor_or_metrics_health_is_ok_and_metrics_404() -> None:
    async with HttpServer("127.0.0.1", 0) as server, httpx.AsyncClient() as client:
        assert (await client.get(f"{server.url}/health")).status_code == 200
        assert (await client.get(f"{server.url}/metrics")).status_code == 404


async def test_default_binding_is_loopback() -> None:
    server = HttpServer()
    assert server.host == "127.0.0.1"
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")  # noqa: S104 - a string under test, nothing binds


async def test_a_start_that_failed_on_a_taken_port_can_be_retried() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = HttpServer("127.0.0.1", taken.getsockname()[1])
        with pytest.raises(OSError, match="address already in use"):
            await server.start()
    async with httpx.AsyncClient() as client:
        await server.start()  # what the supervisor does after a crash of serve()
        try:
            assert (await client.get(f"{server.url}/health")).status_code == 200
        finally:
            await server.stop()
