"""Backtests: the real signal pipeline, risk and execution core and paper venue, on a simulated
clock, fed by a recorded or synthetic history (`history`), served by a replay market-data source
(`feed`), driven by the kernel (`kernel`), summarised for people (`results`, `chart`).

Nothing in `trader.signals` or `trader.execution` knows it runs in a backtest: they are handed a
`FakeClock` that the kernel advances and a `PaperVenue` over `ReplayMarketData`.
"""
