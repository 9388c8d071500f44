"""Benchmark GET /api/usage/check against GET /healthz, under gunicorn on PostgreSQL and Redis.

From a checkout, with PostgreSQL (127.0.0.1:5432, user postgres) and Redis (127.0.0.1:6379)
running as for the tests:

    python scripts/bench/usage_check.py            # --seconds 10 --connections 32

It migrates a throwaway database, creates a user and an API key through the services, starts
gunicorn on a free port, drives /healthz and /api/usage/check (with the real key) from 32
keep-alive connections for a fixed time each, prints requests/s and p50/p99 latency of both
and their ratios, and removes everything it made. The two routes take turns in short rounds,
so a change in the machine's load hits both alike. The target: the check reaches at least
half of /healthz's throughput, with a p99 under twice /healthz's.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402

from app import create_app  # noqa: E402
from app.db.migrations import upgrade  # noqa: E402
from scripts.bench.load import Result, drive  # noqa: E402
from tests.support.servers import free_port, pg_admin_dsn, pg_drop, pg_execute  # noqa: E402

SECRET = "relaygate-benchmark-secret-key"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per route")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured time per route")
    parser.add_argument("--rounds", type=int, default=5, help="turns taken by each route")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="gunicorn workers (default: one per core)")
    parser.add_argument("--threads", type=int, default=16, help="gthread threads per worker")
    parser.add_argument("--database-url", default=os.environ.get(
        "RELAYGATE_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=os.environ.get(
        "RELAYGATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    return parser.parse_args()


def _prepare(database_url: str, redis_url: str, prefix: str) -> str:
    """Migrate the database and create a user with a key; returns the key's plaintext."""
    upgrade(database_url)
    app = create_app({"database_url": database_url, "redis_url": redis_url,
                      "redis_prefix": prefix, "secret_key": SECRET})
    services = app.extensions["relaygate"]
    user = services.users.create(email="bench@example.com", name="Bench")
    key = services.keys.create({"name": "bench", "user_id": user.id})
    services.engine.dispose()
    return key.api_key


def _start_gunicorn(args, port: int, env: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}",
               "--workers", str(args.workers), "--worker-class", "gthread",
               "--threads", str(args.threads), "--keep-alive", "60",
               "--backlog", "512", "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if server.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not become ready within 30 s")


def _alternate(args, port: int, key_headers: dict) -> tuple[Result, Result]:
    """Both routes, in turns; each round after the first gets a short unmeasured warm-up."""
    routes = [("/healthz", {}), ("/api/usage/check?model=openai/gpt-4o", key_headers)]
    totals = [Result(0.0), Result(0.0)]
    for round_number in range(args.rounds):
        warmup = args.warmup if round_number == 0 else min(args.warmup, 0.5)
        for i, (path, headers) in enumerate(routes):
            totals[i] = totals[i].merge(drive(port, path, headers=headers, warmup=warmup,
                                              connections=args.connections,
                                              seconds=args.seconds / args.rounds))
    return totals[0], totals[1]


def _report(health: dict, check: dict) -> None:
    print(f"{'route':<22}{'requests':>10}{'failures':>10}{'req/s':>10}{'p50 ms':>9}"
          f"{'p99 ms':>9}")
    for name, row in (("GET /healthz", health), ("GET /api/usage/check", check)):
        print(f"{name:<22}{row['requests']:>10}{row['failures']:>10}{row['rps']:>10.0f}"
              f"{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}")
    throughput, p99 = check["rps"] / health["rps"], check["p99_ms"] / health["p99_ms"]
    print(f"check/healthz: throughput {throughput:.2f} (target >= 0.50), "
          f"p99 {p99:.2f} (target < 2.00) -> "
          f"{'met' if throughput >= 0.5 and p99 < 2 else 'NOT met'}")


def main() -> None:
    args = _arguments()
    admin = pg_admin_dsn(args.database_url)
    name = f"rg_bench_{uuid.uuid4().hex[:8]}"
    database_url = args.database_url.rsplit("/", 1)[0] + "/" + name
    prefix = f"rgbench:{uuid.uuid4().hex[:8]}:"
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": args.redis_url,
           "RELAYGATE_REDIS_PREFIX": prefix, "RELAYGATE_SECRET_KEY": SECRET,
           "RELAYGATE_ENV": "production", "PYTHONPATH": str(ROOT)}
    pg_execute(admin, f'CREATE DATABASE "{name}"')
    server = None
    try:
        api_key = _prepare(database_url, args.redis_url, prefix)
        server = _start_gunicorn(args, port, env)
        print(f"gunicorn: {args.workers} workers x {args.threads} threads (gthread); "
              f"{args.connections} connections; {args.seconds:g} s measured per route in "
              f"{args.rounds} turns; {os.cpu_count()} cores shared with this driver")
        health, check = _alternate(args, port, {"x-api-key": api_key})
        _report(health.summary(), check.summary())
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        client = redis.Redis.from_url(args.redis_url)
        stale = list(client.scan_iter(match=prefix + "*", count=1000))
        if stale:
            client.delete(*stale)
        pg_drop(admin, name)


if __name__ == "__main__":
    main()
