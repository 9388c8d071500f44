"""Python's cyclic garbage collector in a long-running process (a gunicorn worker, a drain
worker), settled once the app is loaded.

With Python's thresholds (700, 10, 10) a worker answering a thousand requests a second runs a
young collection every few requests and, every few seconds, a full one that walks every object
the app loaded at start (modules, the catalogue, SQLAlchemy's metadata and compiled statements):
about a tenth of a second during which no thread of the worker runs. Measured under
scripts/bench/relay.py's load (chat-fast at 32 connections, 8 s per mode), the collector took
2.6-3.0% of each worker's CPU: 510 young, 46 older and 2 full collections. `settle` collects
once, moves what survives (what the app keeps for its life) out of the collector's sight
(gc.freeze) and raises the young generation's threshold, so that a collection walks only what
requests made since the last one: 20 young collections, 1 older and no full one under the same
load, 0.8% of the CPU. A request's own objects are freed by their reference counts either way;
the collector only finds cycles, which the request path seldom makes.
"""

from __future__ import annotations

import gc


def settle(threshold: tuple[int, int, int] | None) -> None:
    """Freeze what the loaded app keeps, then collect by `threshold` (gen0, gen1, gen2: the
    settings' gc_threshold); None leaves Python's collector as it is, nothing frozen."""
    if threshold is None:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*threshold)
