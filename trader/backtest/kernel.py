"""The backtest kernel: the product's own parts on a simulated clock.

`run_backtest` builds, in a throwaway SQLite database migrated with the project's migrations,
what the app builds: the event log, the persisted control state, the paper venue (over
`ReplayMarketData` instead of the venue's market data), the execution core
(`build_execution`: risk, engine, portfolio, kill switch, halt, approvals, reconciler) and the
signal pipeline with its strategies and sizing (`backtest_pipeline`). It then moves a
`FakeClock` from `start` to `end` one cycle interval at a time, and at each step does what the
app's scheduler does: reconcile (which settles resolved markets first), refresh the markets,
run a signal cycle with the equity as bankroll, hand each intent to the execution core
(`handle`, as its intent consumer does) in the order the signal runtime publishes them
(`group_legs`), flush the write-behind queue and snapshot equity. Of the app's continuous
components only the fill consumer runs (a resting order's maker fill, made when a replayed book
moves through it, reaches the engine that way); the kernel lets the loop settle after each
publish. No strategy rests orders today (theirs are fill-and-kill, filled in the submit's
answer), so that maker path is not exercised by the backtest tests.

Stages: the backtest's own ControlState holds the stages. With `strategy` given, that strategy
runs whatever its stage (development is "backtest only") and every other strategy is set to
development, so only it trades; without, the stages in force are the configured ones and a
development-stage strategy places no order (the pipeline and risk refuse it, as in paper mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import httpx
from sqlalchemy import event

from trader.backtest.feed import FillModel, ReplayMarketData
from trader.backtest.history import History
from trader.backtest.results import BacktestRun, CycleSample, ForecastSample
from trader.backtest.signals import (
    CutoffAnalyser,
    LLMBacktestConfig,
    RecordedForecast,
    ReplayForecasts,
    ReplayNews,
    backtest_pipeline,
    load_recorded_forecasts,
)
from trader.bus import Bus
from trader.clock import FakeClock, SystemClock
from trader.control.types import ExecutionResult
from trader.domain import TradingMode
from trader.execution.runtime import ExecutionConfig, ExecutionCore, build_execution
from trader.signals.pipeline import CycleResult, SelectionConfig
from trader.signals.records import InMemoryForecastRecorder, InMemoryUsageRecorder
from trader.signals.retrieval.assembly import build_retriever
from trader.signals.retrieval.retriever import Retriever
from trader.signals.retrieval.settings import SearchSettings
from trader.signals.runtime import SignalRuntimeConfig, group_legs
from trader.signals.sizing import SizingConfig
from trader.signals.values import Forecast
from trader.stages import Stage, StageBook
from trader.state import ControlState, RiskLimits
from trader.store.db import create_engine, session_factory
from trader.store.eventlog import EventLog
from trader.store.migrate import upgrade_async
from trader.store.repositories import ControlStateRepository
from trader.venue.paper.journal import DatabaseFillJournal
from trader.venue.paper.venue import PaperVenue

ForecastMode = Literal["heuristic", "replay", "llm"]
ACTOR = "system:backtest"
SETTLE_STEPS = 8  # loop turns after each book publish: enough for watcher, venue and consumer


class BacktestError(ValueError):
    """A backtest that cannot run as asked; the text says why."""


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    start: datetime
    end: datetime
    bankroll: Decimal = Decimal(1_000)
    cycle_s: int = 1800  # the app's SIGNAL_CYCLE_S
    strategy: str | None = None
    forecasts: ForecastMode = "heuristic"
    forecast_database: str | None = None  # replay: the database the live bot recorded into
    recording: Path | None = None  # replay: or the recorder's directory (RECORDER_DIR)
    llm: LLMBacktestConfig | None = None  # llm: the model and its training cut-off
    fill_model: FillModel = field(default_factory=FillModel)
    signals: SignalRuntimeConfig = field(default_factory=SignalRuntimeConfig)
    limits: RiskLimits = field(default_factory=RiskLimits)
    stages: StageBook = field(default_factory=StageBook.defaults)

    def problems(self) -> list[str]:
        found = []
        if self.start.tzinfo is None or self.end.tzinfo is None:
            found.append("--from/--to: times must be timezone-aware UTC")
        elif self.end <= self.start:
            found.append("--to: must be after --from")
        if self.bankroll <= 0:
            found.append("--bankroll: must be positive")
        if self.forecasts == "replay" and not (self.forecast_database or self.recording):
            found.append(
                "--forecast-db: replay needs the database (or --recorded, the recording) the"
                " forecasts were recorded in"
            )
        if self.forecasts == "llm" and self.llm is None:
            found.append("--forecasts llm: needs ANTHROPIC_API_KEY and LLM_TRAINING_CUTOFF")
        if self.strategy is not None and self.stages.stage_of(self.strategy) is None:
            known = ", ".join(self.stages.names)
            found.append(f"--strategy: unknown strategy {self.strategy!r} (known: {known})")
        return found


Progress = Callable[[int, int], None]  # (cycles done, cycles in all), after each cycle


async def run_backtest(
    history: History, config: BacktestConfig, progress: Progress | None = None
) -> BacktestRun:
    problems = config.problems()
    if problems:
        raise BacktestError("; ".join(problems))
    recorded = None
    if config.forecasts == "replay" and config.forecast_database:
        markets = [m.market for m in history.markets]
        recorded = ReplayForecasts(await load_recorded_forecasts(config.forecast_database, markets))
    elif config.forecasts == "replay" and config.recording is not None:
        recorded = ReplayForecasts(await asyncio.to_thread(_recorded, config.recording, config))
    with tempfile.TemporaryDirectory(prefix="polyops-backtest-") as tmp:
        return await _run(history, config, Path(tmp), recorded, progress)


def _quiet(done: int, total: int) -> None:
    """No one follows this run's progress."""


