"""The invariants a crash, a fault or a kill must never break, checked against the venue.

Inputs are plain snapshots: `read_ledger(path)` reads the trader's SQLite file (read-only, while
the app may be writing), `venue_view(state, address)` takes the simulator's `/_admin/state`
JSON and keeps what belongs to our address. `check_all` returns, per invariant, the list of
problems found (empty: it holds).

- no_duplicate_orders: every venue order id appears once at the venue and once in our orders
  table; every venue order of ours has the row that was written before it was sent (none had
  to be adopted); no intent (correlation id, token, side) reached the venue twice, except as
  a maker reprice: each later order of the intent names the one it `replaces` in its
  `order_created` event (through orders the venue refused), that one was cancelled
  (`order_canceled`) or seen ended (`maker_order_ended`) before the later one was created
  and is no longer open at the venue, and the later one asks for no more than the earlier
  one left unmatched.
- no_lost_fills: every trade leg of ours at the venue is in the fills table.
- positions_match: our non-zero positions equal the venue's holdings, but for the shares of a
  settled market whose redemption is in flight (requested or sent): settlement closed them
  here, the venue holds them until the redemption is mined (as the real venue does).
- open_orders_match: the orders we think are open are exactly those open at the venue.
- closed_orders_match: an order we closed has the venue's status and matched size; one the
  venue does not list (never received, refused, or a fill-and-kill that found nothing to
  fill: the venue keeps none of those) was closed with nothing matched.
- event_log_continuous: seq runs 1, 2, 3, ... without a gap or a repeat (SQLite), and the
  store's own continuity check (`trader.store.eventlog.find_gaps`) finds no process run with
  a gap in its `run_seq` numbering.
- event_log_complete: every order of ours the venue knows has its `intent_received` (for a
  kill's flatten sell: the flatten's `flatten_recorded`) and `order_created` events (durable
  before the venue is called), and every row of the fills table has its `fill` event (trade
  id and order id; a settlement's row, its market's `market_settled`).
- no_orders_while_stopped: no order was decided while trading was KILLED or HALTED (the
  decision is the intent's `intent_received` event, or for a maker order sent later its
  `maker_repriced` / `maker_taking` / `risk_passed` (checked again) event; kill-switch exits
  are the exception).
- no_orphan_maker_orders: no post-only (maker) order placed before the app's last start is
  still open at the venue: its intent died with the process, so start-up cancelled it.
- never_redeemed_twice: per market, at most one redemption confirmed and at most one
  redemption or merge in flight (requested or sent); no tx id recorded twice; no redemption
  requested after one was confirmed (`chain_operations`, trader/execution/redemption/).
- cash_matches_payouts: each confirmed redemption pays what the market's settlement said was
  redeemable (its last `market_settled` event), has its `redemption_confirmed` event with
  that payout, and the cash it moved plus what reconciliation moved for the market
  (`redemption_received`) within one process run is never more than that payout.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.store.eventlog import find_gaps

INVARIANTS = (
    "no_duplicate_orders",
    "no_lost_fills",
    "positions_match",
    "open_orders_match",
    "closed_orders_match",
    "event_log_continuous",
    "event_log_complete",
    "no_orders_while_stopped",
    "never_redeemed_twice",
    "cash_matches_payouts",
    "no_orphan_maker_orders",
)
OPEN_STATUSES = frozenset({"PENDING", "SUBMITTED", "LIVE"})
STOPPED = frozenset({"KILLED", "HALTED"})
STOP_EVENTS = frozenset({"kill", "auto_halt"})
SETTLEMENT = "settlement"  # the order id of a settlement's synthetic fill
MERGE = "merge"  # the order id of a merge's synthetic sells
LEGACY = "legacy"  # chain rows the migration wrote for markets paper redeemed before
FLATTEN_DECISIONS = frozenset({"flatten_recorded", "flatten_not_recorded", "flatten_resumed"})
# a maker order sent after its intent's `intent_received` was decided at one of these
MAKER_DECISIONS = frozenset({"maker_repriced", "maker_taking", "risk_passed"})
# an order known to have ended: cancelled by us, or seen ended by the maker desk
ENDED = frozenset({"order_canceled", "maker_order_ended"})


@dataclass(frozen=True)
class Event:
    seq: int
    ts: datetime
    type: str
    correlation_id: str | None
    payload: dict[str, Any]
    run_id: str = ""  # the process run that wrote it


@dataclass(frozen=True)
class ChainRow:
    """A redemption or merge as the `chain_operations` table keeps it."""

    operation_id: str
    kind: str
    market: str
    state: str
    payout: Decimal
    tx_id: str | None
    created_at: datetime
    requested_by: str = ""


@dataclass(frozen=True)
class OrderRecord:
    client_order_id: str
    venue_order_id: str | None
    token_id: str
    side: str
    status: str
    created_at: datetime
    strategy: str
    correlation_id: str | None
    size_matched: Decimal = Decimal(0)
    post_only: bool = False


@dataclass(frozen=True)
class Ledger:
    """What the trader's database says."""

    orders: list[OrderRecord]
    fills: set[tuple[str, str]]  # (trade id, venue order id)
    positions: dict[str, Decimal]  # token id -> size, non-zero only
    events: list[Event]
    run_gaps: list[str] = field(default_factory=list)  # what find_gaps reports, in words
    chain: list[ChainRow] = field(default_factory=list)  # redemptions and merges


