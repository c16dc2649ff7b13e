"""The Control API's typed results survive JSON, and requests are signed and checked."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from trader.control.signing import NONCE, SIGNATURE, TIMESTAMP, Verifier, sign
from trader.control.types import (
    ApprovalRequest,
    BacktestStatus,
    ExitResult,
    KillReport,
    SignalsView,
    StatusSnapshot,
)
from trader.control.wire import WireError, decode, encode
from trader.domain import Alert, Severity, Side, TradingMode, TradingState
from trader.state import AlertSettings, RiskLimits

AT = datetime(2026, 3, 8, 12, 30, tzinfo=UTC)


def round_trip(value: object, kind: object, tmp: Path | None = None) -> object:
    return decode(json.loads(json.dumps(encode(value))), kind, files=tmp)


def test_results_round_trip_with_decimals_datetimes_enums_and_tuples() -> None:
    report = KillReport(
        TradingState.KILLED,
        3,
        0,
        True,
        (
            ExitResult(
                "tok", Decimal("10.5"), Decimal(10), Decimal("4.1"), None, None, Decimal("0.5")
            ),
        ),
        "done",
    )
    request = ApprovalRequest(
        "ap-1",
        "m",
        "Q?",
        "tok",
        "Yes",
        Side.BUY,
        Decimal("0.41"),
        Decimal(100),
        Decimal(41),
        "llm",
        "why",
        None,
        AT,
        AT,
        "c" * 32,
        sources=("a", "b"),
    )
    signals = SignalsView("llm", "claude", "why", fallbacks=(("no key", 3),))

    assert round_trip(report, KillReport) == report
    assert round_trip(request, ApprovalRequest) == request
    assert round_trip(signals, SignalsView) == signals
    assert round_trip(RiskLimits(), RiskLimits) == RiskLimits()
    assert round_trip(AlertSettings(muted_kinds=("fills",)), AlertSettings) == AlertSettings(
        muted_kinds=("fills",)
    )
    alert = Alert("k", Severity.CRITICAL, "t", dedupe_key="d")
    assert round_trip(alert, Alert) == alert
    assert encode(Decimal("0.1")) == "0.1"  # never a float


def test_a_status_snapshot_round_trips() -> None:
    status = StatusSnapshot(
        "0.1.0",
        1,
        TradingMode.LIVE,
        TradingState.PAUSED,
        "news",
        "telegram:1",
        AT,
        True,
        AT,
        AT,
        components={"http": "running"},
        llm_spend_today=Decimal("1.5"),
        instance="beta",
    )
    assert round_trip(status, StatusSnapshot) == status


def test_a_file_travels_as_its_bytes(tmp_path: Path) -> None:
    source = tmp_path / "chart.png"
    source.write_bytes(b"\x89PNG-bytes")

    received = round_trip(source, Path, tmp_path / "in")

    assert isinstance(received, Path)
    assert received.read_bytes() == b"\x89PNG-bytes"
    assert received.parent == tmp_path / "in"
    assert received.suffix == ".png"


def test_a_backtest_status_travels_with_its_image_and_without_one(tmp_path: Path) -> None:
    image = tmp_path / "backtest.png"
    image.write_bytes(b"\x89PNG-backtest")
    done = BacktestStatus("bt-1", "llm_edge", 7, "done", 337, 337, ("PnL 1.00",), image)
    running = BacktestStatus("bt-2", "llm_edge", 7, "running", 10, 337)

    received = round_trip(done, BacktestStatus, tmp_path / "in")
    still = round_trip(running, BacktestStatus, tmp_path / "in")

    assert received.lines == ("PnL 1.00",)
    assert received.image_path is not None
    assert received.image_path.read_bytes() == b"\x89PNG-backtest"
    assert still == running


def test_a_payload_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(WireError):
        decode({"state": "KILLED"}, KillReport)
    with pytest.raises((WireError, ValueError)):
        decode("soon", datetime)


SECRET = "k" * 40


def test_a_genuine_request_passes_once() -> None:
    verifier = Verifier(SECRET, max_skew_s=30)
    headers = sign(SECRET, "POST", "/control/v1/call/status", b"{}", now=1000.0)

    assert verifier.check(headers, "POST", "/control/v1/call/status", b"{}", now=1010.0) is None
    again = verifier.check(headers, "POST", "/control/v1/call/status", b"{}", now=1010.0)
    assert again is not None
    assert again.reason == "replayed"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h: {}, "unsigned"),
        (lambda h: h | {SIGNATURE: "0" * 64}, "bad_signature"),
        (lambda h: h | {NONCE: "x"}, "malformed"),
        (lambda h: h | {TIMESTAMP: "990"}, "bad_signature"),  # the time is signed too
    ],
)
def test_tampered_requests_are_refused(change: object, reason: str) -> None:
    verifier = Verifier(SECRET)
    headers = sign(SECRET, "POST", "/p", b"{}", now=1000.0)
    refusal = verifier.check(change(headers), "POST", "/p", b"{}", now=1000.0)  # type: ignore[operator]
    assert refusal is not None
    assert refusal.reason == reason


def test_an_old_or_early_signature_is_stale_and_another_path_or_body_is_forged() -> None:
    verifier = Verifier(SECRET, max_skew_s=30)
    headers = sign(SECRET, "POST", "/p", b"{}", now=1000.0)

    assert verifier.check(headers, "POST", "/p", b"{}", now=1031.0).reason == "stale"  # type: ignore[union-attr]
    assert verifier.check(headers, "POST", "/p", b"{}", now=969.0).reason == "stale"  # type: ignore[union-attr]
    assert verifier.check(headers, "POST", "/q", b"{}", now=1000.0).reason == "bad_signature"  # type: ignore[union-attr]
    assert verifier.check(headers, "POST", "/p", b"[]", now=1000.0).reason == "bad_signature"  # type: ignore[union-attr]
