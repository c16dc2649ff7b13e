"""The exposure warning: said when open exposure nears the limit the operator set.

Risk denies a new entry at the limit (`execution/risk.py`); this warns before that, from
`NEAR_LIMIT` (90 %) of it, so the operator can raise the limit or let positions run off. The
scheduler's `rebalance` job asks every REBALANCE_S; the notifier dedupes the repeats.
"""

from __future__ import annotations

from decimal import Decimal

from trader.domain import Alert, Severity

NEAR_LIMIT = Decimal("0.9")  # the share of the limit from which the warning is raised


def exposure_warning(exposure: Decimal, limit: Decimal) -> Alert | None:
    """The warning for `exposure` against `limit`, or None below `NEAR_LIMIT` of it (or with
    no limit set: 0 means none)."""
    if limit <= 0 or exposure < limit * NEAR_LIMIT:
        return None
    return Alert(
        "exposure",
        Severity.WARNING,
        f"Exposure ${exposure:.2f} is {exposure / limit:.0%} of the limit",
        f"max exposure ${limit:.2f}; new entries will be denied at the limit",
        dedupe_key="exposure:near-limit",
    )
