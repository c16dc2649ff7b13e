"""trader.app."""