@dataclass(frozen=True)
class VenueView:
    """What the venue says about our account."""

    orders: list[dict[str, Any]]
    open_ids: set[str]
    trade_legs: set[tuple[str, str]]
    holdings: dict[str, Decimal]


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_ledger(path: Path) -> Ledger:
    """A consistent read of the tables (one read transaction; the app may be writing)."""
    uri = f"file:{path}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=30)) as db:
        db.execute("BEGIN")
        orders = [
            OrderRecord(
                cid,
                vid,
                token,
                side,
                status,
                _utc(created),
                strategy,
                corr,
                Decimal(str(matched)),
                bool(post_only),
            )
            for cid, vid, token, side, status, created, strategy, corr, matched, post_only in (
                db.execute(
                    "SELECT client_order_id, venue_order_id, token_id, side, status, created_at, "
                    "strategy, correlation_id, size_matched, post_only FROM orders ORDER BY id"
                )
            )
        ]
        fills = {(str(t), str(o)) for t, o in db.execute("SELECT trade_id, order_id FROM fills")}
        positions = {
            str(token): Decimal(str(size))
            for token, size in db.execute("SELECT token_id, size FROM positions")
            if Decimal(str(size)) != 0
        }
        events = [
            Event(seq, _utc(ts), kind, corr, json.loads(payload), str(run or ""))
            for seq, ts, kind, corr, payload, run in db.execute(
                "SELECT seq, ts, type, correlation_id, payload, run_id FROM event_log ORDER BY seq"
            )
        ]
        chain = _chain_rows(db)
        db.execute("COMMIT")
    return Ledger(orders, fills, positions, events, chain=chain)


def _chain_rows(db: sqlite3.Connection) -> list[ChainRow]:
    try:
        rows = db.execute(
            "SELECT id, kind, market, state, payout, tx_id, created_at, requested_by "
            "FROM chain_operations ORDER BY created_at, id"
        ).fetchall()
    except sqlite3.OperationalError:  # a database from before the redemption service
        return []
    return [
        ChainRow(str(i), str(k), str(m), str(st), Decimal(str(p)), t, _utc(c), str(by))
        for i, k, m, st, p, t, c, by in rows
    ]


async def with_run_gaps(ledger: Ledger, sessions: async_sessionmaker[AsyncSession]) -> Ledger:
    """The ledger with what the store's continuity check finds (rows are only ever appended in
    run order, so a gap seen here is a gap for good)."""
    gaps = await find_gaps(sessions)
    found = [f"run {g.run_id}: {g.missing} event(s) missing after #{g.after}" for g in gaps]
    return replace(ledger, run_gaps=found)


