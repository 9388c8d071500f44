"""Benchmark a warm fast-path request's three Redis round trips, in one process, on a private
redis-server that appends to its log as production does (appendonly yes, everysec).

    python scripts/bench/round_trips.py [--requests 3000] [--rounds 6]

The commands are those a warm request sends (scripts/bench/admission.py --trace): the reads
(one MGET of five values and their generations), the sticky GETEX with the quota hold's real
script (quota_take_with_slots: the counter and the key's rpm and concurrency slots), and the
slot's ZREM with the usage XADD. The ways, alternating round by round:
- `pipelines`: redis-py pipelines (five MGETs), redis-py's pool, the script asking INFO;
- `redis-py pool`: app/cache/round_trip.py on redis-py's BlockingConnectionPool, the script
  asking INFO for the server's run id (this branch's starting point);
- `lean pool`: round_trip.py on app/cache/pools.py's pool, the script asking INFO;
- `lean, named`: the lean pool, the run id named by the connection (round_trip.SERVER_ID).
Printed: the client's CPU (time.process_time) and the redis-server's (INFO cpu) per request,
the minimum and median over the rounds. The holds a round took are settled after it
(quota_settle_many, not measured), as the drain would.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from app.cache import lua  # noqa: E402
from app.cache.round_trip import SERVER_ID, send  # noqa: E402
from app.cache.topology import connect  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

KEYS = [f"rg:c:ns{i}:v3:{{k{i}}}" for i in range(5)]
GENERATIONS = [f"rg:g:ns{i}:{{k{i}}}" for i in range(5)]
COUNTER, RPM, CONCURRENCY = "rg:q:key:a:basic:day:1", "rg:slots:rpm:a", "rg:slots:concurrency:a"
FIELDS = {"record": "r" * 400, "settle": "s" * 200}


def _hold(hold_id: str, server, fill: tuple = ("", "", "")) -> tuple:
    now = int(time.time() * 1000)
    return (COUNTER, RPM, CONCURRENCY, hold_id, 10**9, now + 120_000, now, 300_000, *fill,
            server, "r-" + hold_id, 10**6, 60_000, "c-" + hold_id, 1000, 600_000)


def _server_cpu(client) -> float:
    """The redis-server's CPU seconds so far (INFO cpu: user + system, to the microsecond)."""
    found = client.info("cpu")
    return float(found["used_cpu_user"]) + float(found["used_cpu_sys"])


def pipelines(client, sha: str, hold_id: str) -> None:
    pipe = client.pipeline(transaction=False)
    for key, generation in zip(KEYS, GENERATIONS, strict=True):
        pipe.mget(key, generation)
    pipe.execute()
    pipe = client.pipeline(transaction=False)
    pipe.execute_command("GETEX", "rg:sticky:a", "EX", 300)
    pipe.execute_command("EVALSHA", sha, 3, *_hold(hold_id, ""))
    pipe.execute(raise_on_error=False)
    pipe = client.pipeline(transaction=False)
    pipe.execute_command("ZREM", CONCURRENCY, "c-" + hold_id)
    pipe.xadd("rg:usage:stream", FIELDS)
    pipe.execute(raise_on_error=False)


def round_trips(client, sha: str, hold_id: str, server) -> None:
    send(client, [("MGET", *[name for pair in zip(KEYS, GENERATIONS, strict=True)
                             for name in pair])])
    send(client, [("GETEX", "rg:sticky:a", "EX", 300),
                  ("EVALSHA", sha, 3, *_hold(hold_id, server))])
    send(client, [("ZREM", CONCURRENCY, "c-" + hold_id),
                  ("XADD", "rg:usage:stream", "*", *[part for pair in FIELDS.items()
                                                     for part in pair])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    port, folder = free_port(), tempfile.mkdtemp()
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "yes", "--appendfsync", "everysec",
                               "--dir", folder], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        lean = connect(url, socket_timeout=2)
        stock = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(
            url, max_connections=512, timeout=1.0, health_check_interval=30,
            socket_timeout=2, socket_connect_timeout=2))
        for _ in range(200):
            try:
                stock.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        for key in KEYS:
            stock.set(key, "v" * 300)
        stock.set("rg:sticky:a", "account")
        sha = stock.script_load(lua.source("quota_take_with_slots"))
        settle = stock.script_load(lua.source("quota_settle_many"))
        stock.evalsha(sha, 3, *_hold("warm", "", ("0", "0", "")))
        ways = {"pipelines": lambda hold: pipelines(stock, sha, hold),
                "redis-py pool": lambda hold: round_trips(stock, sha, hold, ""),
                "lean pool": lambda hold: round_trips(lean, sha, hold, ""),
                "lean, named": lambda hold: round_trips(lean, sha, hold, SERVER_ID)}
        found: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, way in ways.items():
                holds = [f"h-{uuid.uuid4()}" for _ in range(args.requests + 1)]
                way(holds[-1])
                ticks, cpu = _server_cpu(stock), time.process_time()
                for hold in holds[:-1]:
                    way(hold)
                spent = (time.process_time() - cpu) / args.requests * 1e6
                served = (_server_cpu(stock) - ticks) / args.requests * 1e6
                found[name].append((spent, served))
                for start in range(0, len(holds), 500):
                    stock.evalsha(settle, 1, COUNTER, "", "", 300_000,
                                  *holds[start:start + 500])
                stock.delete("rg:usage:stream")
        print(f"{'way':15} {'client CPU us/req min':>22} {'median':>8} "
              f"{'redis-server us/req min':>24} {'median':>8}")
        for name, rounds in found.items():
            spent = sorted(one for one, _ in rounds)
            served = sorted(one for _, one in rounds)
            print(f"{name:15} {spent[0]:22.1f} {spent[len(spent) // 2]:8.1f} "
                  f"{served[0]:24.1f} {served[len(served) // 2]:8.1f}")
        lean.close()
        stock.close()
    finally:
        server.kill()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
