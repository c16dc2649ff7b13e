"""The daily refit of the model's calibration and blend weight (the scheduler's `forecast_refit`).

`CalibrationRefit.run()` reads the resolved LLM forecasts that stored their aggregate, fits
Platt and `w` on them (`trader.signals.pooling.fit_calibration`; the configured defaults while
too few have resolved), puts the result in force and stores it under the control-state key
`forecast_calibration`, which the daily report shows with its sample size. `load()` at start
puts the stored one back in force, so a restart does not wait a day for its calibration.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from trader.clock import Clock
from trader.signals.pooling import Calibration, CalibrationHolder, Resolved

log = logging.getLogger(__name__)
STATE_KEY = "forecast_calibration"
ACTOR = "scheduler:forecast_refit"


class ResolvedSource(Protocol):
    async def resolved_for_fit(self, source: str = "llm", limit: int = 5000) -> list[Resolved]: ...


class StateStore(Protocol):
    async def get(self, key: str, default: Any = None) -> Any: ...

    async def set(self, key: str, value: Any, *, updated_by: str) -> None: ...


class CalibrationRefit:
    def __init__(
        self,
        holder: CalibrationHolder,
        forecasts: ResolvedSource,
        state: StateStore,
        clock: Clock,
    ) -> None:
        self.holder = holder
        self._forecasts = forecasts
        self._state = state
        self._clock = clock

    async def load(self) -> Calibration:
        """The stored calibration back in force; the defaults when none is stored or readable."""
        stored = await self._state.get(STATE_KEY)
        if stored is not None:
            try:
                self.holder.current = Calibration.from_json(stored)
            except (ValueError, KeyError, TypeError):
                log.warning("stored %s unreadable: the defaults stand until the refit", STATE_KEY)
        return self.holder.current

    async def run(self) -> Calibration:
        rows: Sequence[Resolved] = await self._forecasts.resolved_for_fit()
        fitted = self.holder.refit(rows, at=self._clock.now())
        await self._state.set(STATE_KEY, fitted.to_json(), updated_by=ACTOR)
        log.info("forecast calibration refitted: %s", fitted.describe())
        return fitted

    async def job(self) -> None:
        """The scheduler's `forecast_refit`: `run`, its result kept in the holder."""
        await self.run()
