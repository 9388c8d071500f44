"""Benchmark the usage drain: records stored per second and CPU per record, batched or not.

From a checkout, with PostgreSQL (127.0.0.1:5432, user postgres) and Redis (127.0.0.1:6379)
running as for the tests:

    python scripts/bench/drain.py                 # --records 2000 --batch 100

It builds the app on a throwaway PostgreSQL database and Redis key prefix, with keys, two
accounts and plan quotas out of the way. Then, for each way of storing (record by record, as
the drain did before, then batched: many records per transaction), it queues N records shaped
as chat-fast queues them (the usage, the account's totals, a quota hold each), drains them in
this process as the `drain-usage` worker does, and prints records/s and CPU ms per record: this
process's CPU plus that of the PostgreSQL backends serving it, both read from /proc (Redis's
CPU is left out: on a shared server it counts everyone's work). The last line gives the
ratios, and every record is checked to be stored exactly once. It removes everything it made.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from app import services_of  # noqa: E402
from app.services.auth import Credential  # noqa: E402
from app.services.usage.service import UsageRecord  # noqa: E402
from app.services.usage.settlement import Settlement  # noqa: E402
from scripts.bench.throwaway import throwaway  # noqa: E402
from tests.support.servers import pg_admin_dsn  # noqa: E402

MODELS = ("openai/gpt-4o-mini", "claude/claude-haiku-4-5")
TICK = os.sysconf("SC_CLK_TCK")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100,
                        help="entries the drain takes per pass (and stores in one transaction)")
    parser.add_argument("--keys", type=int, default=20)
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


def _drain(services, batch: int, batched: bool, backends) -> tuple[float, float, int]:
    """Drain everything waiting: (seconds, CPU seconds, records stored)."""
    pids = [os.getpid(), *backends()]
    cpu, started, stored = _cpu_seconds(pids), time.perf_counter(), 0
    while True:
        result = services.usage_queue.drain_once("bench", count=batch, batched=batched)
        stored += result.recorded
        if not (result.recorded or result.duplicates or result.dead or result.left_pending):
            break
    seconds = time.perf_counter() - started
    pids = sorted(set(pids) | set(backends()))
    return seconds, _cpu_seconds(pids) - cpu, stored


def _stored_once(dsn: str, request_ids: list[str]) -> bool:
    """Every queued request id has exactly one event, and the keys' totals count each once."""
    with psycopg.connect(dsn) as connection:
        events = dict(connection.execute(
            "SELECT request_id, count(*) FROM usage_events GROUP BY request_id").fetchall())
        requests = connection.execute("SELECT sum(total_requests) FROM api_keys").fetchone()[0]
    return (sorted(events) == sorted(request_ids) and set(events.values()) == {1}
            and requests == len(request_ids))


def main() -> None:
    args = _arguments()
    admin = pg_admin_dsn(args.database_url)
    with throwaway(args.database_url, args.redis_url, label="drainbench") as place:
        name = place.name
        services = services_of(place.app())
        keys, accounts = _setup(services, args.keys)
        own_dsn = admin.rsplit("/", 1)[0] + "/" + name

        def backends() -> list[int]:
            return _backends(admin, name)

        print(f"{args.records} chat-fast records over {args.keys} keys, two accounts, "
              f"{args.batch} taken per pass; CPU of this process and its PostgreSQL backends "
              f"({os.cpu_count()} cores, shared)")
        print(f"{'drain':<20}{'records/s':>11}{'CPU ms/record':>15}{'stored':>8}")
        figures, queued = {}, []
        for label, batched in (("record by record", False), ("batched", True)):
            queued += _queue(services, keys, accounts, args.records)
            seconds, cpu, stored = _drain(services, args.batch, batched, backends)
            figures[label] = (stored / seconds, cpu * 1000 / stored if stored else 0.0)
            print(f"{label:<20}{figures[label][0]:>11.0f}{figures[label][1]:>15.2f}"
                  f"{stored:>8}")
        (old_rate, old_cpu), (new_rate, new_cpu) = figures.values()
        print(f"batched vs record by record: {new_rate / old_rate:.1f}x records/s, "
              f"{old_cpu / new_cpu if new_cpu else 0:.1f}x less CPU per record")
        print(f"every record stored exactly once: {_stored_once(own_dsn, queued)} "
              f"({len(queued)} queued)")


if __name__ == "__main__":
    main()
