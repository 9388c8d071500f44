"""Benchmark the relay routes against LiteLLM proxy: CPU per request all in, req/s, latency, books.

From a checkout, with PostgreSQL's binaries (initdb) and redis-server installed:

    python scripts/bench/relay.py                          # --seconds 8 --sustained 60
    python scripts/bench/relay.py --seconds 5 --sustained 60
    python scripts/bench/relay.py --seconds 2 --sustained 10 --connections 1,8   # a quick look
    python scripts/bench/relay.py --no-litellm             # Relaygate alone, no ratios

What it starts, each on a free loopback port, and removes at the end:
- the upstream: nginx (Debian `nginx`) answering canned OpenAI and Anthropic replies with usage,
  JSON or server-sent events as the request's `"stream"` asks (scripts/bench/nginx_stub.py);
  without nginx, scripts/stub_upstream.py, with a note (it costs far more per answer);
- a private redis-server (append-only file, fsync every second, as docs/deploy.md asks), and a
  private PostgreSQL cluster (initdb in a temporary directory; without initdb, a throwaway
  database on --database-url whose backends are sampled from pg_stat_activity), so their CPU
  is only what Relaygate caused;
- Relaygate under gunicorn as in production (gunicorn.conf.py: the workers and the
  `drain-usage` worker), access log off;
- LiteLLM proxy (litellm[proxy]==--litellm-version from PyPI, installed once into
  ~/.cache/relaygate-bench/litellm-<version>, outside the repository), as many workers as
  Relaygate, no database (it keeps no books), request logging off, an OpenAI and an Anthropic
  model on the same stub. When it cannot be installed or started the run goes on without it
  and claims no ratios.

Then, at each client concurrency (--connections, default 1 then 32), non-streamed then
streamed, every case takes --rounds short turns in a new random order (a machine whose load
changes weighs on every case alike): the stub direct; Relaygate's `chat`, `chat-optimized`,
`chat-fast`, `/v1/chat/completions`, `/v1/messages` and an OpenAI client on a Claude account
(translated); LiteLLM's `/chat/completions` and `/v1/messages`. Each turn is followed by a wait
until Relaygate's usage queue is empty, inside the turn's CPU window: queued routes' books are
paid when the drain stores them. Printed per case: req/s, p50/p99 time to first byte and total,
the first byte added over the stub's own, CPU ms per answered request ALL IN (utime + stime
from /proc of each gateway's whole process tree, Relaygate's drain worker, private Redis and
PostgreSQL included), the cores that CPU amounts to over the load's wall time, and failures;
then each Relaygate route's CPU/request and req/s as a ratio to LiteLLM's for the same
protocol. CPU time moves far less than wall time on a shared machine: it is the main figure.
On a loaded machine the scheduler shares the cores among runnable threads, so a gateway with
many threads (gunicorn's) gets more of them than one with two event loops (uvicorn's): the
`cores` column shows what each got, and req/s ratios mean little when they differ much.

Then a sustained run (--sustained seconds at --sustained-connections) of `chat-fast` and
`/v1/chat/completions` (--sustained-routes) and of LiteLLM: req/s while loaded, the usage
queue's backlog each second (stream length / entries read but not yet stored), how long it
takes to empty once the load stops, and CPU per request including that tail.

Then --streams clients (default 500) at once each hold one stream through `chat-fast` while
the upstream takes --stream-seconds to send it, and the completed ones are counted.

At the end every answered request's usage must be stored exactly once: per route (each has its
own key) the usage events, their distinct request ids and their request count must all equal
the answers counted; otherwise the script says which and exits 1.

The load driver is scripts/bench/wire.py (asyncio sockets; it times the first byte of a
stream, which wrk cannot), and its own CPU per request is printed.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402

from app.cache.keys import RedisKeys  # noqa: E402
from app.cache.usage_stream import GROUP  # noqa: E402
from app.db.migrations import upgrade  # noqa: E402
from scripts.bench import litellm_proxy, wire  # noqa: E402
from scripts.bench import relay_servers as servers  # noqa: E402
from scripts.bench.procstat import TICK, Meter, Tracked, tree_ticks  # noqa: E402

SECRET = "relaygate-benchmark-secret-key-of-32-bytes-or-more"
MODEL, CLAUDE_MODEL = "openai/gpt-4o-mini", "claude/claude-haiku-4-5"
BODY = {"messages": [{"role": "user", "content": "benchmark me"}], "max_tokens": 16}
ADMIN = ("bench-admin", "bench admin password")
PREFIX = "rgbench:"
# Every canned answer's text ends "... the lazy dog.": an answer without its last word is cut.
EXPECT = b"dog"
STUB, RELAYGATE, LITELLM = "stub", "relaygate", "litellm"


@dataclass
class Case:
    name: str
    gateway: str
    protocol: str  # "openai" or "anthropic": the stub case and LiteLLM case it compares with
    url: str
    headers: dict
    body: dict
    key_id: str | None = None  # Relaygate's cases each bill a key of their own

    def target(self, stream: bool) -> wire.Target:
        return wire.target(self.url, self.headers, {**self.body, "stream": stream}, EXPECT)


@dataclass
class Figures:
    tally: wire.Tally = field(default_factory=wire.Tally)
    load_seconds: float = 0.0
    cpu_seconds: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)  # CPU seconds by part (Meter.split)

    @property
    def rate(self) -> float:
        return self.tally.answered / self.load_seconds if self.load_seconds else 0.0

    @property
    def cores(self) -> float:
        """CPU seconds per second of load: how much of the machine the gateway got."""
        return self.cpu_seconds / self.load_seconds if self.load_seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        answered = self.tally.answered
        return 1000 * self.cpu_seconds / answered if answered else float("nan")


@dataclass
class Gateway:
    name: str
    meter: Meter
    backlog: Callable[[], tuple[int, int]] | None = None  # (stream length, pending)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="load per case, concurrency and stream mode, split over --rounds "
                             "(default 8)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="interleaved turns each case takes within --seconds (default 4)")
    parser.add_argument("--connections", default="1,32",
                        help="comma-separated client concurrencies, each measured in turn")
    parser.add_argument("--sustained", type=float, default=60.0,
                        help="seconds of the sustained run per route; 0 skips it (default 60)")
    parser.add_argument("--sustained-connections", type=int, default=32)
    parser.add_argument("--sustained-routes", default="chat-fast,v1/chat/completions",
                        help="Relaygate routes of the sustained run (names as printed)")
    parser.add_argument("--drain-timeout", type=float, default=300.0,
                        help="longest wait for the usage queue to empty after load")
    parser.add_argument("--streams", type=int, default=500,
                        help="concurrent streams held through chat-fast at the end; 0 skips")
    parser.add_argument("--stream-seconds", type=float, default=5.0,
                        help="how long the upstream takes to send each held stream")
    parser.add_argument("--redis-no-aof", action="store_true",
                        help="the private Redis without its append-only file")
    parser.add_argument("--idle", type=float, default=5.0,
                        help="seconds Relaygate is measured idle before the load (0 skips)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, and LiteLLM's")
    parser.add_argument("--threads", type=int, default=256)
    parser.add_argument("--worker-class", default=None,
                        help="gunicorn worker class (default: gunicorn.conf.py's)")
    parser.add_argument("--litellm-version", default="1.106.2")
    parser.add_argument("--litellm-home", type=Path,
                        default=Path.home() / ".cache" / "relaygate-bench")
    parser.add_argument("--cases", default="",
                        help="only these Relaygate cases (names as printed, comma-separated); "
                             "the stubs and LiteLLM are always measured")
    parser.add_argument("--no-litellm", action="store_true", help="measure Relaygate alone")
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="used only when initdb is missing (no private cluster)")
    return parser.parse_args()


def _load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _setup(base: str, stub_url: str, names: list[str]) -> dict[str, tuple[str, str]]:
    """Accounts on the stub, quotas out of the way, and a key per route: {route: (key, id)}."""
    login = httpx.post(f"{base}/api/sessions/login",
                       json={"username": ADMIN[0], "password": ADMIN[1]}).json()
    headers = {"Authorization": f"Bearer {login['data']['sessionToken']}"}
    for account in ({"name": "stub", "provider": "openai", "apiKey": "bench",
                     "baseUrl": stub_url + "/v1"},
                    {"name": "stub-claude", "provider": "claude", "apiKey": "bench",
                     "baseUrl": stub_url}):
        httpx.post(f"{base}/api/accounts", headers=headers, json=account).raise_for_status()
    for plan in ("free", "premium"):
        for tier in ("basic", "premium"):
            httpx.put(f"{base}/api/plans/{plan}/{tier}", headers=headers,
                      json={"limit": 1_000_000_000, "period": "day"})
    keys = {}
    for name in names:
        answer = httpx.post(f"{base}/api/keys", headers=headers,
                            json={"name": f"bench {name}"[:60]})
        answer.raise_for_status()
        keys[name] = (answer.json()["data"]["apiKey"], answer.json()["data"]["id"])
    return keys


def _cases(stub_url: str, base: str, keys: dict, litellm_url: str | None) -> list[Case]:
    cases = [
        Case("stub openai", STUB, "openai", f"{stub_url}/v1/chat/completions",
             {"Authorization": "Bearer bench"}, {**BODY, "model": "gpt-4o-mini"}),
        Case("stub anthropic", STUB, "anthropic", f"{stub_url}/v1/messages",
             {"x-api-key": "bench"}, {**BODY, "model": "claude-haiku-4-5-20251001"}),
    ]
    routes: list[tuple[str, str, str, dict]] = [
        (route, "openai", f"/api/ai/{route}?model={MODEL}", {})
        for route in ("chat", "chat-optimized", "chat-fast")]
    routes += [("v1/chat/completions", "openai", "/v1/chat/completions", {"model": MODEL}),
               ("v1/messages", "anthropic", "/v1/messages", {"model": CLAUDE_MODEL}),
               ("v1/chat->claude", "anthropic", "/v1/chat/completions",
                {"model": CLAUDE_MODEL})]
    for name, protocol, path, extra in routes:
        key, key_id = keys[name]
        cases.append(Case(name, RELAYGATE, protocol, base + path, {"x-api-key": key},
                          {**BODY, **extra}, key_id))
    if litellm_url:
        bearer = {"Authorization": f"Bearer {litellm_proxy.MASTER_KEY}"}
        cases += [
            Case("litellm chat/compl.", LITELLM, "openai", f"{litellm_url}/chat/completions",
                 bearer, {**BODY, "model": litellm_proxy.OPENAI_MODEL}),
            Case("litellm v1/messages", LITELLM, "anthropic", f"{litellm_url}/v1/messages",
                 bearer, {**BODY, "model": litellm_proxy.CLAUDE_MODEL}),
        ]
    return cases


def _drain_pids(gunicorn_pid: int) -> list[int]:
    """The master's `drain-usage` children (they restart, so looked up on every sample)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read()
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        parent = int(stat[stat.rindex(b")") + 2:].split()[1])
        if parent == gunicorn_pid and b"drain-usage" in command:
            found.append(int(entry))
    return found


