"""A chain operation's failure is either a refusal (nothing was sent: the redemption service
fails the record and may ask again) or unknown (it may have been sent: the record waits and is
settled from the holdings, never sent twice). What the SDK raises decides which."""

from __future__ import annotations

import pytest
from polymarket.errors import RequestRejectedError, TransportError, UserInputError

from trader.venue.polymarket.chain import send_error

UNKNOWN = ("timeout", "transport")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UserInputError("No market found for condition 0x12"), "chain_refused"),
        (RequestRejectedError("deposit wallet is not deployed", status=400), "chain_refused"),
        (RequestRejectedError("invalid authorization", status=401), "chain_refused"),
        (RequestRejectedError("bad gateway", status=502), "transport"),
        (TransportError("connection reset"), "timeout"),
        (TimeoutError(), "timeout"),
        (RuntimeError("anything else"), "timeout"),
    ],
)
def test_a_failed_send_is_refused_only_when_nothing_can_have_been_sent(
    error: BaseException, code: str
) -> None:
    mapped = send_error("redeem", error)

    assert mapped.code == code
    assert ("refused" in str(mapped)) == (code not in UNKNOWN)
