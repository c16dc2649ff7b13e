"""The recorder: what the running app saw, kept as Parquet partitioned by day.

`rows` turns domain values into flat rows (the columns are stated there), `recorder` is the
app's side (bounded, never blocking, change-detecting for books), `store` writes and reads the
files (pyarrow, imported only when a file is written or read) and deletes partitions past the
retention. `trader.backtest.recorded` reads a recording back into a backtest history.
"""
