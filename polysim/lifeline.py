"""Start a program that ends with its parent: `python -m polysim.lifeline PID PROGRAM ARGS...`.

The demo's children (the simulator, the watchdog) must not outlive a demo that was killed
with SIGKILL, which runs no clean-up. On Linux the kernel sends them SIGTERM when the
parent dies: `prctl(PR_SET_PDEATHSIG)` is armed here and survives the `execv` into the
program, so the pid the parent holds is the program's. Arming it in this small launcher
rather than in a `preexec_fn` keeps the fork of a threaded parent free of Python code.

The parent must stay alive in the thread that started the child (Linux ties the signal to
that thread): the demo starts its children from its main thread. Elsewhere than Linux there
is no such signal and the program simply runs; the demo still stops its children on a
normal exit, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent: int, signum: int = signal.SIGTERM) -> None:
    """Have the kernel send `signum` to this process when `parent` dies (Linux only)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before the signal was armed
        raise SystemExit(f"parent {parent} is gone; not starting")


def main(argv: list[str]) -> None:
    if len(argv) < 2 or not argv[0].isdigit():
        raise SystemExit("usage: python -m polysim.lifeline PARENT_PID PROGRAM [ARGS...]")
    die_with_parent(int(argv[0]))
    os.execv(argv[1], argv[1:])  # noqa: S606 - the demo's own interpreter and arguments


if __name__ == "__main__":
    main(sys.argv[1:])
