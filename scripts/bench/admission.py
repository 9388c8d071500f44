"""Benchmark admission and relay in one process: CPU, Redis round trips and SQL per request.

From a checkout, with PostgreSQL (127.0.0.1:5432, user postgres) and Redis (127.0.0.1:6379)
running as for the tests:

    python scripts/bench/admission.py                   # --requests 300 per case
    python scripts/bench/admission.py --profile chat-fast --stream false

It builds the app on a throwaway PostgreSQL database and Redis key prefix, starts the stub
upstream (scripts/stub_upstream.py, its own process, not counted), and sends requests through
the Flask test client to `/api/ai/chat-fast`, `/v1/chat/completions` and `/v1/messages`
(and `/api/ai/chat` for comparison), streamed and not. For each case, after a warm-up, it
prints the CPU time of this process per request (time.process_time: the app's whole request,
the test client's small share included, the stub's and the drain's not), the CPU time of the
PostgreSQL backends serving the app's database (from /proc), the Redis round trips per request
(calls that sent to the server, a pipeline being one) and the commands they carried, the SQL
statements per request (with how many missed SQLAlchemy's compiled cache) and the database
transactions begun per request. The app's CPU plus the backends' (plus the redis-server's, with
--private-redis) is the request's CPU all in. The usage the fast routes queued is then stored
by one drain pass (its CPU per record is printed apart) and checked: every answered request
stored once. `--profile ROUTE` prints cProfile's top functions for that route.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402
from redis.connection import Connection  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from app import services_of  # noqa: E402
from app.cache import round_trip  # noqa: E402
from scripts.bench.procstat import TICK, own_ticks  # noqa: E402
from scripts.bench.throwaway import throwaway  # noqa: E402
from tests.support.servers import free_port, pg_admin_dsn  # noqa: E402

MODEL = "openai/gpt-4o-mini"
CLAUDE_MODEL = "claude/claude-haiku-4-5"
BODY = {"messages": [{"role": "user", "content": "benchmark me"}], "max_tokens": 16}
ADMIN = ("bench-admin", "bench admin password")
ROUTES = {
    "chat-fast": (f"/api/ai/chat-fast?model={MODEL}", {}),
    "v1/chat/completions": ("/v1/chat/completions", {"model": MODEL}),
    "v1/messages": ("/v1/messages", {"model": CLAUDE_MODEL}),
    "chat": (f"/api/ai/chat?model={MODEL}", {}),
    "chat-optimized": (f"/api/ai/chat-optimized?model={MODEL}", {}),
}


class Counts:
    """Redis round trips and commands, SQL statements and compiled-cache misses."""

    def __init__(self) -> None:
        self.round_trips = self.commands = self.statements = self.misses = 0
        self.transactions = 0
        self.trace: list[str] | None = None  # what one request sent, with --trace

    def snapshot(self) -> tuple[int, int, int, int, int]:
        return (self.round_trips, self.commands, self.statements, self.misses,
                self.transactions)


def _count_redis(counts: Counts) -> None:
    """Every send to a Redis server is one round trip (a pipeline sends all its commands in
    one); a command is sent alone (send_command) or packed with a pipeline's others."""
    send, one, many = (Connection.send_packed_command, Connection.send_command,
                       Connection.pack_commands)

    def send_packed_command(self, command, check_health=True):
        counts.round_trips += 1
        return send(self, command, check_health)

    def send_command(self, *args, **kwargs):
        counts.commands += 1
        if counts.trace is not None:
            counts.trace.append(" ".join(str(part)[:60] for part in args[:3]))
        return one(self, *args, **kwargs)

    def pack_commands(self, commands):
        commands = list(commands)
        counts.commands += len(commands)
        if counts.trace is not None:
            counts.trace.append("PIPELINE " + " | ".join(
                " ".join(str(part)[:60] for part in command[:2]) for command in commands))
        return many(self, commands)

    def pack(commands):
        """app/cache/round_trip.py's packing (its round trips bypass pack_commands)."""
        counts.commands += len(commands)
        if counts.trace is not None:
            counts.trace.append("ROUND TRIP " + " | ".join(
                " ".join(str(part)[:60] for part in command[:2]) for command in commands))
        return packs(commands)

    Connection.send_packed_command = send_packed_command
    Connection.send_command = send_command
    Connection.pack_commands = pack_commands
    packs, round_trip.pack = round_trip.pack, pack


