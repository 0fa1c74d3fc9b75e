"""The Telegram bot: application wiring, owner guard, handlers and scheduled jobs."""
