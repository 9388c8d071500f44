"""Benchmark the chat relay: what Relaygate adds to the upstream's own latency.

From a checkout, with PostgreSQL (127.0.0.1:5432, user postgres) and Redis (127.0.0.1:6379)
running as for the tests:

    python scripts/bench/relay.py                      # --seconds 8 --connections 1,32
    python scripts/bench/relay.py --worker-class gevent

It starts the stub upstream (scripts/stub_upstream.py) and the app under gunicorn on a
throwaway PostgreSQL database and a Redis key prefix, then measures in one run: (a) requests
straight to the stub, (b) the same through `chat`, `chat-optimized` and `chat-fast`, and the
client-protocol routes `/v1/chat/completions` (OpenAI, relayed as sent) and `/v1/messages`
(Anthropic, to a Claude account on the stub), non-streaming and streaming, printing requests/s,
p50/p99 time-to-first-byte and total latency, and the time-to-first-byte each route adds over
the stub answering its protocol directly, once per client concurrency (default 1, then 32).
The cases take turns (`--rounds` short slices each, interleaved), so a machine whose load
changes during the run weighs on every route alike. Then each protocol route's throughput and
added time-to-first-byte as a ratio of chat-fast's, from a run where every client connection
sends chat-fast, the protocol routes and the stub direct one request each in turn: on a
machine shared with other work only request-by-request turns give every route the same load.
Then (c) holds N concurrent streams
(default 500) through `chat-fast` and counts errors. gunicorn's `drain-usage` worker runs as in
production; at the end the script waits for it and compares the requests recorded against the
requests answered. It removes everything it made.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
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

from app.db.migrations import upgrade  # noqa: E402
from tests.support.servers import free_port, pg_admin_dsn, pg_drop, pg_execute  # noqa: E402

SECRET = "relaygate-benchmark-secret-key-of-32-bytes-or-more"
MODEL = "openai/gpt-4o-mini"
CLAUDE_MODEL = "claude/claude-haiku-4-5"
BODY = {"messages": [{"role": "user", "content": "benchmark me"}], "max_tokens": 16}
ADMIN = ("bench-admin", "bench admin password")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="per case and client concurrency, split over --rounds turns")
    parser.add_argument("--rounds", type=int, default=4,
                        help="turns the cases take, interleaved, within --seconds")
    parser.add_argument("--connections", default="1,32",
                        help="comma-separated client concurrencies; each is measured in turn")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=256)
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "gevent"])
    parser.add_argument("--streams", type=int, default=500)
    return parser.parse_args()


def _start(command: list[str], env: dict, ready_url: str) -> subprocess.Popen:
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    # A loaded shared machine can take a minute or more to start gunicorn's workers.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(ready_url, timeout=1).status_code < 500:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"{command[2]} exited during start-up")
        time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"{ready_url} did not answer within 180 s")


def _setup(base: str, stub_url: str) -> tuple[str, str, dict]:
    """An account on the stub, quotas out of the way, and a key: (key, key id, admin headers)."""
    token = httpx.post(f"{base}/api/sessions/login",
                       json={"username": ADMIN[0], "password": ADMIN[1]}).json()
    headers = {"Authorization": f"Bearer {token['data']['sessionToken']}"}
    httpx.post(f"{base}/api/accounts", headers=headers, json={
        "name": "stub", "provider": "openai", "apiKey": "bench", "baseUrl": stub_url + "/v1"})
    httpx.post(f"{base}/api/accounts", headers=headers, json={
        "name": "stub-claude", "provider": "claude", "apiKey": "bench", "baseUrl": stub_url})
    for plan in ("free", "premium"):
        for tier in ("basic", "premium"):
            httpx.put(f"{base}/api/plans/{plan}/{tier}", headers=headers,
                      json={"limit": 1_000_000_000, "period": "day"})
    key = httpx.post(f"{base}/api/keys", headers=headers, json={"name": "bench"}).json()
    return key["data"]["apiKey"], key["data"]["id"], headers


async def _one(client: httpx.AsyncClient, url: str, body: dict, headers: dict):
    started, chunks = time.perf_counter(), []
    async with client.stream("POST", url, json=body, headers=headers) as response:
        first = None
        async for chunk in response.aiter_raw():
            first = first or time.perf_counter()
            chunks.append(chunk)
        ok = response.status_code == 200
    done = time.perf_counter()
    if not ok:
        return f"{response.status_code} {b''.join(chunks)[:200]!r}", 0, 0
    return ok, (first or done) - started, done - started


async def _drive(url: str, body: dict, headers: dict, connections: int, seconds: float):
    ttfb, total, failures = [], [], 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        async def worker():
            nonlocal failures
            while time.perf_counter() < deadline:
                ok, first, whole = await _one(client, url, body, headers)
                if ok is True:
                    ttfb.append(first)
                    total.append(whole)
                else:
                    failures += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    return ttfb, total, failures


async def _rotate(cases: list[tuple], stream: bool, connections: int, seconds: float) -> dict:
    """Each client connection sends the cases' requests in turn, one of each, so every route
    meets the very load the others meet: {name: (ttfbs, totals, failures)}."""
    measured = {name: ([], [], 0) for name, *_ in cases}
    deadline = time.perf_counter() + seconds
    # Two origins (the stub and the gateway), each with its `connections` kept alive.
    limits = httpx.Limits(max_connections=2 * connections,
                          max_keepalive_connections=2 * connections)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        async def worker(turn: int):
            while time.perf_counter() < deadline:
                name, url, headers, extra, _ = cases[turn % len(cases)]
                turn += 1
                ok, first, whole = await _one(client, url, {**BODY, **extra, "stream": stream},
                                              headers)
                ttfb, total, failures = measured[name]
                if ok is True:
                    ttfb.append(first)
                    total.append(whole)
                else:
                    measured[name] = (ttfb, total, failures + 1)

        await asyncio.gather(*(worker(turn) for turn in range(connections)))
    return measured


async def _hold_streams(url: str, headers: dict, count: int) -> tuple[int, list, float]:
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    started = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        results = await asyncio.gather(
            *(_one(client, url, {**BODY, "stream": True}, headers) for _ in range(count)),
            return_exceptions=True)
    failures = [r if isinstance(r, BaseException) else r[0] for r in results
                if isinstance(r, BaseException) or r[0] is not True]
    return count - len(failures), failures, time.perf_counter() - started


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


def _cases(base: str, stub_url: str, api_key: str) -> list[tuple]:
    """(name, url, headers, body members, the direct-to-stub case its added ttfb is against)."""
    openai_direct, anthropic_direct = "stub (openai)", "stub (anthropic)"
    mine = {"x-api-key": api_key}
    cases = [
        (openai_direct, f"{stub_url}/v1/chat/completions", {"Authorization": "Bearer bench"},
         {"model": "gpt-4o-mini"}, None),
        (anthropic_direct, f"{stub_url}/v1/messages", {"x-api-key": "bench"},
         {"model": "claude-haiku-4-5-20251001"}, None),
    ]
    for route in ("chat", "chat-optimized", "chat-fast"):
        cases.append((route, f"{base}/api/ai/{route}?model={MODEL}", mine, {}, openai_direct))
    cases.append(("v1/chat/compl.", f"{base}/v1/chat/completions", mine, {"model": MODEL},
                  openai_direct))
    cases.append(("v1/messages", f"{base}/v1/messages", mine, {"model": CLAUDE_MODEL},
                  anthropic_direct))
    # Translated: an OpenAI client on a Claude account (app/protocols), beside passthrough.
    cases.append(("v1/chat->claude", f"{base}/v1/chat/completions", mine,
                  {"model": CLAUDE_MODEL}, anthropic_direct))
    return cases


def _measure(args, base: str, stub_url: str, api_key: str, connections: int) -> int:
    """Prints one table; answers how many chat requests succeeded.

    The cases take turns in short slices (`--rounds` per case, in a new order each round)
    rather than one long block each: on a shared machine the load comes and goes, and the
    drain worker is still storing what the routes before queued, so a fixed order would
    favour whatever follows the synchronous routes (chat-fast did, before the protocol
    routes)."""
    cases = _cases(base, stub_url, api_key)
    print(f"{'route':<17}{'stream':>7}{'req/s':>9}{'ttfb p50':>10}{'ttfb p99':>10}"
          f"{'total p50':>11}{'total p99':>11}{'+ttfb p50':>11}{'fail':>6}")
    answered, rounds = 0, max(1, args.rounds)
    for stream in (False, True):
        measured = {name: ([], [], 0) for name, *_ in cases}
        order = random.Random(connections)
        for _ in range(rounds):
            for name, url, headers, extra, _ in order.sample(cases, len(cases)):
                ttfb, total, failures = asyncio.run(_drive(
                    url, {**BODY, **extra, "stream": stream}, headers, connections,
                    args.seconds / rounds))
                seen_ttfb, seen_total, seen_failures = measured[name]
                measured[name] = (seen_ttfb + ttfb, seen_total + total, seen_failures + failures)
        for name, _, _, _, against in cases:
            ttfb, total, failures = measured[name]
            p50 = _pct(ttfb, 0.5)
            added = p50 - _pct(measured[against][0], 0.5) if against else 0.0
            if against:
                answered += len(total)
            print(f"{name:<17}{str(stream):>7}{len(total) / args.seconds:>9.0f}{p50:>10.1f}"
                  f"{_pct(ttfb, 0.99):>10.1f}{_pct(total, 0.5):>11.1f}{_pct(total, 0.99):>11.1f}"
                  f"{added:>11.1f}{failures:>6}")
        answered += _head_to_head(args, cases, stream, connections)
    return answered


def _head_to_head(args, cases: list[tuple], stream: bool, connections: int) -> int:
    """The protocol routes against chat-fast request by request (with the stub answering each
    protocol directly in the same rotation): throughput as connections / mean latency, and
    time-to-first-byte added over the stub's own for that protocol. Answers how many chat
    requests succeeded."""
    names = ("stub (openai)", "stub (anthropic)", "chat-fast", "v1/chat/compl.", "v1/messages")
    chosen = [case for case in cases if case[0] in names]
    measured = asyncio.run(_rotate(chosen, stream, connections, args.seconds * len(chosen)))
    against = {name: against for name, *_, against in chosen}

    def figures(name: str) -> tuple[float, float]:
        ttfb, total, _ = measured[name]
        rate = connections * len(total) / sum(total) if total else 0.0
        return rate, _pct(ttfb, 0.5) - _pct(measured[against[name]][0], 0.5)

    fast_rate, fast_added = figures("chat-fast")
    for name in ("v1/chat/compl.", "v1/messages"):
        rate, added = figures(name)
        print(f"  {name} vs chat-fast (stream={stream}, request by request): throughput "
              f"{rate / fast_rate if fast_rate else 0:.2f}x ({rate:.0f} vs {fast_rate:.0f} "
              f"req/s), added ttfb {added:.1f} ms vs {fast_added:.1f} ms, failures "
              f"{measured[name][2]} vs {measured['chat-fast'][2]}")
    return sum(len(measured[name][1]) for name in names if against[name])


def _recorded(base: str, key_id: str, headers: dict, expected: int) -> int:
    """The key's recorded requests once the drain worker has caught up (or 60 s passed)."""
    deadline, recorded = time.monotonic() + 60, -1
    while time.monotonic() < deadline:
        usage = httpx.get(f"{base}/api/keys/{key_id}", headers=headers).json()["data"]["usage"]
        recorded = usage["totalRequests"]
        if recorded >= expected:
            break
        time.sleep(0.5)
    return recorded


