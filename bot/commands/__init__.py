"""bot.commands."""
