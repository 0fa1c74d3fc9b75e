"""`breakout serve`: the HTTP API over the same database and model as the bot."""