def venue_view(state: dict[str, Any], address: str) -> VenueView:
    address = address.lower()
    ours = [o for o in state["orders"] if str(o["maker_address"]).lower() == address]
    open_ids = {o["id"] for o in ours} & set(state["open_order_ids"])
    legs = {
        (str(t["id"]), str(leg["order_id"]))
        for t in state["trades"]
        for leg in (t["taker"], t["maker"])
        if str(leg["address"]).lower() == address
    }
    account = next((a for a in state["accounts"] if str(a["address"]).lower() == address), None)
    holdings = {
        str(token): Decimal(h["size"])
        for token, h in (account or {"holdings": {}})["holdings"].items()
        if Decimal(h["size"]) != 0
    }
    return VenueView(ours, open_ids, legs, holdings)


# --- the checks ------------------------------------------------------------------------------


def no_duplicate_orders(ledger: Ledger, venue: VenueView) -> list[str]:
    problems = []
    at_venue = Counter(o["id"] for o in venue.orders)
    problems += [f"venue order {oid} listed {n} times" for oid, n in at_venue.items() if n > 1]
    rows = Counter(o.venue_order_id for o in ledger.orders if o.venue_order_id)
    problems += [f"venue order {oid} has {n} rows" for oid, n in rows.items() if n > 1]
    problems += [f"venue order {oid} has no row" for oid in at_venue if oid not in rows]
    problems += [
        f"order {o.venue_order_id} had to be adopted"
        for o in ledger.orders
        if o.client_order_id.startswith("adopted-")
    ]
    # a kill's flatten is one decision that sends as many fill-and-kill sells per token as it
    # takes (resumed at a restart under the same id): not an intent sent twice
    sent = [o for o in ledger.orders if o.venue_order_id in at_venue and o.strategy != "kill"]
    per_intent: dict[tuple[str, str, str], list[OrderRecord]] = {}
    for o in sent:
        if o.correlation_id:
            per_intent.setdefault((o.correlation_id, o.token_id, o.side), []).append(o)
    chain = MakerChain.of(ledger.events, venue)
    for (corr, token, side), orders in per_intent.items():
        if len(orders) > 1 and not all(map(chain.follows, orders[1:], orders)):
            problems.append(
                f"intent {corr} ({side} {token[:10]}...) reached the venue {len(orders)} times"
            )
    return problems


@dataclass(frozen=True)
class MakerChain:
    """What tells a maker reprice (cancel, then a new post-only order of the same intent) from
    an intent sent twice: who replaces whom, when each was created and cancelled."""

    replaces: dict[str, str]  # venue order id -> the order it replaces
    created: dict[str, int]  # venue order id -> seq of its order_created
    canceled: dict[str, int]  # venue order id -> seq of its first order_canceled
    at_venue: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, events: list[Event], venue: VenueView) -> MakerChain:
        replaces, created, canceled = {}, {}, {}
        for e in events:
            order_id = str(e.payload.get("order_id"))
            if e.type == "order_created":
                created.setdefault(order_id, e.seq)
                if e.payload.get("replaces"):
                    replaces[order_id] = str(e.payload["replaces"])
            elif e.type in ENDED:
                canceled.setdefault(order_id, e.seq)
        return cls(replaces, created, canceled, {str(o["id"]): o for o in venue.orders})

    def follows(self, later: OrderRecord, earlier: OrderRecord) -> bool:
        """`later` is a reprice of `earlier`: it names it (through orders the venue never
        kept), `earlier` was cancelled before `later` was created and has ended at the venue,
        and `later` asks for no more than `earlier` left unmatched."""
        new, old = str(later.venue_order_id), str(earlier.venue_order_id)
        step, seen = new, set()
        while step != old and step in self.replaces and step not in seen:
            seen.add(step)
            step = self.replaces[step]
            if step != old and step in self.at_venue:
                return False  # it replaces another order the venue had, not this one
        canceled, created = self.canceled.get(old), self.created.get(new)
        if step != old or canceled is None or created is None or canceled > created:
            return False
        before, after = self.at_venue.get(old, {}), self.at_venue.get(new, {})
        if before.get("status") in OPEN_STATUSES:
            return False
        if "original_size" in before and "original_size" in after:
            left = Decimal(str(before["original_size"])) - Decimal(str(before["size_matched"]))
            return Decimal(str(after["original_size"])) <= left
        return True