def _relaygate_names() -> list[str]:
    return ["chat", "chat-optimized", "chat-fast", "v1/chat/completions", "v1/messages",
            "v1/chat->claude"]


# Measuring -----------------------------------------------------------------------------------

class Run:
    """The measured run: gateways, the answers each Relaygate key got, the driver's CPU."""

    def __init__(self, args, gateways: dict[str, Gateway]):
        self.args, self.gateways = args, gateways
        self.answered: dict[str, int] = {}
        self.driver_cpu, self.driver_requests = 0.0, 0

    def load(self, case: Case, stream: bool, connections: int, seconds: float,
             limit_each: int | None = None) -> tuple[wire.Tally, float]:
        started = time.process_time()
        tally, wall = wire.drive(case.target(stream), connections, seconds, limit_each)
        self.driver_cpu += time.process_time() - started
        self.driver_requests += tally.answered + tally.failures
        if case.key_id:
            self.answered[case.key_id] = self.answered.get(case.key_id, 0) + tally.answered
        return tally, wall

    def drained(self, gateway: Gateway, timeout: float | None = None,
                every: float = 0.1, series: list | None = None) -> float:
        """Wait until the usage queue is empty (stored and acknowledged): seconds waited."""
        if gateway.backlog is None:
            return 0.0
        started = time.monotonic()
        deadline = started + (timeout or self.args.drain_timeout)
        while time.monotonic() < deadline:
            length, pending = gateway.backlog()
            if series is not None:
                series.append((length, pending))
            if length == 0 and pending == 0:
                return time.monotonic() - started
            time.sleep(every)
        print(f"  ! the usage queue did not empty within {timeout or self.args.drain_timeout:g} s")
        return time.monotonic() - started

    def turn(self, case: Case, stream: bool, connections: int, seconds: float,
             figures: Figures) -> None:
        gateway = self.gateways[case.gateway]
        before = gateway.meter.split()
        tally, wall = self.load(case, stream, connections, seconds)
        self.drained(gateway)
        after = gateway.meter.split()
        for part, spent in after.items():
            figures.parts[part] = figures.parts.get(part, 0.0) + spent - before.get(part, 0.0)
        figures.cpu_seconds += sum(after.values()) - sum(before.values())
        figures.load_seconds += wall
        figures.tally.add(tally)

    def warm_up(self, cases: list[Case]) -> None:
        """A few answers per case and mode, not measured: first requests import and connect."""
        for case in cases:
            for stream in (False, True):
                tally, _ = self.load(case, stream, 2, 60, limit_each=5)
                if tally.answered == 0:
                    raise SystemExit(f"{case.name} (stream={stream}) answers nothing: "
                                     f"{dict(tally.reasons)}")
        self.drained(self.gateways[RELAYGATE])


