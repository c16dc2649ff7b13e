"""trader.venue.polymarket."""
