"""The garbage collector around start-up (issue 21).

Importing the app and building it allocate a few hundred thousand objects that all live until
the process exits: the modules, their classes and functions, the dataclasses' generated methods,
the SQLAlchemy tables, the engines. Each full collection during start-up walks every one of them
and frees nothing; with the collector on, start-up spends about 0.2-0.3 s of CPU in those passes.

So the long-lived commands (`trader run`, `trader hub`, `trader watchdog`) start with the
collector off (`collector_paused`), and the process turns it back on once it is ready
(`resume_collector`): start-up's objects are frozen first, into the permanent generation, so no
later pass walks them either. `collector_paused` turns it back on whatever happens (a failed
start, a command run in a test process), so the collector is never left off.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off for the block (import and start-up), on again when it ends."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def resume_collector() -> None:
    """Once ready: start-up's objects out of every later pass, then the collector on."""
    gc.freeze()
    gc.enable()
