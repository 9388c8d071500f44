"""Several instances under faults: nothing billed twice, nothing lost, limits exact.

    .venv/bin/python -m scripts.chaos.multi_instance            # the full run (about 2.5 minutes)
    .venv/bin/python -m scripts.chaos.multi_instance --short    # the CI version (about a minute)

Starts on loopback: PgBouncer (transaction pooling) in front of a throwaway PostgreSQL
database, Redis (AOF, appendfsync everysec) as a master and a replica under three sentinels
(--short: one Redis server), the stub upstream, two app instances under gunicorn (each with its
drain worker) behind haproxy. It drives `/api/ai/chat-fast` and `/v1/chat/completions`
(streaming and not) at a steady rate through haproxy while it (a) restarts the Redis master,
(b) fails Redis over to the replica (SENTINEL FAILOVER; not in --short), (c) kills one app
instance with SIGKILL (and starts it again), (d) kills the drain workers' Redis connections
(CLIENT KILL TYPE normal: every client connection, the instances' too). Then it proves,
printing its figures: every answer the client received has exactly one usage record; the quota
counter equals the records; 60 concurrent requests against a quota of 25 across both instances
admit exactly 25; no 5xx outside the fault windows (each window's length and its 5xx are
reported). Exits 1 if a proof fails. PostgreSQL
(RELAYGATE_CHAOS_DATABASE_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres),
redis-server, pgbouncer and haproxy must be installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from app.db.migrations import upgrade
from scripts.chaos.redis_topology import RedisNode, SentinelRedis, free_port
from tests.support.servers import PrivatePgBouncer, pg_admin_dsn, pg_drop, pg_execute

ROOT = Path(__file__).resolve().parents[2]
MODEL = "openai/gpt-4o-mini"
BODY = {"messages": [{"role": "user", "content": "chaos"}], "max_tokens": 16}
ADMIN = ("chaos-admin", "chaos admin password")
HOLD_TTL = 5  # seconds: units of requests cut by the kill come back this soon
REQUEST_ID = re.compile(r'"(?:requestId|id)"\s*:\s*"(chat-[0-9a-f-]{36})"')
# Seconds after a fault during which a 5xx is expected (the fault window).
WINDOWS = {"redis-restart": 6.0, "failover": 8.0, "kill-instance": 3.0, "client-kill": 3.0}


@dataclass
class Outcome:
    started: float
    ended: float
    route: str
    status: int
    request_id: str | None = None
    complete: bool = False
    error: str | None = None


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)
    faults: list[tuple[str, float, float]] = field(default_factory=list)  # name, start, end
    lock: threading.Lock = field(default_factory=threading.Lock)


def _wait_http(url: str, process: subprocess.Popen | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{url}: the process exited during start-up")
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


class Instance:
    """One app instance: gunicorn (one worker, threads) and its drain worker, own session."""

    def __init__(self, name: str, env: dict, logdir: Path):
        self.name, self.env, self.port = name, env, free_port()
        self.log = logdir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app",
                 "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--threads", "32",
                 "--log-level", "warning"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        _wait_http(f"http://127.0.0.1:{self.port}/readyz", self.process)

    def kill(self) -> None:
        """SIGKILL the whole instance: gunicorn's master, its worker and its drain worker."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def _haproxy(workdir: Path, instances: list[Instance]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    config = workdir / "haproxy.cfg"
    servers = "\n".join(f"  server {i.name} 127.0.0.1:{i.port} check" for i in instances)
    config.write_text(f"""global
  maxconn 4000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  retries 3
  option redispatch
  retry-on conn-failure
frontend relaygate
  bind 127.0.0.1:{port}
  default_backend instances
backend instances
  balance roundrobin
  option httpchk GET /readyz
  default-server inter 300ms fall 1 rise 2
{servers}
""")
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    with open(workdir / "haproxy.log", "ab") as log:
        process = subprocess.Popen([binary, "-f", str(config), "-db"],
                                   stdout=subprocess.DEVNULL, stderr=log)
    _wait_http(f"http://127.0.0.1:{port}/readyz", process)
    return process, port


def _setup(base: str, stub_url: str) -> tuple[dict, dict]:
    login = httpx.post(f"{base}/api/sessions/login",
                       json={"username": ADMIN[0], "password": ADMIN[1]}, timeout=30).json()
    headers = {"Authorization": f"Bearer {login['data']['sessionToken']}"}
    account = httpx.post(f"{base}/api/accounts", headers=headers, timeout=30, json={
        "name": "stub", "provider": "openai", "apiKey": "chaos", "baseUrl": stub_url + "/v1",
        "maxConcurrency": 1000})
    assert account.status_code == 201, account.text
    _set_limit(base, headers, 1_000_000)
    key = httpx.post(f"{base}/api/keys", headers=headers, json={"name": "chaos"}, timeout=30)
    return headers, key.json()["data"]


