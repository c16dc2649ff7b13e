"""One chaos run: the simulator and the app in live mode (the real SDK, a random key), trials of
faults, database locks, operator kills and SIGKILLs, and the invariants after every restart.

A trial: start the app on the database the last trial left behind (it restores and
reconciles); check the invariants against the venue (that is the verdict on the previous
trial's crash); re-arm over Telegram if trading was left KILLED or HALTED; then for a few
seconds of signal cycles (one a second) inject faults, maybe lock the database for longer
than its busy timeout, maybe /kill over Telegram (cancel only, or cancel and flatten), and
SIGKILL the app at a random moment: right after an order reached the venue, inside a cycle,
or at any time. After the last trial the app starts once more, is checked, and stops
gracefully.

The SIGKILL waits (a bounded time) until every fault of the trial has hit something, the
database lock is released and the app seen alive after it, and, in most trials with an
unknown-outcome fault, until the app has outlived the submit timeout and looked the order
up: the run counts what it exercised, not what it asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from chaos import faults
from chaos.invariants import (
    INVARIANTS,
    Ledger,
    check_all,
    failures,
    read_ledger,
    venue_view,
    with_run_gaps,
)
from chaos.world import (
    HEADLINES,
    MAKER,
    OPERATOR,
    SCENARIO,
    app_environment,
    configure_operator,
)
from tests.support.processes import (
    AppSettings,
    Child,
    NewsFeed,
    Processes,
    Simulator,
    address_of,
    migrate,
    setup_wallet,
    start_app,
    start_simulator,
)
from tests.support.telegram_server import FakeBotAPI, Sent
from trader.store.db import SQLITE_BUSY_TIMEOUT_MS, create_engine, session_factory

KILL_POINTS = ("after_order", "in_cycle", "any_time")
STOPPED = ("KILLED", "HALTED")
LOCKED = b"database is locked"  # what the app logs when a write waited out the busy timeout
BUSY_TIMEOUT_S = SQLITE_BUSY_TIMEOUT_MS / 1000


@dataclass(frozen=True)
class ChaosConfig:
    trials: int = 10
    seed: int = 1
    phase_s: tuple[float, float] = (4.0, 9.0)  # chaos before the SIGKILL, per trial
    faults_per_trial: tuple[int, int] = (1, 3)
    lock_chance: float = 0.5  # of holding the database's write lock in a trial ...
    lock_s: tuple[float, float] = (BUSY_TIMEOUT_S + 1.5, BUSY_TIMEOUT_S + 4.0)  # ... this long
    kill_chance: float = 0.4  # of an operator /kill (and a /rearm at the next start)
    flatten_share: float = 0.6  # of those kills, the share that also flatten
    outlive_chance: float = 0.75  # of waiting out an unknown outcome before the SIGKILL
    hit_wait_s: float = 20.0  # how long the SIGKILL waits for the trial's faults to hit
    check_s: float = 45.0  # how long the database may take to agree with the venue
    chat_s: float = 30.0  # how long a chat reply may take
    # held markets resolved during the run, at evenly spaced trials: YES, then 50/50 (the
    # redemption invariants then have something to check)
    resolutions: tuple[str, ...] = ("Yes", "50/50")
    # True: the simulator pays a resolved market out at once. False (the default): the market
    # stays redeemable at the simulator until the app redeems it through the SDK and the
    # simulator's relayer (ChainOps in PolymarketVenue), as on the real venue
    sim_pays_out: bool = False
    # every n-th trial (trials n, 2n, ...) the app makes its entries maker orders (chaos/world.py
    # MAKER: post-only, repriced every second); 0: never
    maker_every: int = 2


@dataclass
class TrialRecord:
    number: int
    faults: list[str] = field(default_factory=list)
    fault_rules: dict[int, str] = field(default_factory=dict)  # simulator rule id -> kind
    sigkills: int = 0
    db_locks: int = 0
    db_lock_hits: int = 0  # app writes that waited out the busy timeout during a lock
    db_locks_survived: int = 0  # locks after which the app was still up
    operator_kills: int = 0
    flatten_kills: int = 0  # of the operator kills, those that flattened
    resolved: int = 0  # held markets resolved during the trial
    outlived: int = 0  # unknown outcomes the app lived to see (past the submit timeout)
    resolved_alive: int = 0  # of those, the ones it looked up before its SIGKILL
    rearms: int = 0
    kill_point: str = ""
    maker: bool = False  # the app made its entries maker orders in this trial
    price_moves: int = 0
    startup_s: float = 0.0
    seconds: float = 0.0
    invariants: dict[str, list[str]] = field(default_factory=dict)  # after its restart
    notes: list[str] = field(default_factory=list)


@dataclass
class Telegram:
    """The operator's phone: commands and button taps through the fake Bot API."""

    api: FakeBotAPI
    wait_s: float

    def _mine(self) -> list[Sent]:
        return self.api.to(OPERATOR)

    async def _expect(self, text: str, after: int, edited: Sent | None = None) -> Sent:
        deadline = time.monotonic() + self.wait_s
        while time.monotonic() < deadline:
            for message in [*self._mine()[after:], *([edited] if edited else [])]:
                if text in message.plain:
                    return message
            await asyncio.sleep(0.1)
        raise TimeoutError(f"no chat message with {text!r} within {self.wait_s}s")

    async def command(self, text: str, expect: str) -> Sent:
        mark = len(self._mine())
        self.api.send_text(OPERATOR, text)
        return await self._expect(expect, mark)

    async def tap(self, message: Sent, label: str, expect: str) -> Sent:
        mark = len(self._mine())
        data = next(d for text, d in message.buttons if label in text)
        self.api.press(OPERATOR, message, data)
        return await self._expect(expect, mark, edited=message)

    async def kill(self, *, flatten: bool = False) -> None:
        prompt = await self.command("/kill chaos", "Kill switch")
        if not flatten:
            await self.tap(prompt, "Cancel orders and halt", "🛑 Trading KILLED")
            return
        preview = await self.tap(prompt, "Cancel, flatten and halt", "Flatten preview")
        await self.tap(preview, "Confirm: cancel, flatten and halt", "🛑 Trading KILLED")

    async def rearm(self) -> None:
        prompt = await self.command("/rearm", "Re-arm trading?")
        await self.tap(prompt, "Re-arm", "Re-armed: trading RUNNING")


