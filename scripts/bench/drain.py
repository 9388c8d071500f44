"""Benchmark the usage drain: records stored per second and CPU per record, by batch size.

From a checkout, with PostgreSQL (127.0.0.1:5432, user postgres) running as for the tests:

    python scripts/bench/drain.py      # --records 2000 --batches 10,50,200 [--record-by-record]

It builds the app on a throwaway PostgreSQL database and a private redis-server (appending to
a log, fsync every second, as a deployment that queues usage runs it), with keys, two accounts
and plan quotas out of the way. Then, for each batch size (the entries a drain pass takes and
stores in one transaction), it queues N records shaped as chat-fast queues them (the usage, the
account's totals, a quota hold each), drains them in this process as the `drain-usage` worker
does, and prints records/s and CPU ms per record: this process (the drain), the PostgreSQL
backends serving it, and the private Redis, each read from /proc. Every record is checked to be
stored exactly once, and the keys', accounts' and rollups' totals to count each once.
`--profile FILE` adds a run at the last batch size under cProfile (CPU time) and writes the
profile there.

`--rate R` adds, for each count of `--drains`, a paced run as under gunicorn: that many
DrainWorkers (threads here, with the `drain-usage` defaults) store what this process queues at
R records/s for `--seconds`; printed: passes, records per pass, CPU ms per record of the drain
threads (from /proc/self/task) and of PostgreSQL, and how long the backlog took to empty once
the queueing stopped. It removes everything it made.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from app import services_of  # noqa: E402
from app.services.auth import Credential  # noqa: E402
from app.services.usage.drain import DrainWorker  # noqa: E402
from app.services.usage.service import UsageRecord  # noqa: E402
from app.services.usage.settlement import Settlement  # noqa: E402
from scripts.bench import relay_servers as servers  # noqa: E402
from scripts.bench.throwaway import throwaway  # noqa: E402
from tests.support.servers import pg_admin_dsn  # noqa: E402

MODELS = ("openai/gpt-4o-mini", "claude/claude-haiku-4-5")
TICK = os.sysconf("SC_CLK_TCK")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--batches", default="10,50,200",
                        help="comma-separated batch sizes: entries taken per pass")
    parser.add_argument("--record-by-record", action="store_true",
                        help="also store record by record (each in its own transaction)")
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the last drain here")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="also queue this many records/s while paced drain workers run")
    parser.add_argument("--seconds", type=float, default=10.0, help="of queueing at --rate")
    parser.add_argument("--drains", default="1,2",
                        help="comma-separated counts of drain workers for the --rate runs")
    parser.add_argument("--idle-sleep", type=float, default=None,
                        help="the paced drain workers' idle_sleep (default: DrainWorker's)")
    parser.add_argument("--pace", type=float, default=None,
                        help="the paced drain workers' pace (default: DrainWorker's)")
    return parser.parse_args()


def _cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU of these processes (utime and stime of /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # a backend that ended meanwhile
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def _backends(dsn: str, database: str) -> list[int]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                  (database,)).fetchall()
    return [row[0] for row in rows]


def _setup(services, keys: int) -> tuple[list[tuple], list[str]]:
    """(key id, quota subject) per key, and the account ids."""
    for plan in ("free", "premium"):
        for tier in ("basic", "premium"):
            services.plans.set(plan, tier, limit=1_000_000_000, period="day")
    accounts = [services.accounts.create({"name": f"bench-{provider}", "provider": provider,
                                          "api_key": "bench"})["id"]
                for provider in ("openai", "claude")]
    made = []
    for number in range(keys):
        issued = services.keys.create({"name": f"drain-bench-{number}"})
        principal = services.auth.principal(Credential("api_key", issued.api_key))
        made.append((principal.id, services.quota.subject_for(principal)))
    return made, accounts


def _queue(services, keys: list[tuple], accounts: list[str], count: int) -> list[str]:
    """Queue `count` chat-fast-shaped records; answers their request ids."""
    ids = []
    for number in range(count):
        key_id, subject = keys[number % len(keys)]
        model = MODELS[number % len(MODELS)]
        hold = services.quota.hold(subject, model)
        tokens, cost = 40 + number % 7, Decimal("0.00012")
        record = UsageRecord(api_key_id=key_id, model=model, input_tokens=24,
                             output_tokens=tokens - 24, cost=cost,
                             account_id=accounts[number % len(accounts)],
                             account_type=model.split("/")[0], request_id=f"chat-{uuid.uuid4()}")
        settlement = Settlement(record.account_id, tokens, cost,
                                hold.id if hold.held_on else None, hold.held_on)
        services.usage_queue.enqueue(record, settlement)
        ids.append(record.request_id)
    services.usage_queue.ledger.flush()
    return ids


def _drain(services, batch: int, batched: bool, backends, redis_pid: int,
           profile: cProfile.Profile | None) -> tuple[float, list[float], int]:
    """Drain everything waiting: (seconds, CPU seconds of drain, PostgreSQL, Redis, stored)."""
    own, pg = [os.getpid()], backends()
    before = [_cpu_seconds(own), _cpu_seconds(pg), _cpu_seconds([redis_pid])]
    started, stored = time.perf_counter(), 0
    if profile is not None:
        profile.enable()
    while True:
        result = services.usage_queue.drain_once("bench", count=batch, batched=batched)
        stored += result.recorded
        if not (result.recorded or result.duplicates or result.dead or result.left_pending):
            break
    if profile is not None:
        profile.disable()
    seconds = time.perf_counter() - started
    pg = sorted(set(pg) | set(backends()))
    after = [_cpu_seconds(own), _cpu_seconds(pg), _cpu_seconds([redis_pid])]
    return seconds, [late - early for early, late in zip(before, after, strict=True)], stored


def _thread_cpu_seconds(tids: list[int]) -> float:
    total = 0
    for tid in tids:
        fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def _paced(services, keys, accounts, rate: float, seconds: float, drains: int, backends,
           waits: dict) -> tuple[list[str], str]:
    """Queue at `rate` for `seconds` while `drains` DrainWorker threads store; (request ids,
    the line to print)."""
    stopping, passes, tids, cpu = threading.Event(), [], [], {}
    lock = threading.Lock()

    def run(number: int) -> None:
        tid = threading.get_native_id()
        with lock:
            tids.append(tid)
        worker = DrainWorker(queue=services.usage_queue, consumer=f"paced-{number}", **waits,
                             on_pass=lambda result: passes.append(
                                 result.recorded + result.duplicates))
        worker.run(stopping)
        cpu[tid] = _thread_cpu_seconds([tid])  # before the thread (and its /proc entry) ends

    threads = [threading.Thread(target=run, args=(number,)) for number in range(drains)]
    for thread in threads:
        thread.start()
    while len(tids) < drains:
        time.sleep(0.01)
    pg = backends()
    before = [_thread_cpu_seconds(tids), _cpu_seconds(pg)]
    ids: list[str] = []
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate) - len(ids)
        if due > 0:
            ids += _queue(services, keys, accounts, due)
        else:
            time.sleep(0.002)
    stopped = time.monotonic()
    while services.usage_queue.backlog()["pending"] or services.usage_queue.store.backlog(
            time.time())["length"]:
        time.sleep(0.02)
    emptied = time.monotonic() - stopped
    pg = sorted(set(pg) | set(backends()))
    after_pg = _cpu_seconds(pg)
    stopping.set()
    for thread in threads:
        thread.join()
    drain_ms = (sum(cpu.values()) - before[0]) * 1000 / len(ids)
    pg_ms = (after_pg - before[1]) * 1000 / len(ids)
    taken = [count for count in passes if count]
    line = (f"{drains} drain(s) at {len(ids) / (stopped - started):.0f}/s: {len(passes)} passes, "
            f"{sum(taken) / max(1, len(taken)):.0f} records per pass that found any; CPU ms per "
            f"record drain {drain_ms:.3f} PG {pg_ms:.3f} sum {drain_ms + pg_ms:.3f}; backlog "
            f"empty {emptied:.2f} s after the queueing stopped")
    return ids, line


def _stored_once(dsn: str, request_ids: list[str]) -> bool:
    """Every queued request id has exactly one event, and the keys', the accounts' and the
    rollups' totals count each once."""
    with psycopg.connect(dsn) as connection:
        events = dict(connection.execute(
            "SELECT request_id, count(*) FROM usage_events GROUP BY request_id").fetchall())
        totals = connection.execute(
            "SELECT (SELECT sum(total_requests) FROM api_keys), "
            "(SELECT sum(total_requests) FROM accounts), "
            "(SELECT sum(requests) FROM usage_rollups WHERE span = 'day' AND grain = 'k')"
        ).fetchone()
    return (sorted(events) == sorted(request_ids) and set(events.values()) == {1}
            and set(totals) == {len(request_ids)})


