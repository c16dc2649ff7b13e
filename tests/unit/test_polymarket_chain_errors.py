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


def test_a_refusal_that_names_a_keyed_url_does_not_carry_the_key() -> None:
    from trader.logs import REDACTOR, url_secrets

    key = "Qk3vN8xT2mB7cR5wL9pZ4hY6jD1fG0sA"
    url = f"https://polygon-mainnet.infura.io/v3/{key}"
    REDACTOR.register(*url_secrets(url))

    mapped = send_error("merge", RequestRejectedError(f"POST {url}: invalid params", status=400))

    assert mapped.code == "chain_refused"
    assert key not in str(mapped)
    assert "polygon-mainnet.infura.io" in str(mapped)
