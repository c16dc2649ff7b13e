"""What a child process of the app does first: it dies with the app.

A SIGKILLed trader must not leave its helpers running (a report worker holds about 120 MB,
a backtest burns a core): on Linux the kernel is asked to SIGKILL the child when its parent
dies (`prctl(PR_SET_PDEATHSIG)`). The signal follows the *thread* that started the child, so
children are started from the event loop's thread, which lives as long as the app.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """On Linux: the kernel sends this process SIGKILL when its parent dies (elsewhere:
    nothing; the callers' own checks of the parent's pid still apply)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
