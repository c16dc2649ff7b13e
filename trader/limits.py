"""The risk limits an operator may change at run time, each with a type and a sane range.

A limit is one of a few kinds: a USD amount, a fraction, a duration in seconds or a count.
Each kind says how its text is parsed and which values are sane, so `/set cooldown_s 1e20` is
refused with a reason instead of overflowing `timedelta` later and
crashing the component that reads it on every restart.

Parsing is deliberately narrow: plain ASCII decimal digits with an optional fraction (a `$`
prefix for amounts), no sign, no exponent, at most 18 digits. `Decimal()` on its own accepts
Arabic-Indic digits, `-0`, `1E-400` and `1E+309`; none of those is a value an operator means.

A stored document (the `risk_limits` row) is read leniently: a value that does not pass its
rule falls back to its default and is reported as a `LimitProblem`, so start-up never dies on
what an earlier version, or a hand edit of the database, left behind.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any


class SettingError(ValueError):
    """A setting name or value the operator gave is not acceptable; the message says why."""


class LimitKind(Enum):
    USD = "usd"
    FRACTION = "fraction"
    SECONDS = "seconds"
    COUNT = "count"


# how far above the bankroll an amount may go before it is surely a typo (an extra zero or
# three); a limit above the bankroll itself is allowed, an order of magnitude above is not
BANKROLL_MULTIPLE = Decimal(10)
MAX_USD = Decimal(10_000_000)  # absolute cap when no bankroll is known
MAX_SECONDS = Decimal(30 * 86_400)  # thirty days
MAX_COUNT = 10_000
_NUMBER = re.compile(r"[0-9]{1,18}(\.[0-9]{1,18})?|\.[0-9]{1,18}")
_WHOLE = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True, slots=True)
class LimitRule:
    kind: LimitKind
    positive: bool  # zero is refused (a zero here would stop trading or divide by zero)
    unit: str

    def parse(self, name: str, value: object, bankroll: Decimal | None = None) -> Decimal | int:
        """The value from the operator's text (or a stored string); raises `SettingError`."""
        if isinstance(value, bool):
            raise SettingError(f"{name} is a number, got {value!r}")
        if isinstance(value, int):
            text = str(value)
        elif isinstance(value, Decimal):
            text = format(value, "f") if value.is_finite() else str(value)
        else:
            text = str(value).strip()
        if self.kind is LimitKind.USD:
            text = text.removeprefix("$")
        if self.kind is LimitKind.COUNT:
            if not _WHOLE.fullmatch(text):
                raise SettingError(f"{name} is a whole number of {self.unit}, got {value!r}")
            number: Decimal | int = int(text)
        else:
            if text.startswith("-"):
                raise SettingError(f"{name} cannot be negative, got {value!r}")
            if not _NUMBER.fullmatch(text):
                raise SettingError(
                    f"{name} is a plain decimal number of {self.unit} "
                    f"(digits 0-9, no exponent), got {value!r}"
                )
            number = Decimal(text)
        self.check(name, number, bankroll)
        return number

    def check(self, name: str, number: Decimal | int, bankroll: Decimal | None = None) -> None:
        if number < 0 or (self.positive and number == 0):
            floor = "above 0" if self.positive else "at least 0"
            raise SettingError(f"{name} must be {floor}, got {number}")
        ceiling = self.ceiling(bankroll)
        if number > ceiling:
            why = (
                f"{BANKROLL_MULTIPLE}x the bankroll of ${bankroll:.2f}"
                if bankroll is not None and self.kind is LimitKind.USD
                else self.unit
            )
            raise SettingError(f"{name} is at most {ceiling} ({why}), got {number}")

    def ceiling(self, bankroll: Decimal | None) -> Decimal | int:
        match self.kind:
            case LimitKind.USD:
                if bankroll is not None and bankroll > 0:
                    return min(MAX_USD, (bankroll * BANKROLL_MULTIPLE).quantize(Decimal(1)))
                return MAX_USD
            case LimitKind.FRACTION:
                return Decimal(1)
            case LimitKind.SECONDS:
                return MAX_SECONDS
            case LimitKind.COUNT:
                return MAX_COUNT


