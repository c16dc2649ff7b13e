"""Scenario files: the markets the simulator lists, how their prices move, and when they resolve.

A scenario is JSON (a file or a dict). Every key but `markets[].question` is optional:

    {
      "seed": 7,                       # overridden by --seed / serve(seed=...)
      "tick_interval_s": 1.0,          # how often prices walk and synthetic flow trades
      "heartbeat_timeout_s": 10.0,     # order dead-man switch
      "settlement_delay_s": 2.0,       # MATCHED -> MINED after this, CONFIRMED after twice it
      "initial_collateral": "10000",   # pUSD credited to every new account
      "page_size": 100,                # /data/orders and /data/trades page size
      "auth_max_skew_s": 300,          # L1/L2 timestamps must be this recent (null: no check)
      "new_accounts": ["0x.."] | "all", # accounts opened after CLOB V2: no EOA orders (accounts.py)
      "faults": [ ... ],               # fault rules active from the start (see faults.py)
      "chain_confirm_s": 2.0,          # a relayed transaction runs (and confirms) after this
      "deployed_wallets": ["0x.."],    # deposit wallets that exist from the start (relayer.py)
      "legacy_wallets": ["0x.."],      # proxies and Safes polymarket.com made, approvals set
      "markets": [{
        "question": "Will it rain?", "slug": "rain", "condition_id": "0x..64 hex",
        "outcomes": ["Yes", "No"], "token_ids": ["..", ".."],
        "tick_size": "0.01", "min_order_size": "5", "neg_risk": false,
        "event": "",                   # a neg-risk event's id: its markets are its outcomes
        "fair_price": "0.62", "volatility": 0.02, "drift": 0.0,
        "depth": 5, "level_size": "100", "half_spread_ticks": 1,
        "flow_rate": 0.3, "flow_size": "40",
        "fee_rate_bps": 0, "fee_exponent": 1,
        "seconds_delay": 0,            # the match delay the market states (not enforced here)
        "end_date": "2027-01-01T00:00:00Z" | "end_in_s": 86400,
        "opened_at": ISO time | "opened_in_s": -864000,   # start of its price history
        "resolves_at": ISO time | "resolves_in_s": 300, "outcome": "Yes",
        "volume": "125000", "liquidity": "8000", "description": "..",
        "rewards": {"daily_rate": 30, "min_size": 200, "max_spread": 3.5}
      }]
    }

Relative times (`*_in_s`) count from the moment the scenario is loaded. Condition and token ids
are derived from the question when absent (keccak, so token ids look like the venue's 77-digit
integers). `outcome` names the winning outcome at resolution; when absent the outcome whose
fair price is higher at that moment wins. `volatility` is the standard deviation of the fair
price's log-odds per square-root second. A market with `rewards` (a positive `daily_rate`, pUSD
a day) pays liquidity rewards: `/sampling-markets` lists it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak

from polysim.clob.accounts import NewAccounts
from trader.domain import OutcomeToken

DEFAULT_CHAIN_ID = 137
# The venue's CLOB V2 exchange contracts: an order's EIP-712 domain names one of them.
STANDARD_EXCHANGE = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE = "0xe2222d279d744050d28e00520010520000310F59"
EXCHANGE_V3 = "0xe3333700cA9d93003F00f0F71f8515005F6c00Aa"
NEG_RISK_ADAPTER = "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296"
COLLATERAL_ADDRESS = "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"  # pUSD: rewards are paid in it
ALLOWED_TICK_SIZES = frozenset(
    Decimal(t) for t in ("0.1", "0.01", "0.005", "0.0025", "0.001", "0.0001")
)


class ScenarioError(ValueError):
    """The scenario file is malformed."""


@dataclass(frozen=True, slots=True)
class Rewards:
    """A market's liquidity-rewards programme: a daily pool, and the smallest order (shares)
    and widest spread (cents from the midpoint) that earn from it."""

    daily_rate: Decimal
    min_size: Decimal
    max_spread: Decimal


@dataclass(frozen=True, slots=True)
class MarketSpec:
    condition_id: str
    question: str
    slug: str
    gamma_id: str
    tokens: tuple[OutcomeToken, OutcomeToken]
    tick_size: Decimal = Decimal("0.01")
    min_order_size: Decimal = Decimal(5)
    neg_risk: bool = False
    event: str = ""  # the neg-risk event this market is an outcome of
    fair_price: Decimal = Decimal("0.5")
    volatility: float = 0.02
    drift: float = 0.0
    depth: int = 5
    level_size: Decimal = Decimal(100)
    half_spread_ticks: int = 1
    flow_rate: float = 0.3
    flow_size: Decimal = Decimal(40)
    fee_rate_bps: int = 0
    fee_exponent: int = 1
    seconds_delay: int = 0  # stated as Gamma's secondsDelay and the CLOB's seconds_delay
    end_date: datetime | None = None
    opened_at: datetime | None = None  # None: the history's default look-back before the start
    resolves_at: datetime | None = None
    outcome: str | None = None
    volume: Decimal = Decimal(0)
    liquidity: Decimal = Decimal(0)
    description: str = ""
    rewards: Rewards | None = None

    @property
    def token_ids(self) -> tuple[str, str]:
        return (self.tokens[0].token_id, self.tokens[1].token_id)


@dataclass(frozen=True, slots=True)
class Scenario:
    markets: tuple[MarketSpec, ...]
    seed: int = 0
    started_at: datetime | None = None
    tick_interval_s: float = 1.0
    heartbeat_timeout_s: float = 10.0
    settlement_delay_s: float = 2.0
    initial_collateral: Decimal = Decimal(10000)
    page_size: int = 100
    auth_max_skew_s: float | None = 300.0
    chain_id: int = DEFAULT_CHAIN_ID
    exchange: str = STANDARD_EXCHANGE
    neg_risk_exchange: str = NEG_RISK_EXCHANGE
    exchange_v3: str = EXCHANGE_V3
    faults: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    new_accounts: NewAccounts = field(default_factory=NewAccounts)
    chain_confirm_s: float = 2.0
    deployed_wallets: tuple[str, ...] = ()
    legacy_wallets: tuple[str, ...] = ()


def load_scenario(
    source: str | Path | Mapping[str, Any], *, now: datetime, seed: int | None = None
) -> Scenario:
    """Read a scenario from a path, a JSON string or a dict; relative times count from `now`."""
    raw = _read(source)
    markets_raw = raw.get("markets")
    if not isinstance(markets_raw, list) or not markets_raw:
        raise ScenarioError("a scenario needs a non-empty 'markets' list")
    markets = tuple(_market(m, index, now) for index, m in enumerate(markets_raw))
    if len({m.condition_id for m in markets}) != len(markets):
        raise ScenarioError("two markets share a condition id")
    skew = raw.get("auth_max_skew_s", 300.0)
    try:
        new_accounts = NewAccounts.parse(raw.get("new_accounts"))
    except ValueError as error:
        raise ScenarioError(str(error)) from None
    return Scenario(
        markets=markets,
        seed=int(raw.get("seed", 0)) if seed is None else seed,
        started_at=now,
        tick_interval_s=float(raw.get("tick_interval_s", 1.0)),
        heartbeat_timeout_s=float(raw.get("heartbeat_timeout_s", 10.0)),
        settlement_delay_s=float(raw.get("settlement_delay_s", 2.0)),
        initial_collateral=Decimal(str(raw.get("initial_collateral", "10000"))),
        page_size=int(raw.get("page_size", 100)),
        auth_max_skew_s=None if skew is None else float(skew),
        chain_id=int(raw.get("chain_id", DEFAULT_CHAIN_ID)),
        exchange=str(raw.get("exchange", STANDARD_EXCHANGE)),
        neg_risk_exchange=str(raw.get("neg_risk_exchange", NEG_RISK_EXCHANGE)),
        exchange_v3=str(raw.get("exchange_v3", EXCHANGE_V3)),
        faults=tuple(raw.get("faults", ())),
        new_accounts=new_accounts,
        chain_confirm_s=float(raw.get("chain_confirm_s", 2.0)),
        deployed_wallets=tuple(str(a) for a in raw.get("deployed_wallets", ())),
        legacy_wallets=tuple(str(a) for a in raw.get("legacy_wallets", ())),
    )


def _read(source: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    if isinstance(source, str) and source.lstrip().startswith("{"):
        text = source
    else:
        text = Path(source).read_text()
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as error:
        raise ScenarioError(f"scenario is not valid JSON: {error}") from error
    if not isinstance(loaded, dict):
        raise ScenarioError("a scenario is a JSON object")
    return loaded


def _market(raw: Any, index: int, now: datetime) -> MarketSpec:
    if not isinstance(raw, Mapping) or not raw.get("question"):
        raise ScenarioError(f"market {index} needs a 'question'")
    question = str(raw["question"])
    condition_id = str(raw.get("condition_id") or "0x" + keccak(text=question).hex()).lower()
    if len(condition_id) != 66 or not condition_id.startswith("0x"):
        raise ScenarioError(f"market {index}: condition_id must be 0x and 64 hex digits")
    outcomes = _pair(raw.get("outcomes", ("Yes", "No")), "outcomes", index)
    token_ids = _pair(raw.get("token_ids") or _derive_tokens(condition_id), "token_ids", index)
    tick = Decimal(str(raw.get("tick_size", "0.01")))
    if tick not in ALLOWED_TICK_SIZES:
        raise ScenarioError(f"market {index}: unsupported tick size {tick}")
    fair = Decimal(str(raw.get("fair_price", "0.5")))
    if not tick <= fair <= 1 - tick:
        raise ScenarioError(f"market {index}: fair_price must lie in [tick, 1 - tick]")
    outcome = raw.get("outcome")
    if outcome is not None and outcome not in outcomes:
        raise ScenarioError(f"market {index}: outcome {outcome!r} is not one of {outcomes}")
    return MarketSpec(
        condition_id=condition_id,
        question=question,
        slug=str(raw.get("slug") or _slug(question)),
        gamma_id=str(raw.get("gamma_id", 510000 + index)),
        tokens=(OutcomeToken(token_ids[0], outcomes[0]), OutcomeToken(token_ids[1], outcomes[1])),
        tick_size=tick,
        min_order_size=Decimal(str(raw.get("min_order_size", "5"))),
        neg_risk=bool(raw.get("neg_risk", False)),
        event=str(raw.get("event") or ""),
        fair_price=fair,
        volatility=float(raw.get("volatility", 0.02)),
        drift=float(raw.get("drift", 0.0)),
        depth=int(raw.get("depth", 5)),
        level_size=Decimal(str(raw.get("level_size", "100"))),
        half_spread_ticks=max(1, int(raw.get("half_spread_ticks", 1))),
        flow_rate=float(raw.get("flow_rate", 0.3)),
        flow_size=Decimal(str(raw.get("flow_size", "40"))),
        fee_rate_bps=int(raw.get("fee_rate_bps", 0)),
        fee_exponent=int(raw.get("fee_exponent", 1)),
        seconds_delay=int(raw.get("seconds_delay", 0)),
        end_date=_when(raw, "end_date", "end_in_s", now) or now + timedelta(days=30),
        opened_at=_when(raw, "opened_at", "opened_in_s", now),
        resolves_at=_when(raw, "resolves_at", "resolves_in_s", now),
        outcome=None if outcome is None else str(outcome),
        volume=Decimal(str(raw.get("volume", "0"))),
        liquidity=Decimal(str(raw.get("liquidity", "0"))),
        description=str(raw.get("description", "")),
        rewards=_rewards(raw.get("rewards"), index),
    )


def _rewards(raw: Any, index: int) -> Rewards | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"market {index}: 'rewards' must be an object")
    try:
        rewards = Rewards(
            daily_rate=Decimal(str(raw.get("daily_rate", "0"))),
            min_size=Decimal(str(raw.get("min_size", "0"))),
            max_spread=Decimal(str(raw.get("max_spread", "0"))),
        )
    except ArithmeticError as error:
        raise ScenarioError(f"market {index}: rewards values must be numbers") from error
    if min(rewards.daily_rate, rewards.min_size, rewards.max_spread) < 0:
        raise ScenarioError(f"market {index}: rewards values must not be negative")
    return rewards if rewards.daily_rate > 0 else None


def _pair(value: Any, name: str, index: int) -> tuple[str, str]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise ScenarioError(f"market {index}: '{name}' must list exactly two values")
    return (str(value[0]), str(value[1]))


def _derive_tokens(condition_id: str) -> tuple[str, str]:
    seed = bytes.fromhex(condition_id[2:])
    return tuple(  # type: ignore[return-value]
        str(int.from_bytes(keccak(seed + bytes([i])), "big")) for i in (1, 2)
    )


def _when(raw: Mapping[str, Any], absolute: str, relative: str, now: datetime) -> datetime | None:
    if raw.get(relative) is not None:
        return now + timedelta(seconds=float(raw[relative]))
    value = raw.get(absolute)
    if value is None:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ScenarioError(f"{absolute} must carry a time zone: {value}")
    return parsed


def _slug(question: str) -> str:
    words = "".join(c.lower() if c.isalnum() else " " for c in question).split()
    return "-".join(words)[:80] or "market"


__all__ = [
    "ALLOWED_TICK_SIZES",
    "COLLATERAL_ADDRESS",
    "DEFAULT_CHAIN_ID",
    "EXCHANGE_V3",
    "NEG_RISK_ADAPTER",
    "NEG_RISK_EXCHANGE",
    "STANDARD_EXCHANGE",
    "MarketSpec",
    "Rewards",
    "Scenario",
    "ScenarioError",
    "load_scenario",
]
