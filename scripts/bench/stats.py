"""Benchmark usage statistics on PostgreSQL at volume; prints p50/p99. Not part of the tests.

Loads 5 million usage events over 90 days across 200 keys, 30 models and 20 accounts (COPY from a
generator, then the rollups rebuilt from them), times getUsageStats and getCostAnalysis, then
cleanupOldStats removing the oldest 30 days while a writer keeps recording. It creates its own
database and drops it at the end (unless --keep).

    PYTHONPATH=. python scripts/bench/stats.py [--events 5000000] [--calls 100] [--keep]

The traffic is shaped like a gateway's: keys differ in volume (weight 1/sqrt(rank)), each key
uses a handful of models (popularity by Zipf) and mostly one home account.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from app import services_of
from app.services.usage.query import CostQuery, StatsQuery
from app.services.usage.service import UsageRecord
from scripts.bench.throwaway import throwaway

BASE_URL = os.environ.get("RELAYGATE_BENCH_DATABASE_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
KEYS, MODELS, ACCOUNTS, DAYS = 200, 30, 20, 90
EVENT_COLUMNS = ("api_key_id, account_id, account_type, model, input_tokens, output_tokens, "
                 "cache_write_tokens, cache_read_tokens, total_tokens, cost, request_count, "
                 "request_id, occurred_at, recorded_at")


def dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class Traffic:
    """A deterministic stream of events, in time order."""

    def __init__(self, key_ids: list[str], start: datetime, events: int, seed: int = 7):
        rnd = random.Random(seed)
        self.key_ids, self.start, self.events, self.seed = key_ids, start, events, seed
        self.models = [f"model-{i:02d}" for i in range(MODELS)]
        # Per-million-token prices in units of 1e-8 USD per token (integers keep it fast).
        self.prices = [(rnd.randint(25, 1500), rnd.randint(100, 7500)) for _ in self.models]
        self.accounts = [str(uuid.UUID(int=rnd.getrandbits(128))) for _ in range(ACCOUNTS)]
        self.key_weights = [1 / (rank + 1) ** 0.5 for rank in range(len(key_ids))]
        popularity = [1 / (rank + 1) for rank in range(MODELS)]
        self.favourites = []
        for index in range(len(key_ids)):
            chosen = set()
            while len(chosen) < rnd.randint(3, 6):
                chosen.add(rnd.choices(range(MODELS), popularity)[0])
            home = self.accounts[index % ACCOUNTS]
            self.favourites.append((sorted(chosen), home, rnd.choice(self.accounts)))

    def rows(self):
        """(key, account, model, input, output, cache_read, cost text, request id, ts text)."""
        rnd = random.Random(self.seed + 1)
        step = timedelta(days=DAYS) / self.events
        keys = rnd.choices(range(len(self.key_ids)), self.key_weights, k=self.events)
        for i in range(self.events):
            index = keys[i]
            models, home, other = self.favourites[index]
            model = models[int(rnd.random() ** 2 * len(models))]
            account = home if rnd.random() < 0.8 else other
            tokens_in, tokens_out = rnd.randint(50, 6000), rnd.randint(10, 1500)
            cache_read = tokens_in if rnd.random() < 0.3 else 0
            price_in, price_out = self.prices[model]
            units = tokens_in * price_in + tokens_out * price_out + cache_read * price_in // 10
            when = self.start + step * i
            yield (self.key_ids[index], account, self.models[model], tokens_in, tokens_out,
                   cache_read, f"{units // 10**8}.{units % 10**8:08d}", f"req_{i:024x}",
                   when.isoformat())


def load(url: str, traffic: Traffic) -> None:
    started = time.perf_counter()
    with psycopg.connect(dsn(url)) as connection, connection.cursor() as cursor:
        with cursor.copy(f"COPY usage_events ({EVENT_COLUMNS}) FROM STDIN") as copy:
            lines = []
            for key, account, model, i, o, cr, cost, rid, ts in traffic.rows():
                lines.append(f"{key}\t{account}\tclaude\t{model}\t{i}\t{o}\t0\t{cr}\t"
                             f"{i + o + cr}\t{cost}\t1\t{rid}\t{ts}\t{ts}\n")
                if len(lines) == 20_000:
                    copy.write("".join(lines))
                    lines.clear()
            copy.write("".join(lines))
        connection.commit()
        print(f"  COPY usage_events: {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        # Every event came with a request id, as the chat routes give one.
        cursor.execute("INSERT INTO usage_request_ids (source, api_key_id, request_id, "
                       "occurred_at, recorded_at) SELECT source, api_key_id, request_id, "
                       "occurred_at, recorded_at FROM usage_events")
        connection.commit()
    print(f"  usage_request_ids filled: {time.perf_counter() - started:.1f} s")


def vacuum(url: str) -> None:
    with psycopg.connect(dsn(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


def timed(label: str, calls: int, call) -> None:
    call(0)  # warm the connection pool and the caches of the server
    times = []
    for i in range(calls):
        started = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    print(f"  {label}: p50 {statistics.median(times):.1f} ms, p99 {p99:.1f} ms "
          f"({calls} calls)")


def reports(services, key_ids: list[str], now: datetime, calls: int) -> None:
    usage = services.usage
    month = StatsQuery(start_date=now - timedelta(days=30), end_date=now, granularity="day",
                       group_by="model")
    timed("getUsageStats 30 days by day, grouped by model", calls,
          lambda i: usage.stats(month))
    timed("getUsageStats one key by hour, 7 days", calls, lambda i: usage.stats(StatsQuery(
        start_date=now - timedelta(days=7), end_date=now, granularity="hour",
        api_key_id=key_ids[i % len(key_ids)])))
    quarter = CostQuery(start_date=now - timedelta(days=DAYS), end_date=now, group_by="model")
    timed("getCostAnalysis 90 days by model", calls, lambda i: usage.cost_analysis(quarter))


def http_report(app, services, now: datetime, calls: int) -> None:
    services.admins.create("bench-admin", "bench-password")
    token = services.sessions.login("bench-admin", "bench-password")["session_token"]
    client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    params = {"startDate": (now - timedelta(days=30)).isoformat(), "endDate": now.isoformat(),
              "granularity": "day", "groupBy": "model"}

    def call(_):
        response = client.get("/api/usage/stats", query_string=params, headers=headers)
        assert response.status_code == 200, response.json

    timed("GET /api/usage/stats 30 days by day by model (HTTP, JSON)", calls, call)


def _latencies(label: str, values: list[float]) -> None:
    values = sorted(values)
    print(f"  {label}: {len(values)} inserts, p50 {statistics.median(values):.1f} ms, "
          f"p99 {values[int(0.99 * (len(values) - 1))]:.1f} ms, max {values[-1]:.1f} ms")


class LockWatch(threading.Thread):
    """Polls the server for sessions waiting on a lock; keeps the longest wait seen."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.stop, self.longest, self.waits = url, threading.Event(), 0.0, 0

    def run(self):
        started: dict[int, float] = {}
        with psycopg.connect(dsn(self.url), autocommit=True) as connection:
            while not self.stop.is_set():
                now = time.perf_counter()
                waiting = {pid for (pid,) in connection.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE 'INSERT%'")}
                for pid in waiting - set(started):
                    started[pid] = now
                    self.waits += 1
                for pid in set(started) - waiting:
                    self.longest = max(self.longest, (now - started.pop(pid)) * 1000)
                time.sleep(0.005)


def cleanup_under_writes(services, key_ids: list[str], url: str) -> None:
    latencies, stop, slow = [], threading.Event(), []

    def writer():
        n = 0
        while not stop.is_set():
            n += 1
            started = time.perf_counter()
            services.usage.record(UsageRecord(
                api_key_id=key_ids[n % len(key_ids)], model="model-00", input_tokens=100,
                output_tokens=20, cost=Decimal("0.001"), account_id="writer",
                request_id=f"writer-{uuid.uuid4()}",
            ))
            latencies.append((time.perf_counter() - started) * 1000)
            if latencies[-1] > 100:
                slow.append(f"{time.strftime('%H:%M:%S')} {latencies[-1]:.0f} ms")

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(5)
    baseline = list(latencies)
    started = time.perf_counter()
    slow.clear()
    watch = LockWatch(url)
    watch.start()
    result = services.usage.cleanup(retention_days=DAYS - 30)
    elapsed = time.perf_counter() - started
    during = latencies[len(baseline):]
    watch.stop.set()
    stop.set()
    thread.join()
    watch.join()
    print(f"  cleanupOldStats(retentionDays={DAYS - 30}): {elapsed:.1f} s, deleted "
          f"{result['deleted_records']}, remaining {result['remaining_records']}")
    _latencies("writer before the cleanup (5 s)", baseline)
    _latencies("writer during the cleanup", during)
    print(f"  inserts seen waiting on a lock during the cleanup: {watch.waits}, longest "
          f"{watch.longest:.0f} ms (sampled every 5 ms)")
    if slow:
        print(f"  inserts over 100 ms at: {', '.join(slow[:20])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    options = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    logging.basicConfig(format="  %(asctime)s %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stdout)
    logging.getLogger("app.services.usage.retention").setLevel(logging.INFO)
    with throwaway(BASE_URL, None, keep=options.keep) as place:
        url = place.database_url
        print(f"database {place.name}: {options.events} events, {KEYS} keys, {MODELS} models, "
              f"{ACCOUNTS} accounts, {DAYS} days")
        app = place.app(db_statement_timeout_ms=30 * 60 * 1000)
        services = services_of(app)
        key_ids = [services.keys.create({"name": f"bench-{i}"}).id for i in range(KEYS)]
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start = now - timedelta(days=DAYS)
        services.usage.prepare_partitions(start, now)
        print("loading")
        load(url, Traffic(key_ids, start, options.events))
        started = time.perf_counter()
        days = services.usage.rebuild_rollups(start, now + timedelta(hours=1))
        print(f"  rollups rebuilt for {days} days: {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        vacuum(url)
        print(f"  VACUUM ANALYZE: {time.perf_counter() - started:.1f} s")
        print("reports (service calls)")
        reports(services, key_ids, now, options.calls)
        http_report(app, services, now, options.calls)
        before = services.usage.stats(StatsQuery(start_date=start, end_date=now,
                                                 granularity="month"))["summary"]
        print("cleanup")
        cleanup_under_writes(services, key_ids, url)
        after = services.usage.stats(StatsQuery(start_date=start, end_date=now,
                                                granularity="month"))["summary"]
        print(f"  90-day totals unchanged by the cleanup: {before == after}")
        print("reports after the cleanup")
        reports(services, key_ids, now, options.calls)


if __name__ == "__main__":
    main()