def main() -> None:
    args = _arguments()
    admin = pg_admin_dsn(args.database_url)
    name = f"rg_bench_{uuid.uuid4().hex[:8]}"
    database_url = args.database_url.rsplit("/", 1)[0] + "/" + name
    prefix = f"rgbench:{uuid.uuid4().hex[:8]}:"
    port, stub_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": args.redis_url,
           "RELAYGATE_REDIS_PREFIX": prefix, "RELAYGATE_SECRET_KEY": SECRET,
           "RELAYGATE_METRICS_TOKEN": "relaygate-benchmark-metrics",
           "RELAYGATE_ENV": "production", "PYTHONPATH": str(ROOT),
           "RELAYGATE_ADMIN_USERNAME": ADMIN[0], "RELAYGATE_ADMIN_PASSWORD": ADMIN[1],
           "RELAYGATE_DB_POOL_SIZE": "20", "RELAYGATE_ACCESS_LOG": ""}
    pg_execute(admin, f'CREATE DATABASE "{name}"')
    processes = []
    try:
        upgrade(database_url)
        stub_url = f"http://127.0.0.1:{stub_port}"
        processes.append(_start([sys.executable, "scripts/stub_upstream.py", "--port",
                                 str(stub_port), "--tokens", "16"], env,
                                stub_url + "/__stub/requests"))
        base = f"http://127.0.0.1:{port}"
        processes.append(_start(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app",
             "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
             "--worker-class", args.worker_class, "--threads", str(args.threads),
             "--worker-connections", str(args.streams + 100), "--backlog", "2048",
             "--log-level", "warning"], env, base + "/readyz"))
        api_key, key_id, headers = _setup(base, stub_url)
        answered = 0
        for connections in (int(n) for n in args.connections.split(",")):
            print(f"\ngunicorn {args.workers} workers, {args.worker_class}, {args.threads} "
                  f"threads; {connections} connections, {args.seconds:g} s per case; "
                  f"{os.cpu_count()} cores shared with the stub and this driver (times in ms)")
            answered += _measure(args, base, stub_url, api_key, connections)
        httpx.post(f"{stub_url}/__stub/behaviour", json={"tokenDelay": 0.05})
        ok, failed, seconds = asyncio.run(_hold_streams(
            f"{base}/api/ai/chat-fast?model={MODEL}", {"x-api-key": api_key}, args.streams))
        print(f"{args.streams} concurrent streams through chat-fast: {ok} completed, "
              f"{len(failed)} failed, {seconds:.1f} s")
        for reason in sorted({repr(failure) for failure in failed}):
            print(f"  failure: {reason}")
        answered += ok
        print(f"usage recorded for {_recorded(base, key_id, headers, answered)} of {answered} "
              f"answered chat requests")
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        client = redis.Redis.from_url(args.redis_url)
        stale = list(client.scan_iter(match=prefix + "*", count=1000))
        if stale:
            client.delete(*stale)
        pg_drop(admin, name)


if __name__ == "__main__":
    main()
