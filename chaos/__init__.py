"""Chaos runs: the real app against the simulator, with faults, SIGKILLs and database locks,
and the invariants checked after every restart (`python -m chaos --trials N --seed S`)."""
