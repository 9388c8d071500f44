"""The gateway's fixed words, defined once: providers, model types, plans, quota periods, account
statuses and proxy types. Every layer reads them from here (this module imports nothing)."""

PROVIDERS = ("openai", "claude", "gemini")
"""Upstream providers, in the catalogue's order (its OpenAPI enums and messages list them so)."""

PROVIDERS_SORTED = tuple(sorted(PROVIDERS))
"""The same, alphabetical: how a key's stored permissions, and the routes about them, list them."""

MODEL_TYPES = ("premium", "basic")
"""A model's tier; a plan's limits are per tier."""

PLANS = ("free", "premium")

PERIODS = ("day", "month")
"""Quota periods, each starting at midnight in the configured time zone."""

ACCOUNT_STATUSES = ("active", "inactive", "rate_limited", "error")

PROXY_TYPES = ("http", "socks5")
"""How an upstream account's traffic may be proxied."""