def _header() -> str:
    return (f"{'case':<20}{'req/s':>8}{'ttfb p50':>10}{'ttfb p99':>10}{'total p50':>11}"
            f"{'total p99':>11}{'+ttfb p50':>11}{'CPU ms/req':>12}{'cores':>7}{'fail':>6}")


def _row(case: Case, figures: Figures, stub_ttfb: float | None) -> str:
    tally = figures.tally
    p50 = wire.percentile(tally.ttfb, 0.5)
    added = f"{p50 - stub_ttfb:>11.1f}" if stub_ttfb is not None else f"{'':>11}"
    return (f"{case.name:<20}{figures.rate:>8.0f}{p50:>10.1f}"
            f"{wire.percentile(tally.ttfb, 0.99):>10.1f}{wire.percentile(tally.total, 0.5):>11.1f}"
            f"{wire.percentile(tally.total, 0.99):>11.1f}{added}{figures.cpu_ms:>12.2f}"
            f"{figures.cores:>7.2f}{tally.failures:>6}")


def _ratios(cases: list[Case], measured: dict[str, Figures], label: str) -> None:
    litellm = {case.protocol: case for case in cases if case.gateway == LITELLM}
    if not litellm:
        return
    print(f"  against LiteLLM ({label}): its CPU/request over ours (target >= 5), "
          "our req/s over its")
    for case in cases:
        if case.gateway != RELAYGATE or case.protocol not in litellm:
            continue
        theirs, ours = measured[litellm[case.protocol].name], measured[case.name]
        cpu = theirs.cpu_ms / ours.cpu_ms if ours.cpu_ms else float("nan")
        rate = ours.rate / theirs.rate if theirs.rate else float("nan")
        print(f"    {case.name:<20} vs {litellm[case.protocol].name:<20} CPU {cpu:5.2f}x "
              f"({ours.cpu_ms:.2f} vs {theirs.cpu_ms:.2f} ms)   req/s {rate:5.2f}x "
              f"({ours.rate:.0f} vs {theirs.rate:.0f})")
        for reason, count in ours.tally.reasons.most_common(3):
            print(f"      failure x{count}: {reason}")


