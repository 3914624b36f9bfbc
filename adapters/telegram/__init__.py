"""Telegram: the adapter, its webhook updates and its Bot API client."""
