"""`python -m tests.support.loaded_modules NAME...`: start the app as `trader run` does (the
settings from the environment, the collector off until the app is ready), wait until it is
ready, print one JSON line `{"loaded": {NAME: bool}, "collector": bool}` saying which of the
named modules the process imported and whether the garbage collector is on again, then stop.
Used by the tests that check the app imports what its configuration uses only."""

from __future__ import annotations

import asyncio
import gc
import json
import sys

from trader.ops.collector import collector_paused


async def main(names: list[str]) -> None:
    from trader.app.root import App  # imported as `trader run` does, with the collector off
    from trader.config import load_settings

    app = App(load_settings(env_file=None))
    try:
        await app.start()
        await asyncio.wait_for(app.ready.wait(), timeout=30)
        loaded = {name: name in sys.modules for name in names}
        print(json.dumps({"loaded": loaded, "collector": gc.isenabled()}), flush=True)
    finally:
        await app.stop()


if __name__ == "__main__":
    with collector_paused():  # as `trader run`: the app turns it back on once ready
        asyncio.run(main(sys.argv[1:]))