def _count_sql(engine, counts: Counts) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _executed(conn, cursor, statement, parameters, context, executemany):
        counts.statements += 1
        if counts.trace is not None:
            counts.trace.append("SQL " + " ".join(statement.split())[:150])
        hit = getattr(context, "cache_hit", None)
        if hit is not None and hit is getattr(context.dialect, "CACHE_MISS", object()):
            counts.misses += 1

    @event.listens_for(engine, "begin")
    def _began(conn):
        counts.transactions += 1
        if counts.trace is not None:
            counts.trace.append("SQL BEGIN")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0",
                        help="ignored with --private-redis")
    parser.add_argument("--private-redis", action="store_true",
                        help="a redis-server of the script's own, whose CPU is printed too")
    parser.add_argument("--requests", type=int, default=300, help="measured per case")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--routes", default="chat-fast,v1/chat/completions,v1/messages,chat")
    parser.add_argument("--stream", default="false,true")
    parser.add_argument("--messages", type=int, default=1,
                        help="messages per request body (a conversation's turns)")
    parser.add_argument("--profile", default="", help="a route name: print cProfile's top")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--profile-out", default="",
                        help="also dump the profile there (pstats), e.g. for snakeviz")
    parser.add_argument("--trace", action="store_true",
                        help="print the Redis commands and SQL of one request per case")
    return parser.parse_args()


def _start_stub(port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "scripts/stub_upstream.py", "--port", str(port),
                                "--tokens", "16"], cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/__stub/requests", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("the stub upstream did not start")


def _setup(client, svc, stub_url: str) -> tuple[dict, str]:
    svc.admins.ensure_initial(*ADMIN)
    token = svc.sessions.login(*ADMIN)["session_token"]
    admin = {"Authorization": f"Bearer {token}"}
    for account in ({"name": "stub", "provider": "openai", "apiKey": "bench",
                     "baseUrl": stub_url + "/v1"},
                    {"name": "stub-claude", "provider": "claude", "apiKey": "bench",
                     "baseUrl": stub_url}):
        assert client.post("/api/accounts", headers=admin, json=account).status_code == 201
    for plan in ("free", "premium"):
        for tier in ("basic", "premium"):
            client.put(f"/api/plans/{plan}/{tier}", headers=admin,
                       json={"limit": 1_000_000_000, "period": "day"})
    key = client.post("/api/keys", headers=admin, json={
        "name": "bench", "requestsPerMinute": 1_000_000, "concurrencyLimit": 1000}).get_json()
    return {"x-api-key": key["data"]["apiKey"]}, key["data"]["id"]


def _send(client, url: str, body: dict, headers: dict) -> None:
    response = client.post(url, json=body, headers=headers, buffered=False)
    for _ in response.response:
        pass
    response.close()
    if response.status_code != 200:
        raise SystemExit(f"{url}: {response.status_code} {response.get_data()[:300]!r}")


def _server_cpu(server) -> float:
    """The redis-server's CPU seconds so far (user + system, from INFO)."""
    if server is None:
        return 0.0
    found = server.info("cpu")
    return float(found["used_cpu_user"]) + float(found["used_cpu_sys"])


def _backend_cpu(admin_dsn: str, database: str) -> float:
    """CPU seconds so far of the PostgreSQL backends connected to `database` (the app's pool
    keeps its connections, so the same backends serve the whole case)."""
    with psycopg.connect(admin_dsn, autocommit=True) as connection:
        pids = [row[0] for row in connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))]
    return sum(own_ticks(pid) for pid in pids) / TICK


def _drain(svc) -> tuple[int, float]:
    queue = svc.usage_queue
    if queue is None:
        return 0, 0.0
    stored, started = 0, time.process_time()
    while True:
        result = queue.drain_once("bench-drain", count=500)
        stored += result.recorded
        if not (result.recorded or result.duplicates or result.dead):
            break
    return stored, time.process_time() - started


