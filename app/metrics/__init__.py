"""Monitoring: what the app measures of itself (queries, pool, cache, requests), and where."""
