"""`python -m tests.support.loaded_modules NAME...`: start the app as `trader run` does (the
settings from the environment), wait until it is ready, print one JSON line
`{"loaded": {NAME: bool}}` saying which of the named top-level modules the process imported,
then stop. Used by the tests that check the app imports what its configuration uses only."""

from __future__ import annotations

import asyncio
import json
import sys

from trader.app.root import App
from trader.config import load_settings


async def main(names: list[str]) -> None:
    app = App(load_settings(env_file=None))
    try:
        await app.start()
        await asyncio.wait_for(app.ready.wait(), timeout=30)
        print(json.dumps({"loaded": {name: name in sys.modules for name in names}}), flush=True)
    finally:
        await app.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
