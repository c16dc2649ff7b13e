"""The recorded Polymarket payload corpus in `tests/fixtures/polymarket/` (see its README).

`fixture(name)` is a payload parsed from JSON, `raw(name)` its text as a socket frame would
carry it. `OUR_ADDRESS` is the account the user-channel payloads belong to and `TOKEN` a token
id that appears throughout them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket"
OUR_ADDRESS = "0xa3D82Ed56F4c68d2328Fb8c29e568Ba2cAF7d7c8"
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"


def raw(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture(name: str) -> Any:
    return json.loads(raw(name))


__all__ = ["FIXTURES", "OUR_ADDRESS", "TOKEN", "fixture", "raw"]
