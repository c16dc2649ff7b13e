"""trader.control."""
