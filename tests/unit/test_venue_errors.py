from __future__ import annotations

import pytest
from polymarket.errors import (
    RateLimitError,
    RequestRejectedError,
    TransportError,
    UnexpectedResponseError,
    UserInputError,
)

from trader.clock import FakeClock
from trader.venue.base import (
    Maintenance,
    OrderRefused,
    OrderRejected,
    PostOnlyMode,
    RateLimited,
    UnknownOutcome,
    VenueError,
    VenueUnavailable,
)
from trader.venue.polymarket.errors import map_read_error, map_submit_error, retry_read, venue_code


def rejected(status: int, message: str = "no", **kwargs: object) -> RequestRejectedError:
    return RequestRejectedError(message, status=status, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "kind", "retry_after"),
    [
        (RateLimitError("slow down", retry_after=2.5), RateLimited, 2.5),
        (rejected(425, retry_after=30, restriction="restarting"), Maintenance, 30),
        (rejected(503, code="post_only_mode", retry_after=120), PostOnlyMode, 120),
        (rejected(503, restriction="post_only"), PostOnlyMode, None),
    ],
)
def test_throttling_and_restrictions_keep_the_advertised_delay(
    error: Exception, kind: type[VenueError], retry_after: float | None
) -> None:
    for mapped in (map_read_error(error), map_submit_error(error, "0xabc")):
        assert type(mapped) is kind
        assert getattr(mapped, "retry_after", None) == retry_after
        assert mapped.retryable


def test_read_failures_certainly_had_no_effect() -> None:
    assert isinstance(map_read_error(rejected(500)), VenueUnavailable)
    assert isinstance(map_read_error(TransportError("reset")), VenueUnavailable)
    assert isinstance(map_read_error(TimeoutError()), VenueUnavailable)
    cancel_only = map_read_error(rejected(503, restriction="cancel_only"))
    assert (type(cancel_only), cancel_only.code) == (VenueUnavailable, "cancel_only")
    assert map_read_error(UnexpectedResponseError("odd")).code == "unexpected_response"


def test_submit_with_a_lost_or_5xx_answer_is_unknown_with_the_order_id() -> None:
    for error in (TransportError("reset"), TimeoutError(), rejected(500), rejected(504)):
        mapped = map_submit_error(error, "0xfeed")
        assert isinstance(mapped, UnknownOutcome)
        assert mapped.order_id == "0xfeed"


def test_submit_503_without_a_restriction_proves_nothing_so_is_unknown() -> None:
    html = "Request to /order failed with status 503 and an unexpected HTML response body"
    for error in (rejected(503, html), rejected(502), rejected(503, "busy", code="overloaded")):
        mapped = map_submit_error(error, "0x1")
        assert isinstance(mapped, UnknownOutcome)
        assert mapped.order_id == "0x1"


def test_submit_answers_that_prove_rejection_stay_typed() -> None:
    cancel_only = map_submit_error(rejected(503, restriction="cancel_only"), "0x1")
    forbidden = map_submit_error(rejected(403, "geoblocked"), "0x1")

    assert (type(cancel_only), cancel_only.code) == (VenueUnavailable, "cancel_only")
    assert isinstance(forbidden, OrderRejected)


def test_submit_400_is_a_rejection_with_the_venue_code() -> None:
    coded = map_submit_error(rejected(400, "bad", code="INVALID_ORDER_MIN_SIZE"), "0x1")
    worded = map_submit_error(rejected(400, "not enough balance / allowance"), "0x1")

    assert (type(coded), coded.code) == (OrderRejected, "INVALID_ORDER_MIN_SIZE")
    assert worded.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE"


def test_sdk_input_errors_are_local_refusals() -> None:
    assert isinstance(map_submit_error(UserInputError("price off grid"), "0x1"), OrderRefused)


@pytest.mark.parametrize(
    ("message", "code", "expected"),
    [
        ("INVALID_ORDER_MIN_TICK_SIZE | breaks tick rules", None, "INVALID_ORDER_MIN_TICK_SIZE"),
        ("order is invalid. Size lower than the minimum size", None, "INVALID_ORDER_MIN_SIZE"),
        ("anything", "fok_not_filled", "FOK_ORDER_NOT_FILLED_ERROR"),
        ("invalid post-only order: order crosses book", "unknown", "INVALID_POST_ONLY_ORDER"),
        ("order 0x12 is a duplicate", None, "INVALID_ORDER_DUPLICATED"),
        ("something new", None, "REJECTED"),
    ],
)
def test_venue_code(message: str, code: str | None, expected: str) -> None:
    assert venue_code(message, code) == expected


async def test_retry_read_waits_the_advertised_delay_then_succeeds() -> None:
    clock = FakeClock()
    answers: list[object] = [RateLimitError("x", retry_after=4), rejected(502), "ok"]

    async def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    assert await retry_read(call, clock=clock, what="t", attempts=3, base_delay=0.5) == "ok"
    assert clock.sleeps == [4, 1.0]


async def test_retry_read_gives_up_after_the_bounded_tries_with_the_typed_error() -> None:
    clock = FakeClock()
    calls = 0

    async def call() -> str:
        nonlocal calls
        calls += 1
        raise rejected(425, retry_after=90, restriction="restarting")

    with pytest.raises(Maintenance):
        await retry_read(call, clock=clock, what="t", attempts=3, max_delay=60)

    assert calls == 3
    assert clock.sleeps == [60, 60]


async def test_retry_read_does_not_retry_a_refusal() -> None:
    clock = FakeClock()

    async def call() -> str:
        raise rejected(401, "unauthorized")

    with pytest.raises(VenueError, match="401"):
        await retry_read(call, clock=clock, what="t")

    assert clock.sleeps == []
