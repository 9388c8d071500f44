"""PostgreSQL backend CPU of the synchronous usage store (usage_store.py's one statement).

    python scripts/bench/usage_store_pg.py --stores 1000 --rounds 3 --gap-ms 3 --interleave

A private PostgreSQL cluster (its own initdb, so nothing else runs in it), a database migrated
to head, one key and one account; then the app's own repository (UsageStoreRepository.store,
on an autocommit connection with the app's prepare threshold) stores records of one key, one
account, one model and one hour, as chat-optimized's (`_STORE_HELD`: a Redis hold's unit added
to its counter) and chat's (`_STORE_RESERVED`: a held reservation committed) requests do.
Prints, per store: the backend's CPU (/proc/<pid>/schedstat, to the nanosecond), the whole
cluster's (sequential rounds), the WAL written and the app process's CPU; then each written
table's updates and how many were HOT.

Stores sent back to back find the server's data hot in the CPU's caches and cost about half
what they cost in a gateway, where a request's own work runs between two stores: `--gap-ms 3`
spends that much CPU here between stores (the figures then match relay.py's). `--interleave`
alternates the cases store by store (their ratio holds on a loaded machine). `--perf SECONDS`
records the first case's backend with `perf`; `--explain` prints EXPLAIN ANALYZE of a store.
"""
from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.db.driver import DriverStatement  # noqa: E402
from app.db.migrations import upgrade  # noqa: E402
from app.db.repositories import usage_store as us  # noqa: E402
from app.db.repositories.quota import CounterKey  # noqa: E402
from app.db.repositories.usage_rollups import Totals  # noqa: E402
from app.db.repositories.usage_store import OneUse, UsageStoreRepository  # noqa: E402
from scripts.bench.private_pg import PrivatePostgres  # noqa: E402
from scripts.bench.procstat import TICK, own_ticks, tree_ticks  # noqa: E402
from scripts.bench.throwaway import throwaway  # noqa: E402

KEY, ACCOUNT, MODEL = "bench-key-0001", "bench-account-0001", "gpt-4o-mini"


