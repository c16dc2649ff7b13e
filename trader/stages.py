"""Strategy stages: development -> paper -> live. Only a promoted strategy trades real money.

A strategy at `development` runs in backtests only; at `paper` it trades in paper mode; at `live`
it trades in paper and live mode. The stage a strategy starts at on a fresh database comes from
the `STRATEGY_STAGES` setting (else `DEFAULT_STAGES`); after that the stored stage is the one in
force, changed only by `/promote` and `/demote` (operator, confirmed, audited).

Two places read it: the signal pipeline (a strategy whose stage does not allow the mode is not
evaluated at all, so it costs no LLM calls) and the risk engine (an intent of such a strategy is
denied with the rule `strategy_stage`, whatever produced it). A SELL is never denied for its
strategy's stage: on Polymarket a sell only reduces shares held, and a demotion must not trap a
position.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType

from trader.domain import TradingMode


class Stage(StrEnum):
    DEVELOPMENT = "development"
    PAPER = "paper"
    LIVE = "live"

    def allows(self, mode: TradingMode) -> bool:
        """May a strategy at this stage place orders in `mode`?"""
        if self is Stage.LIVE:
            return True
        return self is Stage.PAPER and mode is TradingMode.PAPER

    @property
    def promoted(self) -> Stage | None:
        return _NEXT.get(self)

    @property
    def demoted(self) -> Stage | None:
        return _PREVIOUS.get(self)

    def describe(self) -> str:
        return _WHAT[self]


_ORDER = (Stage.DEVELOPMENT, Stage.PAPER, Stage.LIVE)
_NEXT = dict(pairwise(_ORDER))
_PREVIOUS = {after: before for before, after in pairwise(_ORDER)}
_WHAT = {
    Stage.DEVELOPMENT: "backtests only",
    Stage.PAPER: "trades in paper mode",
    Stage.LIVE: "trades in paper and live mode",
}

# Every strategy the product knows, and the stage it starts at: none trades real money until an
# operator promotes it.
DEFAULT_STAGES: Mapping[str, Stage] = MappingProxyType({"llm_edge": Stage.PAPER})


@dataclass(frozen=True, slots=True)
class StrategyRecord:
    """What one strategy's orders did in this database (paper fills in paper mode)."""

    orders: int = 0
    filled_orders: int = 0
    traded_notional: Decimal = Decimal(0)  # sum of fill price x size
    fees: Decimal = Decimal(0)
    last_order_at: datetime | None = None


class StageError(ValueError):
    """An unknown strategy or stage, or a move past either end; the text is fit to show."""


@dataclass(frozen=True, slots=True)
class StageBook:
    """The stage of every known strategy (immutable; `with_stage` returns a copy)."""

    stages: Mapping[str, Stage]

    @classmethod
    def defaults(cls) -> StageBook:
        return cls(MappingProxyType(dict(DEFAULT_STAGES)))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.stages))

    def stage_of(self, strategy: str) -> Stage | None:
        """The stage of a known strategy; None for an intent not made by a strategy (the kill
        switch's flatten, a manual order)."""
        return self.stages.get(strategy)

    def allows(self, strategy: str, mode: TradingMode) -> bool:
        stage = self.stage_of(strategy)
        return stage is None or stage.allows(mode)

    def trading_in(self, mode: TradingMode) -> tuple[str, ...]:
        """The strategies whose stage lets them trade in `mode`."""
        return tuple(name for name in self.names if self.stages[name].allows(mode))

    def not_allowed(self, strategy: str, mode: TradingMode) -> str:
        """Why `strategy` may not trade in `mode`, or "" when it may."""
        stage = self.stage_of(strategy)
        if stage is None or stage.allows(mode):
            return ""
        return f"{strategy} is at stage {stage} ({stage.describe()}): no orders in {mode} mode"

    def with_stage(self, strategy: str, stage: Stage) -> StageBook:
        self._known(strategy)
        return StageBook(MappingProxyType({**self.stages, strategy: stage}))

    def step(self, strategy: str, *, up: bool) -> Stage:
        """The stage `/promote` (up) or `/demote` would move `strategy` to."""
        current = self._known(strategy)
        target = current.promoted if up else current.demoted
        if target is None:
            verb = "promoted" if up else "demoted"
            raise StageError(f"{strategy} is at stage {current}: it cannot be {verb} further")
        return target

    def to_json(self) -> dict[str, str]:
        return {name: stage.value for name, stage in sorted(self.stages.items())}

    @classmethod
    def from_json(cls, raw: object, base: StageBook | None = None) -> tuple[StageBook, list[str]]:
        """The stored stages over `base`, and one line per stored entry that was ignored (an
        unknown strategy or stage: it keeps its base stage). Never raises on stored data."""
        book = base or cls.defaults()
        problems: list[str] = []
        if raw is None:
            return book, problems
        if not isinstance(raw, Mapping):
            return book, [f"stored strategy stages are not a mapping: {type(raw).__name__}"]
        for name, value in raw.items():
            try:
                book = book.with_stage(str(name), parse_stage(value))
            except StageError as error:
                problems.append(str(error))
        return book, problems

    def _known(self, strategy: str) -> Stage:
        stage = self.stages.get(strategy)
        if stage is None:
            known = ", ".join(self.names)
            raise StageError(f"unknown strategy {strategy!r}; the strategies are: {known}")
        return stage


def parse_stage(value: object) -> Stage:
    text = str(value).strip().casefold()
    try:
        return Stage(text)
    except ValueError:
        known = ", ".join(stage.value for stage in _ORDER)
        raise StageError(f"unknown stage {str(value)!r}; the stages are: {known}") from None


def parse_stage_setting(text: str, known: Iterable[str] = DEFAULT_STAGES) -> StageBook:
    """`STRATEGY_STAGES` ("llm_edge=live", comma-separated) over the defaults.
    Raises `StageError` naming the first bad entry."""
    starting = {name: DEFAULT_STAGES.get(name, Stage.PAPER) for name in known}
    book = StageBook(MappingProxyType(starting))
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise StageError(f"{item!r} is not strategy=stage")
        book = book.with_stage(name.strip(), parse_stage(value))
    return book
