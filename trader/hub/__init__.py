"""trader.hub: `trader hub`, mission control for several traders."""