def _set_limit(base: str, headers: dict, limit: int) -> None:
    answer = httpx.put(f"{base}/api/plans/free/basic", headers=headers, timeout=30,
                       json={"limit": limit, "period": "day"})
    assert answer.status_code == 200, answer.text


def _request(client: httpx.Client, base: str, route: str, stream: bool, api_key: str
             ) -> Outcome:
    if route == "v1":
        url, body = f"{base}/v1/chat/completions", {**BODY, "model": MODEL, "stream": stream}
    else:
        url, body = f"{base}/api/ai/chat-fast?model={MODEL}", {**BODY, "stream": stream}
    name = f"{route}{'-stream' if stream else ''}"
    started = time.monotonic()
    text, status, header_id = "", 0, None
    try:
        with client.stream("POST", url, json=body, headers={"x-api-key": api_key}) as answer:
            status = answer.status_code
            # /v1 answers keep the upstream's ids; the recorded one comes as a header.
            header_id = answer.headers.get("x-relaygate-request-id")
            for chunk in answer.iter_text():
                text += chunk
    except httpx.HTTPError as error:
        outcome = Outcome(started, time.monotonic(), name, status, error=type(error).__name__)
        found = REQUEST_ID.search(text)
        outcome.request_id = header_id or (found.group(1) if found else None)
        return outcome
    found = REQUEST_ID.search(text)
    complete = status == 200 and (not stream or "[DONE]" in text or "event: usage" in text)
    return Outcome(started, time.monotonic(), name, status,
                   header_id or (found.group(1) if found else None), complete)


def _drive(run: Run, base: str, api_key: str, rate: float, seconds: float, t0: float) -> None:
    """Requests at a steady `rate` per second, for `seconds`, each on a thread of its own."""
    routes = [("fast", False), ("v1", False), ("fast", True), ("v1", True)]
    client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=200))
    with ThreadPoolExecutor(max_workers=64) as pool:
        for n in range(int(rate * seconds)):
            delay = t0 + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            route, stream = routes[n % len(routes)]

            def one(route=route, stream=stream):
                outcome = _request(client, base, route, stream, api_key)
                with run.lock:
                    run.outcomes.append(outcome)

            pool.submit(one)
    client.close()


def _fault(run: Run, name: str, action) -> None:
    started = time.monotonic()
    detail = action()
    run.faults.append((name, started, time.monotonic()))
    print(f"  fault {name}: {detail} ({time.monotonic() - started:.2f} s)", flush=True)


def _kill_client_connections(redis_client) -> str:
    """CLIENT KILL of every client connection: the drain workers' and the instances' alike."""
    draining = sum(entry.get("cmd", "").startswith("x") for entry in redis_client.client_list())
    killed = redis_client.client_kill_filter(_type="normal", skipme=True)
    return f"killed {killed} client connections ({draining} last ran a stream command)"


def _records(database_url: str, ids: list[str]) -> dict[str, int]:
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT request_id, count(*) FROM usage_events WHERE request_id = ANY(%s) "
            "GROUP BY request_id", (ids,)).fetchall()
    return dict(rows)


def _counter_and_records(database_url: str, key_id: str) -> tuple[int, int]:
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as connection:
        used = connection.execute(
            "SELECT coalesce(sum(used), 0) FROM usage_counters WHERE subject = %s "
            "AND period = 'day'", (f"key:{key_id}",)).fetchone()[0]
        records = connection.execute("SELECT count(*) FROM usage_events WHERE api_key_id = %s",
                                     (key_id,)).fetchone()[0]
    return int(used), int(records)