def _matrix(run: Run, cases: list[Case], connections: int, stream: bool) -> None:
    args = run.args
    measured = {case.name: Figures() for case in cases}
    order = random.Random(f"{connections}{stream}")
    rounds = max(1, args.rounds)
    for _ in range(rounds):
        for case in order.sample(cases, len(cases)):
            run.turn(case, stream, connections, args.seconds / rounds, measured[case.name])
    stubs = {case.protocol: wire.percentile(measured[case.name].tally.ttfb, 0.5)
             for case in cases if case.gateway == STUB}
    print(f"\n{connections} connection(s), stream={stream}, {args.seconds:g} s per case in "
          f"{rounds} turns; load average {_load_average()} (times in ms)")
    print(_header())
    for case in cases:
        against = stubs.get(case.protocol) if case.gateway != STUB else None
        print(_row(case, measured[case.name], against))
    _split(cases, measured)
    _ratios(cases, measured, f"{connections} conn., stream={stream}")


def _split(cases: list[Case], measured: dict[str, Figures]) -> None:
    """Where each Relaygate case's CPU went, in ms per answered request."""
    print("  CPU ms/req by part: " + ", ".join(
        f"{case.name} " + " ".join(
            f"{part} {1000 * spent / max(1, measured[case.name].tally.answered):.2f}"
            for part, spent in measured[case.name].parts.items())
        for case in cases if case.gateway == RELAYGATE))