def no_lost_fills(ledger: Ledger, venue: VenueView) -> list[str]:
    return [
        f"trade {t} of order {o} not recorded" for t, o in sorted(venue.trade_legs - ledger.fills)
    ]


def positions_match(ledger: Ledger, venue: VenueView) -> list[str]:
    redeeming = _being_redeemed(ledger)
    tokens = sorted((set(ledger.positions) | set(venue.holdings)) - redeeming)
    return [
        f"token {t[:12]}...: ours {ledger.positions.get(t, 0)}, venue {venue.holdings.get(t, 0)}"
        for t in tokens
        if ledger.positions.get(t, Decimal(0)) != venue.holdings.get(t, Decimal(0))
    ]


def _being_redeemed(ledger: Ledger) -> set[str]:
    """Tokens of settled markets with a redemption in flight: closed here, at the venue until
    it is mined."""
    in_flight = {
        r.market for r in ledger.chain if r.kind == "redeem" and r.state in ("requested", "sent")
    }
    return {
        str(token)
        for e in ledger.events
        if e.type == "market_settled" and e.payload.get("market") in in_flight
        for token in e.payload.get("payouts") or {}
        if ledger.positions.get(str(token), Decimal(0)) == 0
    }


def open_orders_match(ledger: Ledger, venue: VenueView) -> list[str]:
    ours = {o.venue_order_id for o in ledger.orders if o.status in OPEN_STATUSES}
    return [f"open for us only: {oid}" for oid in sorted(ours - venue.open_ids, key=str)] + [
        f"open at the venue only: {oid}" for oid in sorted(venue.open_ids - ours)
    ]


def closed_orders_match(ledger: Ledger, venue: VenueView) -> list[str]:
    at_venue = {str(o["id"]): o for o in venue.orders}
    problems = []
    for order in ledger.orders:
        if order.status in OPEN_STATUSES or not order.venue_order_id:
            continue
        seen = at_venue.get(order.venue_order_id)
        if seen is None:
            if order.status == "MATCHED" or order.size_matched != 0:
                problems.append(
                    f"order {order.venue_order_id} is {order.status} with "
                    f"{order.size_matched} matched here; the venue does not list it"
                )
            continue
        if seen["status"] in OPEN_STATUSES:  # open there, closed here: open_orders_match
            continue
        matched = Decimal(str(seen["size_matched"]))
        if (order.status, order.size_matched) != (seen["status"], matched):
            problems.append(
                f"order {order.venue_order_id}: ours {order.status} {order.size_matched} "
                f"matched, venue {seen['status']} {matched} matched"
            )
    return problems


def event_log_continuous(ledger: Ledger, venue: VenueView | None = None) -> list[str]:
    problems = []
    expected = 1
    for event in ledger.events:
        if event.seq != expected:
            problems.append(f"seq {event.seq} where {expected} was expected")
        expected = event.seq + 1
    return problems + ledger.run_gaps


