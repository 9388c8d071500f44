"""The chat relay: checks before the upstream call, the call itself, bookkeeping after it."""