def _sustained(run: Run, cases: list[Case]) -> None:
    args = run.args
    wanted = {name.strip() for name in args.sustained_routes.split(",")}
    chosen = [case for case in cases if (case.gateway == RELAYGATE and case.name in wanted)
              or (case.gateway == LITELLM and case.protocol == "openai")]
    measured: dict[str, Figures] = {}
    print(f"\nsustained: {args.sustained:g} s at {args.sustained_connections} connections, "
          f"not streamed; load average {_load_average()}")
    for case in chosen:
        gateway = run.gateways[case.gateway]
        figures = measured[case.name] = Figures()
        series: list[tuple[int, int]] = []
        stop = threading.Event()

        def sample(gateway: Gateway = gateway, series: list = series,
                   stop: threading.Event = stop) -> None:
            while not stop.wait(1.0):
                if gateway.backlog:
                    series.append(gateway.backlog())

        sampler = threading.Thread(target=sample, daemon=True)
        before = gateway.meter.split()
        sampler.start()
        tally, wall = run.load(case, False, args.sustained_connections, args.sustained)
        stop.set()
        sampler.join()
        tail: list[tuple[int, int]] = []
        emptied = run.drained(gateway, every=1.0, series=tail)
        after = gateway.meter.split()
        figures.parts = {part: spent - before.get(part, 0.0) for part, spent in after.items()}
        figures.cpu_seconds = sum(after.values()) - sum(before.values())
        figures.load_seconds, figures.tally = wall, tally
        end_to_end = tally.answered / (wall + emptied) if wall + emptied else 0.0
        stored = (f"{end_to_end:6.0f} answered and stored per s" if gateway.backlog else
                  "keeps no books")
        print(f"  {case.name:<20} {figures.rate:6.0f} req/s while loaded, {stored}; "
              f"total p50 {wire.percentile(tally.total, 0.5):.1f} "
              f"p99 {wire.percentile(tally.total, 0.99):.1f} ms; CPU {figures.cpu_ms:.2f} "
              f"ms/request all in ({figures.cores:.2f} cores); {tally.failures} failures")
        if len(figures.parts) > 1:
            print("    CPU ms/req by part: " + " ".join(
                f"{part} {1000 * spent / max(1, tally.answered):.2f}"
                for part, spent in figures.parts.items()))
        if gateway.backlog:
            print("    backlog each second under load (stream length/pending): "
                  + " ".join(f"{length}/{pending}" for length, pending in series))
            print(f"    after the load: {' '.join(f'{length}' for length, _ in tail)} -> "
                  f"empty {emptied:.1f} s after the load stopped")
    _ratios(chosen, measured, "sustained")


def _held_streams(run: Run, cases: list[Case], slow_streams: Callable[[float], None]) -> None:
    """N clients at once each holding one stream through chat-fast while the upstream takes
    --stream-seconds to send it: how many complete."""
    args = run.args
    slow_streams(args.stream_seconds)
    case = next(case for case in cases if case.name == "chat-fast")
    tally, wall = run.load(case, True, args.streams, 600, limit_each=1)
    slow_streams(0)
    print(f"\n{args.streams} concurrent streams through chat-fast, each about "
          f"{args.stream_seconds:g} s from the upstream: {tally.answered} completed, "
          f"{tally.failures} failed, {wall:.1f} s")
    for reason, count in tally.reasons.most_common(5):
        print(f"  failure x{count}: {reason}")
    run.drained(run.gateways[RELAYGATE])


def _books(database_url: str, cases: list[Case], answered: dict[str, int]) -> bool:
    """Every answer's usage stored exactly once, route by route: True when all agree."""
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    exact = True
    print("\nbooks (usage events / distinct request ids / requests recorded vs answered):")
    with psycopg.connect(dsn) as connection:
        for case in cases:
            if not case.key_id:
                continue
            events, distinct, requests = connection.execute(
                "SELECT count(*), count(DISTINCT request_id), coalesce(sum(request_count), 0) "
                "FROM usage_events WHERE api_key_id = %s", (case.key_id,)).fetchone()
            expected = answered.get(case.key_id, 0)
            ok = events == distinct == requests == expected
            exact &= ok
            print(f"  {case.name:<20} {events:>7} / {distinct:>7} / {requests:>7} vs "
                  f"{expected:>7}  {'exact' if ok else 'WRONG'}")
    return exact


