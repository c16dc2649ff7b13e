"""A local Polymarket CLOB simulator that the official SDK trades against (`trader sim`).

`serve()` starts it in-process (tests, benchmarks, the demo) and returns a `SimServer` with
its URLs; `run()` serves until interrupted. `app.py` explains the lifecycle, `server.py`
lists the endpoints the SDK uses, `faults.py` the fault injection, `admin.py` the admin API,
`scenario.py` the scenario file, `liquidity.py` the synthetic market.
"""

from __future__ import annotations

from polysim.clob.app import DEFAULT_SCENARIO, SimServer, run, serve

__all__ = ["DEFAULT_SCENARIO", "SimServer", "run", "serve"]
