"""The servers scripts/bench/relay.py measures, each on a free loopback port: every start_*
appends its own stop to `cleanup`, so a failed start still removes what it made."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import redis

from scripts.bench import litellm_proxy
from scripts.bench.nginx_stub import NginxStub
from scripts.bench.private_pg import PrivatePostgres
from scripts.bench.procstat import Meter, Tracked
from tests.support.servers import free_port, pg_admin_dsn, pg_drop, pg_execute

ROOT = Path(__file__).resolve().parents[2]


def wait_ready(process: subprocess.Popen, url: str, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"{what} exited during start-up")
        time.sleep(0.3)
    raise SystemExit(f"{what} did not answer {url} within {timeout:g} s")


def start_stub(env: dict, cleanup: list) -> tuple[str, Meter, Callable[[float], None]]:
    """(base URL, its CPU meter, a switch making each stream take about N seconds)."""
    if NginxStub.binary():
        stub = NginxStub(free_port(), free_port())
        cleanup.append(stub.stop)
        url = stub.start()
        return url, Meter([stub.pid]), stub.slow_streams
    print("note: nginx is not installed (Debian: apt-get install -y nginx); the upstream is "
          "scripts/stub_upstream.py, which costs far more CPU per answer than nginx and so "
          "slows every gateway alike on this machine")
    port = free_port()
    process = subprocess.Popen([sys.executable, "scripts/stub_upstream.py", "--port", str(port),
                                "--tokens", "10"], cwd=ROOT, env=env)

    def stop() -> None:
        process.terminate()
        process.wait(30)

    cleanup.append(stop)
    url = f"http://127.0.0.1:{port}"
    wait_ready(process, url + "/__stub/requests", "the stub upstream")

    def slow_streams(seconds: float) -> None:
        httpx.post(f"{url}/__stub/behaviour", json={"tokenDelay": seconds / 10})

    return url, Meter([process.pid]), slow_streams


def start_redis(args, cleanup: list) -> tuple[str, int]:
    """A private redis-server: (URL, pid). It appends to a log, fsync every second, as
    docs/deploy.md asks of a deployment that queues usage (--redis-no-aof: no persistence)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    directory = tempfile.mkdtemp(prefix="relaygate-bench-redis-")
    port = free_port()
    persistence = (["--appendonly", "no"] if args.redis_no_aof else
                   ["--appendonly", "yes", "--appendfsync", "everysec"])
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory,
         *persistence, "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        process.terminate()
        process.wait(30)
        shutil.rmtree(directory, ignore_errors=True)

    cleanup.append(stop)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            break
        except (redis.ConnectionError, redis.BusyLoadingError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("redis-server did not start") from None
            time.sleep(0.05)
    client.close()
    return url, process.pid


def start_database(args, cleanup: list) -> tuple[str, Meter, str]:
    """(the app's database URL, a meter of the PostgreSQL work it causes, a sentence on how)."""
    name = "relaygate_bench"
    if PrivatePostgres.available():
        cluster = PrivatePostgres(free_port())
        cleanup.append(cluster.stop)
        base = cluster.start()
        pg_execute(pg_admin_dsn(base), f'CREATE DATABASE "{name}"')
        return (base.rsplit("/", 1)[0] + "/" + name, Meter([cluster.root_pid]),
                "a private PostgreSQL cluster (its whole process tree)")
    admin = pg_admin_dsn(args.database_url)
    name = f"rg_bench_{uuid.uuid4().hex[:8]}"
    pg_execute(admin, f'CREATE DATABASE "{name}"')
    cleanup.append(lambda: pg_drop(admin, name))
    watcher = psycopg.connect(admin, autocommit=True)

    def backends() -> list[int]:
        return [row[0] for row in watcher.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))]

    tracked = Tracked(backends).start()
    cleanup.append(tracked.stop)
    return (args.database_url.rsplit("/", 1)[0] + "/" + name, Meter([], [tracked]),
            "the bench database's backends on the shared server (sampled every 0.2 s)")


def start_relaygate(args, env: dict, cleanup: list) -> tuple[str, int]:
    """(base URL, gunicorn master's pid: the root of the workers and the drain worker)."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app",
               "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
               "--threads", str(args.threads), "--backlog", "2048", "--log-level", "warning"]
    if args.worker_class:
        command += ["--worker-class", args.worker_class]
    # The drain worker prints a line per batch on stdout; warnings and errors (stderr) show.
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)

    def stop() -> None:
        process.send_signal(signal.SIGTERM)
        process.wait(60)

    cleanup.append(stop)
    base = f"http://127.0.0.1:{port}"
    wait_ready(process, base + "/readyz", "gunicorn")
    return base, process.pid


def start_litellm(args, stub_url: str, cleanup: list) -> tuple[str, int] | None:
    if args.no_litellm:
        print("LiteLLM: skipped (--no-litellm); no ratios are claimed")
        return None
    executable = litellm_proxy.install(args.litellm_version, args.litellm_home)
    if isinstance(executable, str):
        print(f"LiteLLM: skipped, {executable}; no ratios are claimed")
        return None
    proxy = litellm_proxy.LiteLLMProxy(executable, free_port(), args.workers, stub_url)
    cleanup.append(proxy.stop)
    try:
        return proxy.start(), proxy.pid
    except RuntimeError as error:
        print(f"LiteLLM: skipped, {error}; no ratios are claimed")
        return None