def main() -> None:
    args = _arguments()
    admin = pg_admin_dsn(args.database_url)
    cleanup: list = []  # a private redis-server, appending as production does (everysec)
    redis_url, redis_pid = servers.start_redis(SimpleNamespace(redis_no_aof=False), cleanup)
    try:
        with throwaway(args.database_url, redis_url, label="drainbench") as place:
            name = place.name
            services = services_of(place.app())
            keys, accounts = _setup(services, args.keys)
            own_dsn = admin.rsplit("/", 1)[0] + "/" + name

            def backends() -> list[int]:
                return _backends(admin, name)

            print(f"{args.records} chat-fast records over {args.keys} keys, two accounts; CPU ms "
                  f"per record from /proc ({os.cpu_count()} cores, shared; load "
                  f"{os.getloadavg()[0]:.1f})")
            print(f"{'drain':<20}{'records/s':>10}{'drain':>8}{'PG':>8}{'Redis':>8}{'all':>8}"
                  f"{'stored':>8}")
            runs = [(f"batch {size}", int(size), True) for size in args.batches.split(",")]
            if args.record_by_record:
                runs.insert(0, ("record by record", 100, False))
            if args.profile:  # a run of its own: the profiler's cost is in its figures
                runs.append((f"{runs[-1][0]}, profiled", *runs[-1][1:]))
            queued: list[str] = []
            for label, batch, batched in runs:
                profile = cProfile.Profile(time.process_time) if "profiled" in label else None
                queued += _queue(services, keys, accounts, args.records)
                seconds, cpu, stored = _drain(services, batch, batched, backends, redis_pid,
                                              profile)
                per = [part * 1000 / stored if stored else 0.0 for part in cpu]
                print(f"{label:<20}{stored / seconds:>10.0f}{per[0]:>8.2f}{per[1]:>8.2f}"
                      f"{per[2]:>8.2f}{sum(per):>8.2f}{stored:>8}")
                if profile is not None:
                    profile.dump_stats(args.profile)
            if args.rate:
                print(f"paced as under gunicorn, queueing {args.rate:.0f} records/s for "
                      f"{args.seconds:.0f} s (the drain threads' CPU; PostgreSQL's)")
                for drains in (int(count) for count in args.drains.split(",")):
                    waits = {name: value for name, value in (("idle_sleep", args.idle_sleep),
                                                             ("pace", args.pace))
                             if value is not None}
                    ids, line = _paced(services, keys, accounts, args.rate, args.seconds,
                                       drains, backends, waits)
                    queued += ids
                    print(line)
            print(f"every record stored exactly once: {_stored_once(own_dsn, queued)} "
                  f"({len(queued)} queued)")
    finally:
        for stop in reversed(cleanup):
            stop()


if __name__ == "__main__":
    main()