def event_log_complete(ledger: Ledger, venue: VenueView) -> list[str]:
    intents = {e.correlation_id for e in ledger.events if e.type == "intent_received"}
    flattens = {e.correlation_id for e in ledger.events if e.type in FLATTEN_DECISIONS}
    created = {str(e.payload.get("order_id")) for e in ledger.events if e.type == "order_created"}
    filled = {
        (str(e.payload.get("trade_id")), str(e.payload.get("order_id")))
        for e in ledger.events
        if e.type == "fill"
    }
    # a resolved market's settlement is a synthetic fill per token, explained by the market's
    # `market_settled` event (its payout vector names the tokens)
    filled |= {
        (f"settlement:{e.payload.get('market')}:{token}", SETTLEMENT)
        for e in ledger.events
        if e.type == "market_settled"
        for token in e.payload.get("payouts") or {}
    }
    # a merge is booked as one synthetic sell per side, explained by its `merge_confirmed`
    filled |= {
        (f"{e.payload.get('operation_id')}:{token}", MERGE)
        for e in ledger.events
        if e.type == "merge_confirmed"
        for token in e.payload.get("amounts") or {}
    }
    at_venue = {str(o["id"]) for o in venue.orders}
    problems = []
    for order in ledger.orders:
        if order.venue_order_id not in at_venue or order.client_order_id.startswith("adopted-"):
            continue  # never sent (nothing to explain), or adopted (no_duplicate_orders says so)
        if order.strategy == "kill":  # a flatten's sell: its decision is the recorded flatten
            if order.correlation_id not in flattens:
                problems.append(
                    f"flatten sell {order.venue_order_id} has no flatten_recorded event"
                )
        elif order.correlation_id not in intents:
            problems.append(f"order {order.venue_order_id} has no intent_received event")
        if order.venue_order_id not in created:
            problems.append(f"order {order.venue_order_id} has no order_created event")
    problems += [
        f"fill row {trade} of order {order_id} has no fill event"
        for trade, order_id in sorted(ledger.fills - filled)
    ]
    return problems


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime | None
    cause: str


def stopped_intervals(events: list[Event]) -> list[Interval]:
    """When trading was KILLED or HALTED, from the event log. A `startup` event says what
    state the app started in, which also closes or opens an interval whose event a crash
    may have kept from being written."""
    intervals: list[Interval] = []
    since: tuple[datetime, str] | None = None
    for event in events:
        stops, resumes = _transition(event)
        if stops and since is None:
            since = (event.ts, event.type)
        elif resumes and since is not None:
            intervals.append(Interval(since[0], event.ts, since[1]))
            since = None
    if since is not None:
        intervals.append(Interval(since[0], None, since[1]))
    return intervals


def _transition(event: Event) -> tuple[bool, bool]:
    """(this event stops trading, this event lets it trade again)"""
    if event.type in STOP_EVENTS:
        return True, False
    if event.type == "rearmed":
        return False, True
    if event.type == "trading_state_changed":
        return False, event.payload.get("to") not in STOPPED
    if event.type == "startup":
        stopped = event.payload.get("trading_state") in STOPPED
        return stopped, not stopped
    return False, False


def no_orders_while_stopped(ledger: Ledger, venue: VenueView | None = None) -> list[str]:
    intervals = stopped_intervals(ledger.events)
    decided: dict[str, list[datetime]] = {}
    for event in ledger.events:
        if event.type in ("intent_received", *MAKER_DECISIONS) and event.correlation_id:
            decided.setdefault(event.correlation_id, []).append(event.ts)
    problems = []
    for order in ledger.orders:
        if order.strategy == "kill":  # flatten exits are sent while KILLED on purpose
            continue
        times = [t for t in decided.get(order.correlation_id or "", []) if t <= order.created_at]
        at = max(times) if times else order.created_at
        for interval in intervals:
            if interval.start < at and (interval.end is None or at < interval.end):
                problems.append(
                    f"order {order.client_order_id} decided at {at:%H:%M:%S.%f} while "
                    f"stopped ({interval.cause} at {interval.start:%H:%M:%S.%f})"
                )
    return problems


def never_redeemed_twice(ledger: Ledger, venue: VenueView | None = None) -> list[str]:
    problems = []
    rows = [r for r in ledger.chain if r.requested_by != LEGACY]
    by_market: dict[str, list[ChainRow]] = {}
    for row in rows:
        by_market.setdefault(row.market, []).append(row)
    for market, mine in sorted(by_market.items()):
        redeems = [r for r in mine if r.kind == "redeem"]
        confirmed = [r for r in redeems if r.state == "confirmed"]
        if len(confirmed) > 1:
            problems.append(f"market {market[:12]} redeemed {len(confirmed)} times")
        if confirmed:
            after = [r for r in redeems if r.created_at > confirmed[0].created_at]
            if after:
                problems.append(f"market {market[:12]}: a redemption asked after it was redeemed")
        in_flight = [r for r in mine if r.state in ("requested", "sent")]
        if len(in_flight) > 1:
            problems.append(f"market {market[:12]}: {len(in_flight)} operations in flight at once")
    sent = Counter(r.tx_id for r in rows if r.tx_id)
    problems += [f"tx {tx[:16]} recorded {n} times" for tx, n in sorted(sent.items()) if n > 1]
    return problems