def backend_seconds(pid: int) -> float:
    """CPU seconds of one process so far, to the nanosecond (/proc/<pid>/schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seed(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO api_keys (id, name, hashed_key, created_at, updated_at)"
            " VALUES (:id, 'bench', :hash, now(), now())"), {"id": KEY, "hash": uuid.uuid4().hex})
        connection.execute(text(
            "INSERT INTO accounts (id, name, provider, credential_kind, scopes, created_at,"
            " updated_at) VALUES (:id, 'bench', 'openai', 'api_key', '[]', now(), now())"),
            {"id": ACCOUNT})
    engine.dispose()


_SCRATCH = bytearray(1 << 20)


def burn(seconds: float) -> float:
    """Work in this process for `seconds` of CPU, through memory (as a request's own
    work between its stores would, leaving the server's data colder in the CPU's caches)."""
    started = time.process_time()
    while time.process_time() - started < seconds:
        _SCRATCH[:] = bytes(len(_SCRATCH))
    return time.process_time() - started


class Case:
    """One kind of store on a backend of its own."""

    def __init__(self, name: str, url: str, threshold: int | None, cluster: int | None):
        self.name, self.cluster = name, cluster
        self.engine = create_engine(url, connect_args={"prepare_threshold": threshold})
        self.connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.session = Session(bind=self.connection)
        self.pid = self.connection.execute(text("SELECT pg_backend_pid()")).scalar()
        self.store = UsageStoreRepository(self.session)
        self.runs = 0
        self.gap = 0.0
        self.cpu: list[float] = []
        self.wal: list[float] = []
        self.app: list[float] = []
        self.all: list[float] = []

    def use(self) -> tuple[OneUse, datetime]:
        self.runs += 1
        now = datetime.now(UTC)
        at = now.replace(minute=0, second=0, microsecond=0)  # one hour: rows added to
        totals = Totals(requests=1, input_tokens=12, output_tokens=30, total_tokens=42,
                        cost=Decimal("0.00012300"))
        event = {"api_key_id": KEY, "account_id": ACCOUNT, "account_type": "openai",
                 "model": MODEL, "input_tokens": 12, "output_tokens": 30,
                 "cache_write_tokens": 0, "cache_read_tokens": 0, "total_tokens": 42,
                 "cost": totals.cost, "request_count": 1,
                 "request_id": f"{self.name}-{uuid.uuid4().hex}", "occurred_at": at,
                 "recorded_at": now, "source": "relay", "estimated": False}
        if self.name.startswith("reserved"):
            reservation = f"r-{uuid.uuid4().hex[:30]}"
            self.connection.execute(text(
                "INSERT INTO usage_reservations (id, subject, model_type, period, period_start,"
                " units, credits_spent, state, expires_at, created_at) VALUES (:id, :s, 'chat',"
                " 'day', :at, 1, 0, 'held', now() + interval '1 hour', now())"),
                {"id": reservation, "s": f"key:{KEY}", "at": at})
            return OneUse(event, ACCOUNT, 42, totals.cost, reservation_id=reservation,
                          subject=f"key:{KEY}"), now
        return OneUse(event, ACCOUNT, 42, totals.cost,
                      counter=CounterKey(f"key:{KEY}", "chat", "day",
                                         at.replace(hour=0))), now

    def explain(self) -> str:
        """EXPLAIN (ANALYZE, BUFFERS, VERBOSE) of one store with the generic plan (as the
        prepared statement runs); its writes are rolled back."""
        use, now = self.use()
        shown: list[str] = []

        class Explained(Exception):
            pass

        statement = us._STORE_HELD if use.counter is not None else us._STORE_RESERVED

        class Explain(DriverStatement):
            def run(self, connection, params, *, describe=False):
                cursor = connection.connection.dbapi_connection.cursor()
                cursor.execute("BEGIN")
                cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, VERBOSE, SETTINGS) "
                               + statement.sql_for(connection.dialect), params)
                shown.extend(row[0] for row in cursor.fetchall())
                cursor.execute("ROLLBACK")
                raise Explained

        saved = us._STORE_HELD, us._STORE_RESERVED
        us._STORE_HELD = us._STORE_RESERVED = Explain(statement.statement)
        try:
            self.store.store(use, now)
        except Explained:
            pass
        finally:
            us._STORE_HELD, us._STORE_RESERVED = saved
        return "\n".join(shown)

    def cluster_ticks(self) -> int:
        return own_ticks(self.pid) if self.cluster is None else tree_ticks([self.cluster])

    def wal_lsn(self) -> int:
        return int(self.connection.execute(
            text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")).scalar())

    def round(self, stores: int) -> None:
        uses = [self.use() for _ in range(stores)]  # reservations inserted before measuring
        lsn, app = self.wal_lsn(), time.process_time()
        cpu, everything = backend_seconds(self.pid), self.cluster_ticks()
        burnt = 0.0
        for use, now in uses:
            stored = self.store.store(use, now)
            assert stored is not None and stored.stored, stored
            if self.gap:
                burnt += burn(self.gap)
        cpu, everything = backend_seconds(self.pid) - cpu, self.cluster_ticks() - everything
        app = time.process_time() - app - burnt
        wal = self.wal_lsn() - lsn
        self.cpu.append(cpu * 1000 / stores)
        self.all.append(everything / TICK * 1000 / stores)
        self.wal.append(wal / stores)
        self.app.append(app * 1000 / stores)

    def close(self) -> None:
        self.session.close()
        self.connection.close()
        self.engine.dispose()


def interleaved(cases: list[Case], stores: int) -> None:
    """A round of the cases taking turns store by store, each backend's CPU read around its
    own stores only."""
    uses = {case.name: [case.use() for _ in range(stores)] for case in cases}
    spent = dict.fromkeys(uses, 0.0)
    for number in range(stores):
        for case in cases:
            use, now = uses[case.name][number]
            before = backend_seconds(case.pid)
            stored = case.store.store(use, now)
            spent[case.name] += backend_seconds(case.pid) - before
            assert stored is not None and stored.stored, stored
            if case.gap:
                burn(case.gap)
    for case in cases:
        case.cpu.append(spent[case.name] * 1000 / stores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=2000, help="stores per case per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--cases", default="held,reserved")
    parser.add_argument("--prepare-threshold", type=int, default=5)
    parser.add_argument("--pg-option", action="append", default=[],
                        help="a server setting for the private cluster, e.g. jit=off")
    parser.add_argument("--perf", type=float, default=0,
                        help="record the held case's backend with perf for this many seconds")
    parser.add_argument("--gap-ms", type=float, default=0,
                        help="CPU this process spends between stores (a request's own work)")
    parser.add_argument("--interleave", action="store_true",
                        help="alternate the cases store by store (backend CPU only)")
    parser.add_argument("--shared", help="a server's URL to use instead of a private cluster")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN each case's store")
    parser.add_argument("--keep", action="store_true", help="print the URL and wait for Enter")
    args = parser.parse_args()

    with database(args) as (url, cluster):
        seed(url)
        cases = [Case(name, url, args.prepare_threshold, cluster)
                 for name in args.cases.split(",")]
        for case in cases:
            case.gap = args.gap_ms / 1000
            case.round(args.warmup)
            case.cpu.clear(), case.wal.clear(), case.app.clear(), case.all.clear()
        recorder = None
        for number in range(args.rounds):
            if args.interleave:
                interleaved(cases, args.stores)
                continue
            for case in cases:
                if number == 0 and args.perf and case is cases[0]:
                    recorder = subprocess.Popen(
                        ["perf", "record", "-g", "-o", "/tmp/usage_store_pg.perf", "-p",
                         str(case.pid), "--", "sleep", str(args.perf)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(0.5)
                case.round(args.stores)
        if recorder is not None:
            recorder.wait()
            print("perf profile: /tmp/usage_store_pg.perf")
        for case in cases:
            print(f"{case.name:10s} backend CPU ms/store {statistics.median(case.cpu):.3f}"
                  f" (rounds {', '.join(f'{v:.3f}' for v in case.cpu)})"
                  + ("" if args.interleave else
                     f"; cluster {statistics.median(case.all):.3f};"
                     f" WAL bytes/store {statistics.median(case.wal):.0f};"
                     f" app CPU ms/store {statistics.median(case.app):.3f}"))
        if args.keep:
            input(f"{url} (Enter to stop) ")
        if args.explain:
            for case in cases:
                print(f"{case.name}:\n{case.explain()}")
        for case in cases:
            case.close()
        print(tables(url))


def tables(url: str) -> str:
    """Each written table's updates, how many were HOT (no index entry written), its size."""
    engine = create_engine(url)
    time.sleep(1.2)  # backends report their counts at most once a second
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd,"
            " pg_size_pretty(pg_total_relation_size(relid)) FROM pg_stat_user_tables"
            " WHERE n_tup_ins + n_tup_upd > 0 ORDER BY relname")).all()
    engine.dispose()
    return "\n".join(f"  {name:24s} inserts {ins:7d} updates {upd:7d} HOT {hot:7d} ({size})"
                     for name, ins, upd, hot, size in rows)


@contextlib.contextmanager
def database(args) -> Iterator[tuple[str, int | None]]:
    """A migrated database: on the shared server (`--shared URL`: its CPU beyond the backends
    is not counted) or in a private cluster of its own (the cluster's whole tree counted)."""
    if args.shared:
        with throwaway(args.shared, None, label="storepg") as place:
            yield place.database_url, None
        return
    server = PrivatePostgres(free_port())
    try:
        admin = server.start(args.pg_option)
        url = admin.rsplit("/", 1)[0] + "/bench"
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("CREATE DATABASE bench"))
        engine.dispose()
        upgrade(url)
        yield url, server.root_pid
    finally:
        server.stop()


if __name__ == "__main__":
    main()