def trading_state(database: Path) -> str:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
        row = db.execute("SELECT value FROM control_state WHERE key = 'trading_state'").fetchone()
    if row is None:
        return "RUNNING"
    return str(json.loads(row[0]).get("state", "RUNNING"))


def lock_database(database: Path, seconds: float) -> None:
    """Hold a write transaction from another connection: the app's writers must wait, and
    for longer than their busy timeout they get `database is locked`."""
    with closing(sqlite3.connect(database, timeout=30, isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        db.execute("COMMIT")


class ChaosRun:
    def __init__(
        self,
        config: ChaosConfig,
        processes: Processes,
        sim: Simulator,
        settings: AppSettings,
        chat: Telegram,
        address: str | None = None,
    ) -> None:
        self.config = config
        self.processes = processes
        self.sim = sim
        self.settings = settings
        self.chat = chat
        # the venue account: the deposit wallet `trader setup` deployed, else the key's address
        self.address = address or address_of(settings.live_key or "")
        self.rng = random.Random(config.seed)  # noqa: S311 - replayable chaos, not cryptography
        # the market's moves draw from their own generator: how many there are depends on
        # timing, and the plan (faults, locks, kills) must not
        self.moves = random.Random(config.seed + 1)  # noqa: S311
        self.resolving = random.Random(config.seed + 2)  # noqa: S311 - when markets resolve
        self.markets: list[str] = []
        self.deck = faults.FaultDeck(self.rng)
        self.engine = create_engine(settings.database_url)
        self.sessions = session_factory(self.engine)

    # checks -----------------------------------------------------------------------------

    async def check(self) -> dict[str, list[str]]:
        """Poll until every invariant holds on a stable snapshot (the venue read before and
        after the database shows the same orders and trades), or the deadline passes: then
        the last problems found."""
        deadline = time.monotonic() + self.config.check_s
        results: dict[str, list[str]] = {name: ["never checked"] for name in INVARIANTS}
        while time.monotonic() < deadline:
            before = venue_view(await self.sim.state(), self.address)
            ledger = await self.ledger()
            after = venue_view(await self.sim.state(), self.address)
            if (before.orders, before.trade_legs) != (after.orders, after.trade_legs):
                await asyncio.sleep(0.1)
                continue
            results = check_all(ledger, after)
            if not failures(results):
                return results
            await asyncio.sleep(0.25)
        return results

    async def ledger(self) -> Ledger:
        """The database's tables and the store's own continuity check on its event log."""
        ledger = await asyncio.to_thread(read_ledger, self.settings.database)
        return await with_run_gaps(ledger, self.sessions)

    # one trial ----------------------------------------------------------------------------

    async def start(self, record: TrialRecord) -> Child:
        started = time.monotonic()
        every = self.config.maker_every
        record.maker = bool(every) and record.number > 0 and record.number % every == 0
        extra = {**self.settings.extra, **(MAKER if record.maker else {})}
        app = await start_app(self.processes, dataclasses.replace(self.settings, extra=extra))
        record.startup_s = round(time.monotonic() - started, 2)
        return app

    async def trial(self, number: int, previous: TrialRecord | None) -> TrialRecord:
        record = TrialRecord(number)
        begun = time.monotonic()
        app = await self.start(record)
        try:
            checked = await self.check()
            if previous is not None:
                previous.invariants = checked
            if trading_state(self.settings.database) in STOPPED:
                await self._rearm(record)
            await self.phase(record, app)
        finally:
            await app.kill()
            await self.sim.clear_faults()
        record.seconds = round(time.monotonic() - begun, 2)
        return record

    async def finish(self, previous: TrialRecord | None) -> TrialRecord:
        """The last restart: check, then a graceful stop, then the database-only checks."""
        record = TrialRecord(0)
        app = await self.start(record)
        try:
            checked = await self.check()
            if previous is not None:
                previous.invariants = checked
        finally:
            code = await app.stop()
        if code != 0:
            record.notes.append(f"graceful stop exited {code}")
        ledger = await self.ledger()
        record.invariants = {
            name: problems
            for name, problems in check_all(
                ledger, venue_view(await self.sim.state(), self.address)
            ).items()
            if name in ("event_log_continuous", "event_log_complete", "no_orders_while_stopped")
        }
        return record

    async def _rearm(self, record: TrialRecord) -> None:
        """/rearm and its button; then wait until the re-arm's event is in the database, so
        that the SIGKILL to come cannot lose it (the state row is written before the event)."""
        mark = await self._last_seq()
        try:
            await self.chat.rearm()
        except TimeoutError as error:
            record.notes.append(f"re-arm: {error}")
            return
        record.rearms += 1
        deadline = time.monotonic() + self.config.chat_s
        while time.monotonic() < deadline:
            ledger = await asyncio.to_thread(read_ledger, self.settings.database)
            if any(e.type == "rearmed" and e.seq > mark for e in ledger.events):
                return
            await asyncio.sleep(0.1)
        record.notes.append("re-arm: the event never reached the event log")

    async def _last_seq(self) -> int:
        ledger = await asyncio.to_thread(read_ledger, self.settings.database)
        return ledger.events[-1].seq if ledger.events else 0

    # the chaos phase --------------------------------------------------------------------

    async def phase(self, record: TrialRecord, app: Child) -> None:
        """Faults, a lock and a /kill at random times, then the SIGKILL: no earlier than
        `armed` seconds (a random share of the phase), everything else before that."""
        rng, config = self.rng, self.config
        duration = rng.uniform(*config.phase_s)
        armed = rng.uniform(0.5, 1.0) * duration
        record.kill_point = rng.choice(KILL_POINTS)
        mark = await self._last_seq()
        actions: list[tuple[float, Callable[[], Awaitable[None]]]] = []
        drawn = self.deck.draw(self.markets, rng.randint(*config.faults_per_trial))
        for kind, rule in drawn:
            actions.append((rng.uniform(0, armed * 0.8), self._fault(record, kind, rule)))
        outlive = any(kind in faults.UNKNOWN_OUTCOME for kind, _ in drawn) and (
            rng.random() < config.outlive_chance
        )
        lock: asyncio.Task[None] | None = None
        if rng.random() < config.lock_chance:
            hold = rng.uniform(*config.lock_s)
            at = rng.uniform(0, armed * 0.8)
            lock = asyncio.create_task(self._later(at, self._lock(record, app, hold)))
        outcome = self._resolution_due(record.number)
        if outcome is not None:
            when = self.resolving.uniform(0, armed * 0.6)
            actions.append((when, self._resolve(record, outcome)))
        tasks = [asyncio.create_task(self._later(at, action)) for at, action in actions]
        injected = list(tasks)
        tasks.append(asyncio.create_task(self._move_prices(record)))
        if lock is not None:
            tasks.append(lock)
        operator: asyncio.Task[None] | None = None
        if rng.random() < config.kill_chance:
            kill = self._operator_kill(record, flatten=rng.random() < config.flatten_share)
            operator = asyncio.create_task(self._later(rng.uniform(0, armed * 0.5), kill))
            tasks.append(operator)
        try:
            await asyncio.sleep(armed)
            await self._exercised(record, injected, lock, outlive, mark)
            await self._kill_moment(record.kill_point, duration - armed)
            if operator is not None:  # let a /kill in progress finish: the next trial re-arms
                await asyncio.wait([operator], timeout=self.config.chat_s)
            await app.kill()
            record.sigkills += 1
        finally:
            for task in tasks:
                task.cancel()
            for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(outcome, Exception):
                    record.notes.append(f"{type(outcome).__name__}: {outcome}")

    @staticmethod
    async def _later(delay: float, action: Callable[[], Awaitable[None]]) -> None:
        await asyncio.sleep(delay)
        await action()

    async def _exercised(
        self,
        record: TrialRecord,
        injected: list[asyncio.Task[None]],
        lock: asyncio.Task[None] | None,
        outlive: bool,
        mark: int,
    ) -> None:
        """Wait (at most `hit_wait_s`) until what the trial set up has happened: every fault
        injected and hit, the lock held and let go with the app alive after it, and with
        `outlive`, every unknown outcome of the trial looked up (its order no longer
        SUBMITTED). Whatever is still pending then is left to the SIGKILL and the restart."""
        deadline = time.monotonic() + self.config.hit_wait_s
        waits = [*injected, *([lock] if lock is not None else [])]
        if waits:
            await asyncio.wait(waits, timeout=max(deadline - time.monotonic(), 0.1))
        unknown = {i for i, kind in record.fault_rules.items() if kind in faults.UNKNOWN_OUTCOME}
        hit: set[int] = set()
        while time.monotonic() < deadline:
            hit = {int(h["rule_id"]) for h in (await self.sim.state())["fault_hits"]}
            pending = set(record.fault_rules) - hit
            if outlive and unknown and not (unknown - hit):
                seen, settled = await self._unknown_settled(mark)
                record.outlived, record.resolved_alive = seen, settled
                if seen >= len(unknown) and settled >= seen:
                    unknown = set()
            if not pending and not (outlive and unknown):
                return
            await asyncio.sleep(0.2)
        record.notes.append(
            "faults that had not hit by the SIGKILL: "
            + ", ".join(sorted(record.fault_rules[i] for i in set(record.fault_rules) - hit))
            if set(record.fault_rules) - hit
            else "an unknown outcome was still unresolved at the SIGKILL"
        )

    async def _unknown_settled(self, mark: int) -> tuple[int, int]:
        """(outcomes unknown since event `mark`, how many of their orders are no longer
        SUBMITTED: looked up and resolved)."""
        ledger = await asyncio.to_thread(read_ledger, self.settings.database)
        unknown = [
            str(e.payload.get("order_id"))
            for e in ledger.events
            if e.type == "submit_unknown" and e.seq > mark
        ]
        status = {o.venue_order_id: o.status for o in ledger.orders}
        return len(unknown), sum(1 for order_id in unknown if status.get(order_id) != "SUBMITTED")

    async def _move_prices(self, record: TrialRecord) -> None:
        """The market moving: a random market's price jumps about once a second, so the
        strategies keep finding something to trade while the faults land."""
        rng = self.moves
        while True:
            await asyncio.sleep(rng.uniform(0.5, 1.5))
            await self.sim.price(rng.choice(self.markets), f"{rng.uniform(0.2, 0.8):.2f}")
            record.price_moves += 1

    def _resolution_due(self, number: int) -> str | None:
        """The outcome a held market resolves to in trial `number`, if one is due."""
        planned = self.config.resolutions
        trials = self.config.trials
        due = {
            max(1, round(trials * (i + 1) / (len(planned) + 1))): o for i, o in enumerate(planned)
        }
        return due.get(number)

    def _resolve(self, record: TrialRecord, outcome: str) -> Callable[[], Awaitable[None]]:
        async def resolve() -> None:
            ledger = await asyncio.to_thread(read_ledger, self.settings.database)
            state = await self.sim.state()
            held = [
                (sum(ledger.positions.get(t, Decimal(0)) for t in m["token_ids"]), m)
                for m in state["markets"]
                if not m["closed"] and m["condition_id"] in self.markets
            ]
            held = [(size, m) for size, m in held if size > 0]
            if not held:
                record.notes.append("resolution: nothing held to resolve")
                return
            _, market = max(held, key=lambda item: item[0])
            condition = str(market["condition_id"])
            body = {"condition_id": condition, "outcome": outcome}
            if not self.config.sim_pays_out:
                body["redeem"] = False
            await self.sim.admin("resolve", body)
            self.markets.remove(condition)  # no more price moves or faults there
            record.resolved += 1

        return resolve

    def _fault(
        self, record: TrialRecord, kind: str, rule: faults.Rule
    ) -> Callable[[], Awaitable[None]]:
        async def inject() -> None:
            answer = await self.sim.faults(rule)
            record.faults.append(kind)
            for added in answer["added"]:
                record.fault_rules[int(added["id"])] = kind

        return inject

    def _lock(
        self, record: TrialRecord, app: Child, seconds: float
    ) -> Callable[[], Awaitable[None]]:
        async def hold() -> None:
            record.db_locks += 1
            seen = app.log.stat().st_size
            await asyncio.to_thread(lock_database, self.settings.database, seconds)
            await asyncio.sleep(2.0)  # the app's writers retry; it must still be up after
            if app.running:
                record.db_locks_survived += 1
            with app.log.open("rb") as log:
                log.seek(seen)
                record.db_lock_hits += log.read().count(LOCKED)

        return hold

    def _operator_kill(
        self, record: TrialRecord, *, flatten: bool
    ) -> Callable[[], Awaitable[None]]:
        async def kill() -> None:
            await self.chat.kill(flatten=flatten)
            record.operator_kills += 1  # counted once confirmed: a SIGKILL may come first
            record.flatten_kills += flatten

        return kill

    async def _kill_moment(self, point: str, within: float) -> None:
        """Return at the moment to SIGKILL: right after the next order reaches the venue,
        inside the next signal cycle, or at once; never much later than `within` seconds."""
        if point == "any_time":
            return
        deadline = time.monotonic() + max(within, 1.0)
        baseline = await self._marker(point)
        while time.monotonic() < deadline:
            if await self._marker(point) != baseline:  # timing-dependent: not the plan's rng
                await asyncio.sleep(self.moves.uniform(0, 0.05))
                return
            await asyncio.sleep(0.02)

    async def _marker(self, point: str) -> int:
        if point == "after_order":
            return len(venue_view(await self.sim.state(), self.address).orders)
        ledger = await asyncio.to_thread(read_ledger, self.settings.database)
        return sum(1 for e in ledger.events if e.type == "signal_cycle_started")


@dataclass
class ChaosResult:
    config: ChaosConfig
    trials: list[TrialRecord]
    final: TrialRecord
    totals: dict[str, Any]
    workdir: Path
    hits: dict[str, faults.HitCount] = field(default_factory=dict)  # per fault kind


async def run_chaos(config: ChaosConfig, workdir: Path) -> ChaosResult:
    processes = Processes(workdir)
    api = await FakeBotAPI().start()
    feed = await NewsFeed(list(HEADLINES)).start()
    sim: Simulator | None = None
    run: ChaosRun | None = None
    try:
        sim = await start_simulator(processes, SCENARIO, seed=config.seed)
        settings = app_environment(workdir, sim.url, config.seed, api, feed.url)
        await migrate(processes, settings)
        wallet = await setup_wallet(processes, sim, settings)  # a new account's deposit wallet
        await configure_operator(settings.database_url)
        run = ChaosRun(config, processes, sim, settings, Telegram(api, config.chat_s), wallet)
        run.markets = [m["condition_id"] for m in (await sim.state())["markets"]]
        records: list[TrialRecord] = []
        for number in range(1, config.trials + 1):
            records.append(await run.trial(number, records[-1] if records else None))
        final = await run.finish(records[-1] if records else None)
        totals = await _totals(run, records)
        injected = {i: kind for r in records for i, kind in r.fault_rules.items()}
        hits = faults.hit_counts(injected, (await sim.state())["fault_hits"])
    finally:
        if run is not None:
            await run.engine.dispose()
        await processes.close()
        if sim is not None:
            with contextlib.suppress(Exception):  # the run's outcome matters more
                await sim.close()
        await feed.close()
        await api.stop()
    return ChaosResult(config, records, final, totals, workdir, hits)


async def _totals(run: ChaosRun, records: list[TrialRecord]) -> dict[str, Any]:
    ledger = await asyncio.to_thread(read_ledger, run.settings.database)
    venue = venue_view(await run.sim.state(), run.address)
    unknown = [str(e.payload.get("order_id")) for e in ledger.events if e.type == "submit_unknown"]
    status = {o.venue_order_id: o.status for o in ledger.orders}
    sent = {str(o["id"]) for o in venue.orders}
    return {
        "orders": len(venue.orders),
        "fills": len(venue.trade_legs),
        "events": len(ledger.events),
        "auto_halts": sum(1 for e in ledger.events if e.type == "auto_halt"),
        "unknown_outcomes": len(unknown),
        "unknown_outcomes_resolved": sum(1 for o in unknown if status.get(o) != "SUBMITTED"),
        "flatten_kills_logged": sum(
            1 for e in ledger.events if e.type == "kill" and e.payload.get("flatten")
        ),
        "flatten_sells": sum(1 for o in ledger.orders if o.strategy == "kill"),
        "venue_errors": sum(1 for e in ledger.events if e.type == "venue_error"),
        "reconcile_corrections": sum(1 for e in ledger.events if e.type == "reconcile_correction"),
        "markets_resolved": sum(r.resolved for r in records),
        "markets_settled": sum(1 for e in ledger.events if e.type == "market_settled"),
        "redemptions_confirmed": sum(
            1 for r in ledger.chain if r.kind == "redeem" and r.state == "confirmed"
        ),
        "payouts_seen_in_cash": sum(1 for e in ledger.events if e.type == "redemption_received"),
        "merges_confirmed": sum(
            1 for r in ledger.chain if r.kind == "merge" and r.state == "confirmed"
        ),
        "maker_orders": sum(1 for o in ledger.orders if o.post_only and o.venue_order_id in sent),
        "maker_reprices": sum(1 for e in ledger.events if e.type == "maker_repriced"),
        "maker_lapses": sum(1 for e in ledger.events if e.type == "maker_lapsed"),
        "maker_takes": sum(1 for e in ledger.events if e.type == "maker_taking"),
        "maker_orphans_canceled": sum(
            len(e.payload.get("canceled") or ())
            for e in ledger.events
            if e.type == "maker_orphans_canceled"
        ),
    }


__all__ = [
    "BUSY_TIMEOUT_S",
    "KILL_POINTS",
    "ChaosConfig",
    "ChaosResult",
    "ChaosRun",
    "TrialRecord",
    "run_chaos",
]
