"""bot.render."""
