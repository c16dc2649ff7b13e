from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from trader.logs import REDACTED, setup_logging

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A buffer to log into; every logger level setup_logging touches is restored after."""
    buffer = io.StringIO()
    manager = logging.Logger.manager
    before = {
        name: logger.level
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root = logging.getLogger()
    root_level = root.level
    yield buffer
    for handler in list(root.handlers):
        if getattr(handler, "_polyops", False):
            root.removeHandler(handler)
    root.setLevel(root_level)
    for name, logger in list(manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            logger.setLevel(before.get(name, logging.NOTSET))


def test_registered_and_shaped_secrets_are_redacted(stream: io.StringIO) -> None:
    setup_logging("INFO", secrets=[SecretStr("my-anthropic-key-value")], stream=stream)
    log = logging.getLogger("t")
    log.info("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    log.info("key is %s and api %s", KEY, "my-anthropic-key-value")
    try:
        raise ValueError(f"bad key 0x{KEY}")
    except ValueError:
        log.exception("failed")
    output = stream.getvalue()
    assert TOKEN not in output
    assert KEY not in output
    assert "my-anthropic-key-value" not in output
    assert output.count(REDACTED) >= 4


def test_json_format_is_one_object_per_line_with_extras(stream: io.StringIO) -> None:
    setup_logging("INFO", as_json=True, stream=stream)
    logging.getLogger("t").info("order placed", extra={"correlation_id": "c1"})
    record = json.loads(stream.getvalue().strip())
    assert record["msg"] == "order placed"
    assert record["correlation_id"] == "c1"
    assert record["ts"].endswith("+00:00")


CONDITION = "0x" + "9f2c" * 16  # a condition id: 0x + 64 hex, like a private key
ORDER_HASH = "0x" + "ab12" * 16
TOKEN_ID = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
TOKEN_ID_64 = "5" * 64  # a token id that happens to be 64 digits long


def test_market_ids_and_hashes_are_kept(stream: io.StringIO) -> None:
    setup_logging("INFO", stream=stream)

    logging.getLogger("t").info(
        "order %s on market %s token %s / %s", ORDER_HASH, CONDITION, TOKEN_ID, TOKEN_ID_64
    )

    output = stream.getvalue()
    for kept in (ORDER_HASH, CONDITION, TOKEN_ID, TOKEN_ID_64):
        assert kept in output
    assert REDACTED not in output


def test_a_registered_private_key_is_masked_bare_and_without_its_prefix(
    stream: io.StringIO,
) -> None:
    registered = "0x" + "7e" * 32
    setup_logging("INFO", secrets=[SecretStr(registered)], stream=stream)

    logging.getLogger("t").info("signer %s; again %s; market %s", registered, "7e" * 32, CONDITION)

    output = stream.getvalue()
    assert "7e" * 32 not in output
    assert output.count(REDACTED) == 2
    assert CONDITION in output


@pytest.mark.parametrize(
    "labelled",
    [
        f"private_key=0x{KEY}",
        f'{{"secret": "{KEY}"}}',
        f"POLY_PASSPHRASE: {KEY}",
        f"the API key is 0x{KEY}",
        f"Private Key {KEY}",
    ],
)
def test_an_unregistered_hex_secret_is_masked_where_it_is_labelled(
    stream: io.StringIO, labelled: str
) -> None:
    setup_logging("INFO", stream=stream)

    logging.getLogger("t").info("config: %s, market %s", labelled, CONDITION)

    output = stream.getvalue()
    assert KEY not in output
    assert REDACTED in output
    assert CONDITION in output


RPC_KEY = "Zx9rT4kLm2Qw8vBn6Yh3Jd5Fs7Gp1Ac0"  # an Alchemy-style key, in the URL's path
RPC_URL = f"https://polygon-mainnet.g.alchemy.com/v2/{RPC_KEY}"
RELAYER_TOKEN = "3f1c9a7e5b2d4f6a8c0e1b3d5f7a9c2e"
RELAYER_URL = f"https://relayer.example.com/api?apiKey={RELAYER_TOKEN}"


def test_the_key_inside_polygon_rpc_url_and_relayer_host_never_reaches_a_log_or_setup(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trader.cli import setup_logging_for
    from trader.config import load_settings
    from trader.logs import REDACTOR
    from trader.ops.setup import SetupReport

    monkeypatch.setenv("POLYGON_RPC_URL", RPC_URL)
    monkeypatch.setenv("RELAYER_HOST", RELAYER_URL)
    monkeypatch.setattr("sys.stderr", stream)
    settings = load_settings(None)
    # an SDK error names the request's URL
    error = f"TransportError: POST {RPC_URL} failed; GET {RELAYER_URL}&x=1: 500"

    setup_logging_for(settings)
    logging.getLogger("t").warning("approvals unreadable: %s", error)
    report = SetupReport()
    report.missing(f"POLYGON_RPC_URL: could not read the wallet's approvals: {error}")
    alert_text = REDACTOR(f"refused: {error}")

    output = stream.getvalue() + report.text() + alert_text
    assert RPC_KEY not in output
    assert RELAYER_TOKEN not in output
    assert "https://polygon-mainnet.g.alchemy.com/v2/[REDACTED]" in output  # the host stays
    assert RPC_KEY not in repr(settings.venue())