def main() -> None:
    args = _arguments()
    print(f"load average at start {_load_average()}; {os.cpu_count()} cores, shared with the "
          "upstream stub, the load driver and whatever else runs here")
    cleanup: list[Callable] = []
    exit_code = 0
    # A SIGTERM stops the run through the cleanup below, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        stub_url, stub_meter, slow_streams = servers.start_stub(env, cleanup)
        redis_url, redis_pid = servers.start_redis(args, cleanup)
        database_url, database_meter, database_note = servers.start_database(args, cleanup)
        upgrade(database_url)
        env.update({"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                    "RELAYGATE_REDIS_PREFIX": PREFIX, "RELAYGATE_SECRET_KEY": SECRET,
                    "RELAYGATE_METRICS_TOKEN": "relaygate-benchmark-metrics",
                    "RELAYGATE_ENV": "production",
                    "RELAYGATE_ADMIN_USERNAME": ADMIN[0], "RELAYGATE_ADMIN_PASSWORD": ADMIN[1],
                    "RELAYGATE_DB_POOL_SIZE": "20", "RELAYGATE_ACCESS_LOG": "",
                    # Every client here is 127.0.0.1: the per-address cap (64 connections per
                    # worker) would refuse the held streams.
                    "RELAYGATE_MAX_CONNECTIONS_PER_ADDRESS": "0"})
        base, gunicorn_pid = servers.start_relaygate(args, env, cleanup)
        queue = redis.Redis.from_url(redis_url)
        stream = RedisKeys(PREFIX).usage_stream()

        def backlog() -> tuple[int, int]:
            pipe = queue.pipeline(transaction=False)
            pipe.xlen(stream)
            pipe.xpending(stream, GROUP)
            length, pending = pipe.execute(raise_on_error=False)
            if isinstance(pending, redis.ResponseError):
                # No consumer group yet: the drain makes it with the stream, on the first
                # record queued (a run of only the synchronous routes queues none).
                if "NOGROUP" not in str(pending):
                    raise pending
                return int(length), 0
            return int(length), int(pending["pending"])

        drains = Tracked(lambda: _drain_pids(gunicorn_pid)).start()
        cleanup.append(drains.stop)
        relaygate_meter = Meter(
            [gunicorn_pid, redis_pid] + database_meter.roots, database_meter.tracked,
            parts={"drain": lambda: drains.ticks() / TICK,
                   "redis": lambda: tree_ticks([redis_pid]) / TICK,
                   "postgres": database_meter.seconds})
        gateways = {RELAYGATE: Gateway(RELAYGATE, relaygate_meter, backlog),
                    STUB: Gateway(STUB, stub_meter)}
        litellm = servers.start_litellm(args, stub_url, cleanup)
        if litellm:
            gateways[LITELLM] = Gateway(LITELLM, Meter([litellm[1]]))
        keys = _setup(base, stub_url, _relaygate_names())
        cases = _cases(stub_url, base, keys, litellm[0] if litellm else None)
        if args.cases:
            wanted = {name.strip() for name in args.cases.split(",")}
            unknown = wanted - set(_relaygate_names())
            if unknown:
                raise SystemExit(f"unknown --cases {sorted(unknown)}; known: "
                                 f"{_relaygate_names()}")
            cases = [case for case in cases if case.gateway != RELAYGATE or case.name in wanted]
        print(f"Relaygate: gunicorn {args.workers} workers x {args.threads} threads and the "
              f"drain-usage worker, a private redis-server "
              f"({'no persistence' if args.redis_no_aof else 'appendfsync everysec'}), "
              f"{database_note}")
        if litellm:
            print(f"LiteLLM {args.litellm_version}: {args.workers} uvicorn workers, no database")
        run = Run(args, gateways)
        run.warm_up(cases)
        if args.idle > 0:
            before = relaygate_meter.seconds()
            time.sleep(args.idle)
            idle = (relaygate_meter.seconds() - before) / args.idle
            print(f"Relaygate idle (workers, drain, Redis, PostgreSQL): {100 * idle:.2f}% of "
                  "one core")
        for connections in (int(n) for n in args.connections.split(",")):
            for streamed in (False, True):
                _matrix(run, cases, connections, streamed)
        if args.sustained > 0:
            _sustained(run, cases)
        if args.streams > 0 and any(case.name == "chat-fast" for case in cases):
            _held_streams(run, cases, slow_streams)
        if run.driver_requests:
            print(f"\nload driver: {1000 * run.driver_cpu / run.driver_requests:.3f} ms CPU "
                  "per request (not in any gateway's figure)")
        if not _books(database_url, cases, run.answered):
            print("FAILED: some answered request's usage is missing or stored twice")
            exit_code = 1
        print(f"load average at the end {_load_average()}")
    finally:
        for stop in reversed(cleanup):
            try:
                stop()
            except Exception as error:  # noqa: BLE001 (clean up the rest regardless)
                print(f"cleanup: {error!r}")
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
