"""Operations overheads on real PostgreSQL and Redis: prints numbers, asserts nothing.

    PYTHONPATH=. python scripts/bench/operations.py

- key validation served from Redis, with the storage policy consulted on every call;
- the same validation with the cache switched off by the strategy (database every time);
- how long a switch made by one app instance takes to change another's behaviour;
- a metrics flush to Redis.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.services.storage.strategies import StorageConfig  # noqa: E402
from scripts.bench.throwaway import throwaway  # noqa: E402

PG = os.environ.get("RELAYGATE_TEST_DATABASE_URL",
                    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("RELAYGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def timed(call, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


def main() -> None:
    with throwaway(PG, REDIS) as place:
        sa, sb = place.services(), place.services()
        key = sa.keys.create({"name": "bench"})
        sa.keys.authenticate(key.api_key)
        print(f"cached validation (policy consulted): "
              f"{timed(lambda: sa.keys.authenticate(key.api_key), 2000):.0f} us median")
        sa.storage.switch("apikey", StorageConfig(enable_cache=False,
                                                  read_strategy="database_first"))
        print(f"validation with the cache off:        "
              f"{timed(lambda: sa.keys.authenticate(key.api_key), 500):.0f} us median")
        sa.storage.switch("apikey", StorageConfig())
        sb.cache.policy.config("apikey")
        waits = []
        for enable in (False, True, False, True, False):
            started = time.perf_counter()
            sa.storage.switch("apikey", StorageConfig(
                enable_cache=enable, read_strategy="cache_first" if enable else "database_first"))
            while sb.cache.policy.config("apikey").enable_cache is not enable:
                time.sleep(0.001)
            waits.append((time.perf_counter() - started) * 1000)
        print(f"switch seen by another instance:     {statistics.median(waits):.0f} ms median, "
              f"{max(waits):.0f} ms max (poll interval "
              f"{sb.settings.strategy_poll_seconds * 1000:.0f} ms)")
        for _ in range(50):
            sa.monitoring.collector.query(f"SELECT {uuid.uuid4().int % 7}", 1.0, time.time())
            sa.monitoring.collector.add("http.requests")
        def flush():
            sa.monitoring.collector.add("db.queries")
            sa.monitoring.flush()

        print(f"metrics flush to Redis:               {timed(flush, 200):.0f} us median")


if __name__ == "__main__":
    main()
