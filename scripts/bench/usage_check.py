"""Benchmark GET /api/usage/check against GET /healthz, under gunicorn on PostgreSQL and Redis.

From a checkout, with PostgreSQL running as for the tests (127.0.0.1:5432, user postgres) and
redis-server installed:

    python scripts/bench/usage_check.py            # --seconds 10 --connections 32

It starts a private redis-server (other users of a shared one would skew the check; pass
--redis-url to use an existing server), migrates a throwaway database, creates a user and an
API key through the services, starts gunicorn on a free port, drives /healthz and
/api/usage/check (with the real key) from 32 keep-alive connections for a fixed time each,
prints requests/s and p50/p99 latency of both and their ratios, and removes everything it
made. The two routes take turns in short rounds, so a change in the machine's load hits both
alike. The target: the check reaches at least half of /healthz's throughput, with a p99 under
twice /healthz's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from app.bootstrap import Services  # noqa: E402
from scripts.bench.load import Result, drive  # noqa: E402
from scripts.bench.throwaway import throwaway  # noqa: E402
from tests.support.servers import free_port  # noqa: E402


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per route")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured time per route")
    parser.add_argument("--rounds", type=int, default=5, help="turns taken by each route")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="gunicorn workers (default: one per core)")
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    parser.add_argument("--threads", type=int, default=16, help="gthread threads per worker")
    parser.add_argument("--database-url", default=os.environ.get(
        "RELAYGATE_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=os.environ.get("RELAYGATE_BENCH_REDIS_URL"),
                        help="an existing Redis (default: start a private redis-server)")
    return parser.parse_args()


def _prepare(services: Services) -> str:
    """Create a user with a key; returns the key's plaintext."""
    user = services.users.create(email="bench@example.com", name="Bench")
    key = services.keys.create({"name": "bench", "user_id": user.id})
    services.engine.dispose()
    return key.api_key


def _start_gunicorn(args, port: int, env: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}",
               "--workers", str(args.workers), "--worker-class", args.worker_class,
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


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes, from /proc (Linux)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


def _alternate(args, port: int, key_headers: dict, servers: list[int]):
    """Both routes, in turns (each round after the first gets a short unmeasured warm-up);
    with the server processes' CPU seconds spent on each route."""
    routes = [("/healthz", {}), ("/api/usage/check?model=openai/gpt-4o", key_headers)]
    totals, cpu = [Result(0.0), Result(0.0)], [0.0, 0.0]
    for round_number in range(args.rounds):
        warmup = args.warmup if round_number == 0 else min(args.warmup, 0.5)
        for i, (path, headers) in enumerate(routes):
            before = _cpu_seconds(servers)
            totals[i] = totals[i].merge(drive(port, path, headers=headers, warmup=warmup,
                                              connections=args.connections,
                                              seconds=args.seconds / args.rounds))
            cpu[i] += _cpu_seconds(servers) - before
    return totals, cpu


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
    port = free_port()
    with throwaway(args.database_url, args.redis_url,
                   private_redis=not args.redis_url) as place:
        private_redis = place.private_redis
        api_key = _prepare(place.services())
        server = place.stops(_start_gunicorn(args, port, place.env()), wait=30)
        print(f"redis: {'private redis-server' if private_redis else place.redis_url}; "
              f"gunicorn: {args.workers} {args.worker_class} workers"
              f"{f' x {args.threads} threads' if args.worker_class == 'gthread' else ''}; "
              f"{args.connections} connections; {args.seconds:g} s measured per route in "
              f"{args.rounds} turns; {os.cpu_count()} cores shared with this driver")
        servers = _children(server.pid) + ([private_redis.process.pid] if private_redis else [])
        (health, check), cpu = _alternate(args, port, {"x-api-key": api_key}, servers)
        _report(health.summary(), check.summary())
        per_request = [cpu[0] / health.sent * 1e6, cpu[1] / check.sent * 1e6]
        print(f"server CPU per request (gunicorn workers{' + redis' if private_redis else ''}):"
              f" healthz {per_request[0]:.0f} us, check {per_request[1]:.0f} us "
              f"(ratio {per_request[1] / per_request[0]:.2f})")


if __name__ == "__main__":
    main()
