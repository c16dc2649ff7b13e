"""The signal cycle as the trader runs it: `build_signal_runtime` wires the pipeline to the
database, the bus and the event log; `SignalRuntime.run_cycle()` runs one cycle.

A cycle reads the markets and the bankroll, runs the pipeline, stores its forecasts, publishes
each intent on `bus.intents`, keeps the `CycleReport` (/signals) and records start, end,
duration or failure in the event log. The analyser is the LLM ensemble with an Anthropic API
key, the heuristic without (`analyser` says which). A fallback to the heuristic (over budget,
API failing) or a failed news stage becomes an alert with the pipeline's reason.

Intent groups: the execution engine takes intents one at a time, so a group is published as its
legs, in order. A one-leg group's intent has the group id as its correlation id; the legs of a
larger group have `<group id>-<leg>` and a reason ending `[group <id> leg i/n, all-or-none,
unwind: ...]`. The engine does not enforce all-or-none, and no strategy makes a multi-leg group
now (complete-set arbitrage was removed, see `trader.signals.strategies`). A traded market's
forecast rows carry its group id.

Cycles never overlap. Nothing here imports `trader.execution`.

The package: `config` (the runtime's configuration, from the settings), `cycle`
(`SignalRuntime`, the cycle itself), `assembly` (`build_signal_runtime`).
"""

from __future__ import annotations

from trader.signals.runtime.assembly import build_signal_runtime, provider_chain
from trader.signals.runtime.config import SignalRuntimeConfig, maker_policy, signal_runtime_config
from trader.signals.runtime.cycle import (
    ACTOR,
    SCORE_DAYS,
    BankrollSource,
    MarketSource,
    SignalRuntime,
    fallback_reasons,
    group_legs,
)

__all__ = [
    "ACTOR",
    "SCORE_DAYS",
    "BankrollSource",
    "MarketSource",
    "SignalRuntime",
    "SignalRuntimeConfig",
    "build_signal_runtime",
    "fallback_reasons",
    "group_legs",
    "maker_policy",
    "provider_chain",
    "signal_runtime_config",
]
