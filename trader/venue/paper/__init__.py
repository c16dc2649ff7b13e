"""trader.venue.paper."""
