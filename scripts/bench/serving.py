"""The serving layer's own CPU per request: gunicorn's worker with a trivial WSGI app, under wrk.

    python scripts/bench/serving.py                         # this tree, 1 and 32 connections
    python scripts/bench/serving.py --tree /work/main       # also another checkout, same run
    python scripts/bench/serving.py --relay --tree /work/main   # the app's /v1/chat/completions
    python scripts/bench/serving.py --relay --profile /tmp/p    # cProfile of each worker thread
    python scripts/bench/serving.py --workers 2 --work-ms 1 --connections 32 --tree /work/main
        # two workers whose app spends 1 ms of CPU a request: how evenly they share the load

With --relay each tree runs the app itself (wsgi:app, its gunicorn.conf.py) on the nginx stub,
a private Redis and PostgreSQL (scripts/bench/relay_servers.py), its drain workers off (the
queued usage waits in Redis), and wrk sends the OpenAI SDK's non-streamed chat request to
/v1/chat/completions: the figure is the gunicorn processes' CPU per answer, without the
drain, Redis or PostgreSQL. --profile writes one pstats file per worker thread on exit.

The app answers a canned JSON body (about the size of a chat completion) to a POST with a JSON
body and the headers an OpenAI SDK sends, so what is measured is gunicorn's parsing, environ,
thread hand-off, keep-alive and writes: the part of a relay request that is not the app. Each
tree's gunicorn runs --workers workers (1 by default) of the tree's own worker class
(app.serving.worker), one tree at a time; the turns alternate --rounds times. Printed: requests,
req/s, the worker processes' CPU (utime + stime from /proc) per request and, with more than one
worker, the busiest worker's share of that CPU in each turn (0.50 of two is an even split: kept-
alive connections stay with the worker that accepted them, and one worker's threads share one
core). --work-ms makes the app spend that much CPU per request, as the relay does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


from scripts.bench.procstat import TICK, own_ticks, tree_ticks  # noqa: E402
from scripts.bench.relay_servers import wait_ready  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
    "model": "gpt-4o-mini", "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "The quick brown fox jumps over the lazy dog."}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 10, "total_tokens": 22}}).encode()
BODY = json.dumps({"model": "openai/gpt-4o-mini", "max_tokens": 16,
                   "messages": [{"role": "user", "content": "benchmark me"}]})
HEADERS = {"Content-Type": "application/json",
           "User-Agent": "OpenAI/Python 1.99.0", "Accept": "application/json",
           "X-Stainless-Lang": "python", "X-Stainless-Package-Version": "1.99.0"}


# The app, a module of its own written next to wrk's script: every tree's gunicorn imports it.
APP = f"""
import os
import time

ANSWER = {ANSWER!r}
WORK = float(os.environ.get("SERVING_BENCH_WORK_MS", "0")) / 1000


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)  # as the relay reads its body
    if WORK:
        until = time.thread_time() + WORK
        while time.thread_time() < until:
            pass
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(ANSWER)))])
    return [ANSWER]
"""


def _relay_key(port: int, stub_url: str) -> str:
    """An OpenAI account on the stub and a key (the trees share one database)."""
    from scripts.bench import relay

    keys = relay._setup(f"http://127.0.0.1:{port}", stub_url, ["serving"])
    return keys["serving"][0]


def _wrk_script(directory: str, key: str) -> str:
    path = os.path.join(directory, "post.lua")
    headers = "\n".join(f'wrk.headers["{name}"] = "{value}"' for name, value in
                        {**HEADERS, "Authorization": f"Bearer {key}"}.items())
    with open(path, "w") as handle:
        handle.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(BODY)}\n{headers}\n')
    return path


# gunicorn's config for --profile: the tree's own, and a cProfile around every thread's work.
PROFILED = """
import cProfile, os, threading, time
exec(open(os.path.join(os.getcwd(), "gunicorn.conf.py")).read())
_profiles = {{}}
_previous_init = globals().get("post_worker_init")


def post_worker_init(worker):
    if _previous_init:
        _previous_init(worker)
    handle, loop = worker.handle, worker.wait_for_and_dispatch_events

    def profiled(function):
        def run(*args, **kwargs):
            profile = _profiles.setdefault(threading.get_ident(),
                                           cProfile.Profile(time.thread_time))
            profile.enable()
            try:
                return function(*args, **kwargs)
            finally:
                profile.disable()
        return run

    worker.handle = profiled(handle)
    worker.wait_for_and_dispatch_events = profiled(loop)


def worker_exit(server, worker):
    for ident, profile in _profiles.items():
        profile.dump_stats(os.path.join({directory!r}, f"{{os.getpid()}}-{{ident}}.pstats"))
