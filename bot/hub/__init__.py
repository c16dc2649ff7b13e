"""bot.hub: one chat for several named traders (`trader hub`), each behind its Control API."""