_USD = LimitRule(LimitKind.USD, positive=True, unit="USD")
_USD_OR_ZERO = LimitRule(LimitKind.USD, positive=False, unit="USD")
_FRACTION = LimitRule(LimitKind.FRACTION, positive=False, unit="a fraction from 0 to 1")
_FRACTION_POSITIVE = LimitRule(LimitKind.FRACTION, positive=True, unit="a fraction up to 1")
_SECONDS = LimitRule(LimitKind.SECONDS, positive=True, unit="seconds, up to 30 days")
_SECONDS_OR_ZERO = LimitRule(LimitKind.SECONDS, positive=False, unit="seconds, up to 30 days")
_COUNT = LimitRule(LimitKind.COUNT, positive=True, unit="orders or events")


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Every limit the risk engine and the automatic halt enforce. USD amounts are pUSD."""

    max_order_notional: Decimal = Decimal(50)
    max_position: Decimal = Decimal(200)  # per market, at cost
    max_exposure: Decimal = Decimal(1000)  # all positions at cost plus open BUY orders
    max_event_exposure: Decimal = Decimal(300)  # per neg-risk event: its markets together
    max_open_orders: int = 20
    max_orders_per_minute: int = 10
    daily_loss_limit: Decimal = Decimal(100)  # realized + unrealized, operator's day
    min_edge: Decimal = Decimal("0.03")  # model probability - price - fee per share
    stale_book_s: Decimal = Decimal(30)
    min_time_to_end_s: Decimal = Decimal(3600)  # no entries this close to a market's end
    price_band_low: Decimal = Decimal("0.02")
    price_band_high: Decimal = Decimal("0.98")
    max_price_deviation: Decimal = Decimal("0.10")  # |limit - mid| at most this
    reduced_drawdown: Decimal = Decimal("0.10")  # drawdown from peak: REDUCED from here
    halted_drawdown: Decimal = Decimal("0.20")  # and HALTED (no new entries) from here
    reduced_scale: Decimal = Decimal("0.5")  # order sizes times this in REDUCED
    cooldown_s: Decimal = Decimal(300)  # the same (market, token, side) not again before
    flatten_slippage: Decimal = Decimal("0.05")  # kill-flatten sells no lower than bid * (1-x)
    halt_venue_errors: int = 5  # this many venue errors ...
    halt_venue_error_window_s: Decimal = Decimal(60)  # ... within this window halt trading
    halt_feed_down_s: Decimal = Decimal(120)  # market feed silent this long halts trading
    halt_reconcile_tolerance: Decimal = Decimal(5)  # USD of position difference that halts

    def to_json(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(
        cls, raw: dict[str, Any] | None, defaults: RiskLimits | None = None
    ) -> RiskLimits:
        """Read a stored document strictly: unknown keys are ignored, missing ones take
        `defaults`, a bad value raises `SettingError`."""
        limits, problems = cls.from_stored(raw, defaults)
        if problems:
            raise SettingError("; ".join(p.message for p in problems))
        return limits

    @classmethod
    def from_stored(
        cls, raw: dict[str, Any] | None, defaults: RiskLimits | None = None
    ) -> tuple[RiskLimits, tuple[LimitProblem, ...]]:
        """Read a stored document leniently: a value that fails its rule takes its default
        and is reported, so a bad row never stops start-up."""
        base = defaults or cls()
        values: dict[str, Any] = {}
        problems: list[LimitProblem] = []
        for name, value in (raw or {}).items():
            rule = LIMIT_RULES.get(name)
            if rule is None:
                continue
            try:
                values[name] = rule.parse(name, value)
            except SettingError as error:
                used = str(getattr(base, name))
                problems.append(LimitProblem(name, str(value), used, str(error)))
        limits = dataclasses.replace(base, **values)
        for names, message in limits.inconsistencies():
            for name in names:
                if name in values:
                    problems.append(
                        LimitProblem(name, str(values[name]), str(getattr(base, name)), message)
                    )
            limits = dataclasses.replace(limits, **{n: getattr(base, n) for n in names})
        return limits, tuple(problems)

    def with_value(
        self, name: str, value: object, *, bankroll: Decimal | None = None
    ) -> RiskLimits:
        """A copy with one limit changed, validated (raises `SettingError`). With a
        `bankroll`, USD limits may be at most ten times it."""
        rule = LIMIT_RULES.get(name)
        if rule is None:
            known = ", ".join(sorted(LIMIT_RULES))
            raise SettingError(f"unknown limit {name!r}; the limits are: {known}")
        parsed = rule.parse(name, value, bankroll)
        values: dict[str, Any] = {name: parsed}
        changed = dataclasses.replace(self, **values)
        changed.validate()
        return changed

    def validate(self) -> None:
        for name, rule in LIMIT_RULES.items():
            rule.check(name, getattr(self, name))
        for _names, message in self.inconsistencies():
            raise SettingError(message)

    def inconsistencies(self) -> list[tuple[tuple[str, ...], str]]:
        found: list[tuple[tuple[str, ...], str]] = []
        if not self.price_band_low < self.price_band_high:
            message = "price_band_low must be below price_band_high"
            found.append((("price_band_low", "price_band_high"), message))
        if not self.reduced_drawdown <= self.halted_drawdown:
            found.append(
                (
                    ("reduced_drawdown", "halted_drawdown"),
                    "reduced_drawdown must not be above halted_drawdown",
                )
            )
        return found


@dataclass(frozen=True, slots=True)
class LimitProblem:
    """A stored limit that was not usable: what was stored, what is used instead, and why."""

    name: str
    stored: str
    used: str
    message: str


LIMIT_RULES: dict[str, LimitRule] = {
    "max_order_notional": _USD,
    "max_position": _USD,
    "max_exposure": _USD,
    "max_event_exposure": _USD,
    "max_open_orders": _COUNT,
    "max_orders_per_minute": _COUNT,
    "daily_loss_limit": _USD,
    "min_edge": _FRACTION,
    "stale_book_s": _SECONDS,
    "min_time_to_end_s": _SECONDS_OR_ZERO,
    "price_band_low": _FRACTION,
    "price_band_high": _FRACTION,
    "max_price_deviation": _FRACTION,
    "reduced_drawdown": _FRACTION,
    "halted_drawdown": _FRACTION_POSITIVE,
    "reduced_scale": _FRACTION_POSITIVE,
    "cooldown_s": _SECONDS_OR_ZERO,
    "flatten_slippage": _FRACTION,
    "halt_venue_errors": _COUNT,
    "halt_venue_error_window_s": _SECONDS,
    "halt_feed_down_s": _SECONDS,
    "halt_reconcile_tolerance": _USD_OR_ZERO,
}


def parse_amount(name: str, value: object, bankroll: Decimal | None = None) -> Decimal:
    """A positive USD amount the operator typed (as a USD limit is parsed): `SettingError`
    says what is wrong."""
    return Decimal(_USD.parse(name, value, bankroll))