def cash_matches_payouts(ledger: Ledger, venue: VenueView | None = None) -> list[str]:
    problems = []
    settled: dict[str, Decimal] = {}
    for event in ledger.events:
        if event.type == "market_settled":
            settled[str(event.payload.get("market"))] = Decimal(
                str(event.payload.get("redeemable") or 0)
            )
    confirmed_events = {
        str(e.payload.get("operation_id")): e
        for e in ledger.events
        if e.type == "redemption_confirmed"
    }
    for row in ledger.chain:
        if row.kind != "redeem" or row.state != "confirmed" or row.requested_by == LEGACY:
            continue
        owed = settled.get(row.market)
        if owed is not None and row.payout != owed:
            problems.append(
                f"market {row.market[:12]} redeemed for {row.payout}, settled at {owed}"
            )
        event = confirmed_events.get(row.operation_id)
        if event is None:
            problems.append(f"redemption {row.operation_id} has no redemption_confirmed event")
        elif Decimal(str(event.payload.get("payout"))) != row.payout:
            problems.append(f"redemption {row.operation_id}: its event says another payout")
    problems += _moved_twice(ledger.events, settled)
    return problems


def _moved_twice(events: list[Event], settled: dict[str, Decimal]) -> list[str]:
    """Cash moved for one market's payout, per process run: never more than the payout (a
    restart may move it again: the first move died with the process if it was not
    remembered)."""
    problems = []
    moved: dict[tuple[str, str], Decimal] = {}
    for event in events:
        if event.type == "redemption_received":
            amount = event.payload.get("amount")
        elif event.type == "redemption_confirmed":
            amount = event.payload.get("cash_moved")
        else:
            continue
        market = str(event.payload.get("market"))
        key = (event.run_id, market)
        moved[key] = moved.get(key, Decimal(0)) + Decimal(str(amount or 0))
        owed = settled.get(market)
        if owed is not None and moved[key] > owed:
            problems.append(f"market {market[:12]}: {moved[key]} moved for a payout of {owed}")
    return problems


def no_orphan_maker_orders(ledger: Ledger, venue: VenueView) -> list[str]:
    starts = [e.ts for e in ledger.events if e.type == "startup"]
    if not starts:
        return []
    last_start = starts[-1]
    return [
        f"maker order {o.venue_order_id} from before the last start is still open at the venue"
        for o in ledger.orders
        if o.post_only and o.created_at < last_start and o.venue_order_id in venue.open_ids
    ]


CHECKS = {
    "no_duplicate_orders": no_duplicate_orders,
    "no_lost_fills": no_lost_fills,
    "positions_match": positions_match,
    "open_orders_match": open_orders_match,
    "closed_orders_match": closed_orders_match,
    "event_log_continuous": event_log_continuous,
    "event_log_complete": event_log_complete,
    "no_orders_while_stopped": no_orders_while_stopped,
    "never_redeemed_twice": never_redeemed_twice,
    "cash_matches_payouts": cash_matches_payouts,
    "no_orphan_maker_orders": no_orphan_maker_orders,
}


def check_all(ledger: Ledger, venue: VenueView) -> dict[str, list[str]]:
    return {name: check(ledger, venue) for name, check in CHECKS.items()}


def failures(results: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: problems for name, problems in results.items() if problems}


__all__ = [
    "CHECKS",
    "INVARIANTS",
    "ChainRow",
    "Event",
    "Interval",
    "Ledger",
    "OrderRecord",
    "VenueView",
    "cash_matches_payouts",
    "check_all",
    "failures",
    "never_redeemed_twice",
    "no_orphan_maker_orders",
    "read_ledger",
    "stopped_intervals",
    "venue_view",
    "with_run_gaps",
]
