"""Upstream accounts: the pool, the scheduler, leases, OAuth refresh and sticky sessions."""