"""


def _start(tree: Path, directory: str, port: int, args, extra_env: dict | None = None
           ) -> subprocess.Popen:
    threads, profile = args.threads, args.profile
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{directory}",
           "RELAYGATE_MAX_CONNECTIONS_PER_ADDRESS": "0", "RELAYGATE_ACCESS_LOG": "",
           "RELAYGATE_DRAIN_USAGE": "0", "SERVING_BENCH_WORK_MS": str(args.work_ms)}
    env.pop("REDIS_URL", None)
    env.update(extra_env or {})
    config = "gunicorn.conf.py"
    if profile:
        os.makedirs(profile, exist_ok=True)
        config = os.path.join(directory, f"profiled-{port}.conf.py")
        with open(config, "w") as handle:
            handle.write(PROFILED.format(directory=os.path.abspath(profile)))
    command = [sys.executable, "-m", "gunicorn", "-c", config, "--chdir", str(tree),
               "--workers", str(args.workers), "--threads", str(threads), "--keep-alive", "5",
               "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
               "wsgi:app" if extra_env else "serving_bench_app:app"]
    process = subprocess.Popen(command, cwd=tree, env=env)
    wait_ready(process, f"http://127.0.0.1:{port}/readyz", f"gunicorn of {tree}", timeout=120)
    return process


def _relay_env(directory: str, cleanup: list) -> tuple[dict, str]:
    """The app's environment on a private stub, Redis and PostgreSQL; the stub's URL."""
    from app.db.migrations import upgrade
    from scripts.bench import relay_servers

    args = argparse.Namespace(redis_no_aof=True, database_url=None)
    stub_url, _, _ = relay_servers.start_stub(dict(os.environ), cleanup)
    redis_url, _ = relay_servers.start_redis(args, cleanup)
    database_url, _, _ = relay_servers.start_database(args, cleanup)
    upgrade(database_url)
    return {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "RELAYGATE_REDIS_PREFIX": "rgserving:", "RELAYGATE_ENV": "production",
            "RELAYGATE_SECRET_KEY": "relaygate-benchmark-secret-key-of-32-bytes-or-more",
            "RELAYGATE_METRICS_TOKEN": "relaygate-benchmark-metrics",
            "RELAYGATE_ADMIN_USERNAME": "bench-admin",
            "RELAYGATE_ADMIN_PASSWORD": "bench admin password",
            "RELAYGATE_DB_POOL_SIZE": "20"}, stub_url


def _workers(master: int) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        if int(raw[raw.rindex(b")") + 2:].split()[1]) == master:
            found.append(int(entry))
    return found


def _turn(port: int, script: str, connections: int, seconds: int,
          master: int, verbose: bool = False) -> tuple[int, float, float]:
    """(requests answered, CPU seconds of the worker tree, the busiest worker's share)."""
    workers = _workers(master)
    each = [own_ticks(pid) for pid in workers]
    before = tree_ticks([master])
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", script,
                          f"http://127.0.0.1:{port}/v1/chat/completions"],
                         capture_output=True, text=True, check=True).stdout
    after = tree_ticks([master])
    each = [own_ticks(pid) - spent for pid, spent in zip(workers, each, strict=True)]
    busiest = max(each) / sum(each) if sum(each) else float("nan")
    found = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        print(f"  wrk reported: {errors.group(0)}")
    if verbose:
        print(f"  port {port}, {connections} conn: "
              f"{re.search(r'Latency.*', out).group(0)}")  # type: ignore[union-attr]
    return (int(found.group(1)) if found else 0), (after - before) / TICK, busiest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", action="append", default=[],
                        help="another checkout to measure beside this one (repeatable)")
    parser.add_argument("--connections", default="1,32")
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--work-ms", type=float, default=0.0,
                        help="CPU the trivial app spends per request (default 0)")
    parser.add_argument("--relay", action="store_true",
                        help="the app's /v1/chat/completions instead of a trivial WSGI app")
    parser.add_argument("--profile", help="a directory for each worker thread's pstats")
    parser.add_argument("--verbose", action="store_true", help="wrk's latency line per turn")
    args = parser.parse_args()
    trees = [ROOT, *(Path(tree).resolve() for tree in args.tree)]
    cleanup: list = []
    with tempfile.TemporaryDirectory() as directory:
        servers = {}
        with open(os.path.join(directory, "serving_bench_app.py"), "w") as handle:
            handle.write(APP)
        try:
            extra_env, stub_url = _relay_env(directory, cleanup) if args.relay else ({}, "")
            for tree in trees:
                port = free_port()
                servers[tree] = (port, _start(tree, directory, port, args, extra_env))
            key = _relay_key(servers[ROOT][0], stub_url) if args.relay else "rg-bench-key"
            script = _wrk_script(directory, key)
            for connections in (int(c) for c in args.connections.split(",")):
                totals: dict[Path, list] = {tree: [0, 0.0, []] for tree in trees}
                for _ in range(args.rounds):
                    for tree in trees:
                        port, process = servers[tree]
                        answered, cpu, busiest = _turn(port, script, connections, args.seconds,
                                                       process.pid, args.verbose)
                        totals[tree][0] += answered
                        totals[tree][1] += cpu
                        totals[tree][2].append(busiest)
                for tree in trees:
                    answered, cpu, shares = totals[tree]
                    rate = answered / (args.seconds * args.rounds)
                    per = cpu * 1000 / answered if answered else float("nan")
                    split = ("" if args.workers < 2 else "  busiest worker's share "
                             + " ".join(f"{share:.2f}" for share in shares))
                    print(f"{str(tree):<28} {connections:>3} conn  {answered:>7} requests  "
                          f"{rate:>7.0f} req/s  {per:.3f} ms CPU/request (workers){split}")
        finally:
            for _, process in servers.values():
                process.send_signal(signal.SIGTERM)
                process.wait(30)
            for stop in reversed(cleanup):
                stop()


if __name__ == "__main__":
    main()
