"""trader.ops."""
