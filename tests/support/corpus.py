"""The Polymarket payload corpus beside the repository (`../shared/fixtures/polymarket/`; its
README says where it comes from). It is read in place, never copied into the repository: it is
another project's test data. `POLYMARKET_FIXTURES` points elsewhere; tests that need it are
marked `needs_corpus` and skip, saying why, when it is absent (CI has it beside the clone).

`fixture(name)` is a payload parsed from JSON, `raw(name)` its text as a socket frame would
carry it. `OUR_ADDRESS` is the account the user-channel payloads belong to and `TOKEN` a token
id that appears throughout them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(
    os.environ.get(
        "POLYMARKET_FIXTURES", Path(__file__).resolve().parents[3] / "shared/fixtures/polymarket"
    )
)
needs_corpus = pytest.mark.skipif(
    not FIXTURES.is_dir(),
    reason=f"Polymarket payload corpus not found at {FIXTURES} (set POLYMARKET_FIXTURES)",
)
OUR_ADDRESS = "0xa3D82Ed56F4c68d2328Fb8c29e568Ba2cAF7d7c8"
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"


def raw(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture(name: str) -> Any:
    return json.loads(raw(name))


__all__ = ["FIXTURES", "OUR_ADDRESS", "TOKEN", "fixture", "needs_corpus", "raw"]
