"""Usage quotas: who is counted, what their plan allows, and exact counters (see service.py)."""