def cycle_count(config: BacktestConfig) -> int:
    """How many cycles the window holds: both ends are cycles."""
    return int((config.end - config.start).total_seconds() // config.cycle_s) + 1


async def _run(
    history: History,
    config: BacktestConfig,
    tmp: Path,
    recorded: ReplayForecasts | None,
    progress: Progress | None,
) -> BacktestRun:
    url = f"sqlite+aiosqlite:///{tmp / 'backtest.db'}"
    await upgrade_async(url)
    engine = create_engine(url)
    # A throwaway database: durability buys nothing here, and fsyncs cost most of the time.
    event.listen(engine.sync_engine, "connect", _no_fsync)
    clock = FakeClock(config.start)
    sessions = session_factory(engine)
    events = EventLog(sessions, clock=clock, spill_path=tmp / "spill.jsonl")
    source = ReplayMarketData(history, clock, config.fill_model)
    venue = PaperVenue(
        source, bankroll=config.bankroll, clock=clock, journal=DatabaseFillJournal(sessions, clock)
    )
    execution: ExecutionCore | None = None
    fills: asyncio.Task[None] | None = None
    closing: list[Callable[[], Awaitable[None]]] = []
    try:
        await events.start()
        state = ControlState(
            ControlStateRepository(sessions, clock=clock),
            clock,
            risk_defaults=config.limits,
            stage_defaults=config.stages,
        )
        await state.load()
        await _stage_for(state, config.strategy)
        await venue.start()
        bus = Bus()
        execution = build_execution(
            config=ExecutionConfig(zone=config.signals.zone, mode=TradingMode.PAPER),
            sessions=sessions,
            events=events,
            bus=bus,
            venue=venue,
            clock=clock,
            state=state,
            durable=events.flush,
        )
        await execution.start()
        consume_fills = execution.components()["execution.fills"]

        async def consume() -> None:
            await consume_fills()

        fills = asyncio.create_task(consume(), name="backtest-fills")
        sig = config.signals
        collector = InMemoryForecastRecorder()
        model = retriever = None
        if config.forecasts == "llm" and config.llm is not None:
            model, client = _model(config.llm, history, clock)
            closing.append(client.close)
            retriever = _retriever(sig.search, model, closing)
        pipeline = backtest_pipeline(
            books=venue.get_book,
            clock=clock,
            news=ReplayNews(history, clock, sig.news_window),
            forecasts=recorded,
            sizing=SizingConfig(
                kelly_fraction=sig.kelly_fraction,
                max_notional=sig.max_order_notional,
                min_edge=sig.min_edge if sig.min_edge > 0 else SizingConfig().min_edge,
            ),
            selection=SelectionConfig(
                sig.min_volume, sig.min_liquidity, max_markets=sig.max_markets
            ),
            recorder=collector,
            holdings=execution.holdings,
            stages=lambda: state.stages,
            require_news=bool(history.news),
            samples=sig.ensemble_samples,
            llm=model,
            retriever=retriever,
        )
        run = BacktestRun(config=config, fill_model=config.fill_model.describe())
        step = timedelta(seconds=config.cycle_s)
        now, total = config.start, cycle_count(config)
        report = progress or _quiet
        while now <= config.end:
            clock.set(now)
            source.publish_books()  # the replay's socket: resting paper orders see the move
            for _ in range(SETTLE_STEPS):  # watchers -> paper fills -> the engine's consumer
                await asyncio.sleep(0)
            await execution.reconcile("periodic")  # settles resolved markets first
            if execution.redemption is not None:  # then redeems them, as the app's job does
                await execution.redemption.run_once()
            markets = list(await venue.list_markets())
            execution.board.set_markets(markets)
            result = await pipeline.run_cycle(
                markets, bankroll=execution.equity(), mode=TradingMode.PAPER
            )
            run.cycles.append(await _execute(execution, result, now))
            run.forecasts.extend(_forecasts(collector))
            run.evaluations += result.report.selected
            report(len(run.cycles), total)
            now += step
        run.fills = list(await venue.trades())
        run.realizations = execution.realizations()
        run.win_rate = execution.win_rate()
        run.resolutions = {
            m.market.condition_id: dict(m.payouts)
            for m in history.markets
            if m.payouts is not None and m.resolved_by(config.end)
        }
        run.markets = {m.market.condition_id: m.market for m in history.markets}
        if model is not None:
            run.notes.append(model.describe())
        return run
    finally:
        for close in closing:
            await close()
        if fills is not None:
            fills.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fills
        if execution is not None:
            await execution.close()
        await venue.close()
        source.close()
        await events.close()
        await engine.dispose()


async def _execute(execution: ExecutionCore, result: CycleResult, now: datetime) -> CycleSample:
    """Hand the cycle's intents to the execution core, flush, snapshot: the cycle's sample."""
    outcomes: list[ExecutionResult] = []
    for group in result.groups:
        for intent in group_legs(group):
            outcomes.append(await execution.handle(intent))
    await execution.flush()
    await execution.accounts.snapshot()
    summary = execution.summary()
    return CycleSample(
        at=now,
        equity=summary.equity,
        cash=summary.cash,
        exposure=summary.exposure,
        open_positions=summary.open_positions,
        evaluated=result.report.selected,
        intents=len(outcomes),
        placed=sum(1 for o in outcomes if o.ok),
        denied=tuple(sorted(o.rule or o.outcome.value for o in outcomes if not o.ok)),
    )


def _model(
    llm: LLMBacktestConfig, history: History, clock: FakeClock
) -> tuple[CutoffAnalyser, Any]:
    """The app's own LLM analyser (no daily budget: the operator chose to spend on this run),
    behind the training cut-off; and its SDK client, which the caller closes."""
    from trader.signals.llm import LLMAnalyser, LLMConfig, make_client

    client = make_client(
        llm.api_key.get_secret_value(), base_url=llm.base_url, timeout=llm.timeout_s
    )
    analyser = LLMAnalyser(
        client,
        recorder=InMemoryUsageRecorder(),
        clock=clock,
        config=LLMConfig(
            analysis_model=llm.analysis_model,
            triage_model=llm.triage_model,
            timeout=llm.timeout_s,
            concurrency=llm.concurrency,
        ),
    )
    opened = {m.market.condition_id: m.opened_at for m in history.markets}
    return CutoffAnalyser(analyser, opened, llm.training_cutoff), client


def _retriever(
    search: SearchSettings, model: CutoffAnalyser, closing: list[Callable[[], Awaitable[None]]]
) -> Retriever | None:
    """The app's news search for `llm` mode (RETRIEVAL_* settings), with undated items off:
    a backtest never uses an article it cannot date before its simulated now. GDELT's pacing
    runs on the real clock (the simulated one does not hold a request back)."""
    if not search.enabled:
        return None
    http = httpx.AsyncClient(timeout=15)
    closing.append(http.aclose)
    dated_only = replace(search, retrieval=replace(search.retrieval, undated=False))
    return build_retriever(dated_only, http=http, clock=SystemClock(), writer=model)


def _recorded(root: Path, config: BacktestConfig) -> dict[str, list[RecordedForecast]]:
    """Every forecast recorded up to the end (the latest before each cycle is replayed)."""
    from trader.backtest.recorded import load_recording, recorded_forecasts

    return recorded_forecasts(load_recording(root, config.start, config.end))


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


async def _stage_for(state: ControlState, strategy: str | None) -> None:
    """Only `strategy` trades, whatever its stage (development is "backtest only")."""
    if strategy is None:
        return
    for name in state.stages.names:
        wanted = Stage.PAPER if name == strategy else Stage.DEVELOPMENT
        if state.stages.stage_of(name) is not wanted:
            await state.set_stage(name, wanted, ACTOR)


def _forecasts(collector: InMemoryForecastRecorder) -> Sequence[ForecastSample]:
    records, collector.records = collector.records, []
    return [
        ForecastSample(
            at=r.timestamp,
            market=r.forecast.market,
            model=_own(r.forecast),
            market_price=r.forecast.market_probability,
            source=str(r.forecast.source),
            decision=r.decision,
            blend=r.forecast.model_probability,
        )
        for r in records
    ]


def _own(forecast: Forecast) -> Decimal:
    """The model's probability before the blend with the market: calibrated when it was."""
    return forecast.calibrated if forecast.calibrated is not None else forecast.aggregate