def main() -> None:
    args = _arguments()
    stub_port = free_port()
    with throwaway(args.database_url, args.redis_url,
                   private_redis=args.private_redis) as place:
        private, name = place.private_redis, place.name
        admin_dsn = pg_admin_dsn(args.database_url)
        place.stops(_start_stub(stub_port), wait=10)
        stub_url = f"http://127.0.0.1:{stub_port}"
        app = place.app(argon2_time_cost=1, argon2_memory_kib=64)
        svc = services_of(app)
        counts = Counts()
        _count_redis(counts)
        _count_sql(svc.engine, counts)
        client = app.test_client()
        headers, key_id = _setup(client, svc, stub_url)
        _drain(svc)
        server = redis.Redis.from_url(private.url) if private is not None else None
        print(f"{'route':<22}{'stream':>7}{'CPU ms/req':>11}{'PG ms/req':>10}"
              f"{'redis RT/req':>13}{'cmds/req':>9}{'SQL/req':>8}{'SQL misses':>11}"
              f"{'txn/req':>8}"
              + (f"{'redis-server CPU ms/req':>25}" if server is not None else ""))
        answered = 0
        for stream in (value == "true" for value in args.stream.split(",")):
            for route in args.routes.split(","):
                url, extra = ROUTES[route]
                turns = [{"role": ("user", "assistant")[n % 2], "content": f"turn {n} " * 20}
                         for n in range(args.messages - 1)]
                body = {**BODY, **extra, "stream": stream,
                        "messages": turns + BODY["messages"]}
                for _ in range(args.warmup):
                    _send(client, url, body, headers)
                _drain(svc)
                profile = (cProfile.Profile(time.process_time) if route == args.profile else None)
                redis_cpu = _server_cpu(server)
                pg_cpu = _backend_cpu(admin_dsn, name)
                before, started = counts.snapshot(), time.process_time()
                if profile:
                    profile.enable()
                for _ in range(args.requests):
                    _send(client, url, body, headers)
                if profile:
                    profile.disable()
                cpu = time.process_time() - started
                after = counts.snapshot()
                redis_cpu = _server_cpu(server) - redis_cpu
                pg_cpu = _backend_cpu(admin_dsn, name) - pg_cpu
                if args.trace:
                    counts.trace = []
                    _send(client, url, body, headers)
                    traced, counts.trace = counts.trace, None
                    answered += 1
                per = [(b - a) / args.requests for a, b in zip(before, after, strict=True)]
                answered += args.warmup + args.requests
                print(f"{route:<22}{str(stream):>7}{cpu * 1000 / args.requests:>11.2f}"
                      f"{pg_cpu * 1000 / args.requests:>10.2f}"
                      f"{per[0]:>13.2f}{per[1]:>9.2f}{per[2]:>8.2f}{per[3]:>11.2f}"
                      f"{per[4]:>8.2f}"
                      + (f"{redis_cpu * 1000 / args.requests:>25.3f}" if server else ""),
                      flush=True)
                if args.trace:
                    print("\n".join(f"    {line}" for line in traced))
                stored, drain_cpu = _drain(svc)
                if stored:
                    print(f"{'  drain':<22}{'':>7}{drain_cpu * 1000 / stored:>11.2f}"
                          f"  ms CPU per stored record ({stored} records)", flush=True)
                if profile:
                    out = io.StringIO()
                    stats = pstats.Stats(profile, stream=out)
                    if args.profile_out:
                        stats.dump_stats(args.profile_out)
                    stats.sort_stats("tottime").print_stats(args.top)
                    stats.sort_stats("cumulative").print_stats(args.top)
                    print(out.getvalue())
        _drain(svc)
        with svc.engine.connect() as connection:
            recorded = connection.execute(
                text("SELECT count(*) FROM usage_events WHERE api_key_id = :key"),
                {"key": key_id}).scalar()
        print(f"usage recorded for {recorded} of {answered} answered requests")


if __name__ == "__main__":
    os.environ.setdefault("RELAYGATE_ACCESS_LOG", "")
    main()
