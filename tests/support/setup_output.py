"""Reading what `trader setup` prints: its `name  value` rows and its `missing:` lines."""

from __future__ import annotations


def rows(output: str) -> dict[str, str]:
    """The report's rows by name (`wallet`, `deployed`, `approvals`, ...)."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        name, _, value = line.partition("  ")
        if value and " " not in name:
            found[name] = value.strip()
    return found


def missing_lines(output: str) -> list[str]:
    """The lines after `missing:`, one per thing still missing (none when ready)."""
    return output.split("missing:\n", 1)[1].splitlines() if "missing:\n" in output else []


__all__ = ["missing_lines", "rows"]
