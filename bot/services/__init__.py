"""Application services shared by the CLI and the bot."""
