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