def _exact_admission(bases: list[str], headers: dict, admin_base: str) -> tuple[int, int, list]:
    """60 concurrent requests on both instances (both routes) against a quota of 25."""
    _set_limit(admin_base, headers, 25)
    key = httpx.post(f"{admin_base}/api/keys", headers=headers, json={"name": "exact"},
                     timeout=30).json()["data"]
    barrier = threading.Barrier(60)
    client = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=100))

    def one(i: int) -> int:
        barrier.wait()
        route = "fast" if i % 2 else "v1"
        return _request(client, bases[(i // 2) % 2], route, False, key["apiKey"]).status

    with ThreadPoolExecutor(max_workers=60) as pool:
        statuses = list(pool.map(one, range(60)))
    client.close()
    return statuses.count(200), statuses.count(429), statuses


def _report(run: Run, t0: float) -> tuple[int, list[str]]:
    """Prints the fault windows; answers the 5xx outside them and the lines of failures."""
    windows = [(name, start, end + WINDOWS[name]) for name, start, end in run.faults]
    outside, lines = 0, []
    for name, start, end in windows:
        inside = [o for o in run.outcomes if o.status >= 500 or (o.error and not o.complete)
                  if start <= o.ended and o.started <= end]
        failed = [o for o in inside if o.status >= 500 or o.error]
        span = (max(o.ended for o in failed) - min(o.started for o in failed)) if failed else 0
        print(f"  window {name}: {end - start:.1f} s from t={start - t0:.1f} s; "
              f"{sum(o.status >= 500 for o in failed)} 5xx, "
              f"{sum(bool(o.error) for o in failed)} cut or refused connections, "
              f"failures spanning {span:.2f} s")
    for outcome in run.outcomes:
        if outcome.status >= 500 and not any(start <= outcome.ended and outcome.started <= end
                                             for _, start, end in windows):
            outside += 1
            lines.append(f"5xx outside a fault window: {outcome}")
    return outside, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="the CI version")
    parser.add_argument("--rate", type=float, default=None, help="requests per second")
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args(argv)
    rate = args.rate or (6.0 if args.short else 10.0)
    seconds = args.seconds or (12.0 if args.short else 44.0)
    base_url = os.environ.get("RELAYGATE_CHAOS_DATABASE_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    workdir = Path(tempfile.mkdtemp(prefix="rg-chaos-"))
    os.chmod(workdir, 0o755)
    admin = pg_admin_dsn(base_url)
    name = f"rg_chaos_{uuid.uuid4().hex[:8]}"
    direct_url = base_url.rsplit("/", 1)[0] + "/" + name
    pg_execute(admin, f'CREATE DATABASE "{name}"')
    started: list = []
    try:
        upgrade(direct_url)
        bouncer_dir = workdir / "pgbouncer"
        bouncer_dir.mkdir()
        bouncer = PrivatePgBouncer(direct_url, bouncer_dir, pool_size=20).start()
        started.append(bouncer.stop)
        if args.short:
            redis_node = RedisNode(workdir / "redis",
                                   config="appendonly yes\nappendfsync everysec\n").start()
            started.append(redis_node.kill)
            redis_url, sentinels = f"redis://{redis_node.address}/0", None
        else:
            sentinels = SentinelRedis().start()
            started.append(sentinels.stop)
            redis_url = sentinels.url
        stub_port = free_port()
        stub = subprocess.Popen([sys.executable, "scripts/stub_upstream.py", "--port",
                                 str(stub_port), "--tokens", "16"], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(lambda: (stub.terminate(), stub.wait(10)))
        stub_url = f"http://127.0.0.1:{stub_port}"
        _wait_http(stub_url + "/__stub/requests", stub)
        env = {**os.environ, "DATABASE_URL": bouncer.route(direct_url),
               "RELAYGATE_DB_PGBOUNCER": "true", "REDIS_URL": redis_url,
               "RELAYGATE_REDIS_PREFIX": "rgchaos:",
               "RELAYGATE_SECRET_KEY": "chaos-secret-key-of-at-least-32-bytes",
               "RELAYGATE_METRICS_TOKEN": "chaos-metrics-token",
               "RELAYGATE_ENV": "production", "PYTHONPATH": str(ROOT),
               "RELAYGATE_ADMIN_USERNAME": ADMIN[0], "RELAYGATE_ADMIN_PASSWORD": ADMIN[1],
               "RELAYGATE_ARGON2_MEMORY_KIB": "1024", "RELAYGATE_ACCESS_LOG": "",
               "RELAYGATE_QUOTA_RESERVATION_TTL": str(HOLD_TTL),
               "RELAYGATE_USAGE_CLAIM_IDLE_MS": "3000"}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        instances = [Instance(n, env, workdir) for n in ("a", "b")]
        starting = [threading.Thread(target=instance.start) for instance in instances]
        for instance, thread in zip(instances, starting, strict=True):
            started.append(instance.stop)
            thread.start()
        for thread in starting:
            thread.join()
        proxy, proxy_port = _haproxy(workdir, instances)
        started.append(lambda: (proxy.terminate(), proxy.wait(10)))
        base = f"http://127.0.0.1:{proxy_port}"
        headers, key = _setup(base, stub_url)
        print(f"topology: haproxy :{proxy_port} -> instances :{instances[0].port}, "
              f":{instances[1].port}; PgBouncer :{bouncer.port}; Redis {redis_url}; "
              f"{rate:g} requests/s for {seconds:g} s", flush=True)

        run, t0 = Run(), time.monotonic()
        driver = threading.Thread(target=_drive, args=(run, base, key["apiKey"], rate, seconds,
                                                       t0))
        driver.start()

        def master_client():
            if sentinels is None:
                return redis_node.client()
            return sentinels.node(sentinels.master_port()).client()

        def restart_master():
            if sentinels is None:
                redis_node.restart()
                return f"restarted redis :{redis_node.port}"
            return f"restarted master :{sentinels.restart_master()}"

        def fail_over():
            old, new = sentinels.fail_over()
            return f"master :{old} -> :{new}"

        def kill_instance():
            instances[0].kill()
            return f"SIGKILL instance a (:{instances[0].port})"

        plan = [(0.15, "redis-restart", restart_master)]
        if sentinels is not None:
            plan.append((0.35, "failover", fail_over))
        plan += [(0.55, "kill-instance", kill_instance),
                 (0.8, "client-kill", lambda: _kill_client_connections(master_client()))]
        for at, fault_name, action in plan:
            time.sleep(max(0.0, t0 + at * seconds - time.monotonic()))
            _fault(run, fault_name, action)
            if fault_name == "kill-instance":  # back for the rest and the exact-limit proof
                restart = threading.Thread(target=instances[0].start)
                restart.start()
        driver.join()
        restart.join()
        print("  instance a had started again", flush=True)
        print(f"drive done: {len(run.outcomes)} requests in {time.monotonic() - t0:.1f} s",
              flush=True)

        answered = [o for o in run.outcomes if o.complete and o.request_id]
        ids = [o.request_id for o in answered]
        deadline, counts = time.monotonic() + 90, {}
        while time.monotonic() < deadline:
            counts = _records(direct_url, ids)
            if len(counts) == len(set(ids)):
                break
            time.sleep(1)
        missing = [i for i in ids if i not in counts]
        doubled = [i for i, n in counts.items() if n > 1]
        for outcome in [o for o in answered if o.request_id in missing][:10]:
            during = [name for name, start, end in run.faults
                      if start <= outcome.ended <= end + WINDOWS[name]]
            print(f"  no record: {outcome.route} answered at t={outcome.ended - t0:.2f} s "
                  f"({outcome.request_id}), in the window of: {', '.join(during) or 'none'}")
        cut = [o for o in run.outcomes if o.status == 200 and not o.complete]
        statuses: dict[str, int] = {}
        for outcome in run.outcomes:
            label = f"{outcome.status}/{outcome.error}" if outcome.error else str(outcome.status)
            statuses[label] = statuses.get(label, 0) + 1
        print(f"outcomes: {json.dumps(dict(sorted(statuses.items())))}")
        dropped = [o for o in run.outcomes if o.error]
        print(f"answers received: {len(answered)}; with exactly one usage record: "
              f"{sum(counts.get(i) == 1 for i in ids)}; missing: {len(missing)}; "
              f"recorded twice or more: {len(doubled)}")
        print(f"requests cut (connection dropped, the kill): {len(dropped)}, of which streams "
              f"cut mid-answer: {len(cut)}; their units come back as their holds expire "
              f"({HOLD_TTL} s here)")

        time.sleep(HOLD_TTL + 1)  # holds and reservations of cut requests expire
        httpx.post(f"{base}/v1/chat/completions", headers={"x-api-key": key["apiKey"]},
                   json={**BODY, "model": MODEL, "stream": False}, timeout=30)
        deadline = time.monotonic() + 30
        while True:  # that last request's record reaches the database too
            used, records = _counter_and_records(direct_url, key["id"])
            if used == records or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        print(f"quota counter: {used}; usage records of the key: {records}")

        bases = [f"http://127.0.0.1:{i.port}" for i in instances]
        admitted, refused, statuses_60 = _exact_admission(bases, headers, base)
        print(f"60 concurrent requests, quota 25, both instances: {admitted} admitted, "
              f"{refused} refused (429)")

        outside, lines = _report(run, t0)
        for line in lines[:10]:
            print("  " + line)
        failures = []
        if missing or doubled:
            failures.append(f"{len(missing)} answers without a record, {len(doubled)} twice")
        if used != records:
            failures.append(f"counter {used} != records {records}")
        if (admitted, refused) != (25, 35):
            failures.append(f"exact admission: {admitted}/{refused}: {statuses_60}")
        if outside:
            failures.append(f"{outside} 5xx outside the fault windows")
        print("RESULT: " + ("ok" if not failures else "FAILED: " + "; ".join(failures)))
        return 0 if not failures else 1
    finally:
        for stop in reversed(started):
            try:
                stop()
            except Exception as error:  # keep stopping the rest
                print(f"stopping: {error!r}")
        pg_drop(admin, name)
        if os.environ.get("RELAYGATE_CHAOS_KEEP"):
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
