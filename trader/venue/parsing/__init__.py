"""trader.venue.parsing."""
