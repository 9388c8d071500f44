"""Benchmark a warm fast-path request's three Redis round trips: redis-py pipelines against
app/cache/round_trip.py, in one process, on a private redis-server.

    python scripts/bench/round_trips.py [--requests 3000] [--rounds 6]

The commands are those a warm request sends (scripts/bench/admission.py --trace): the reads
(five MGETs of a value and its generation, as pipelines sent them, against one MGET of all
ten), the sticky GETEX with the quota hold's EVALSHA, and the slot's ZREM with the usage XADD.
The two ways alternate round by round; printed: the client's CPU (time.process_time) and the
redis-server's (from /proc) per request, the minimum and median over the rounds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.cache.round_trip import send  # noqa: E402
from app.cache.topology import connect  # noqa: E402
from scripts.bench.procstat import TICK, own_ticks  # noqa: E402
from tests.support.servers import PrivateRedis  # noqa: E402

KEYS = [f"rg:c:ns{i}:v3:{{k{i}}}" for i in range(5)]
GENERATIONS = [f"rg:g:ns{i}:{{k{i}}}" for i in range(5)]
HOLD = ("rg:q:a", "rg:slots:rpm:a", "rg:slots:concurrency:a", "h1", 100, 1, 2, 3, "", "", "",
        "s1", 10, 60_000, "s2", 5, 600_000)
FIELDS = {"record": "r" * 400, "settle": "s" * 200}


def pipelines(client, sha: str) -> None:
    pipe = client.pipeline(transaction=False)
    for key, generation in zip(KEYS, GENERATIONS, strict=True):
        pipe.mget(key, generation)
    pipe.execute()
    pipe = client.pipeline(transaction=False)
    pipe.execute_command("GETEX", "rg:sticky:a", "EX", 300)
    pipe.execute_command("EVALSHA", sha, 3, *HOLD)
    pipe.execute(raise_on_error=False)
    pipe = client.pipeline(transaction=False)
    pipe.execute_command("ZREM", "rg:slots:concurrency:a", "s2")
    pipe.xadd("rg:usage:stream", FIELDS)
    pipe.execute(raise_on_error=False)


def round_trips(client, sha: str) -> None:
    send(client, [("MGET", *[name for pair in zip(KEYS, GENERATIONS, strict=True)
                             for name in pair])])
    send(client, [("GETEX", "rg:sticky:a", "EX", 300), ("EVALSHA", sha, 3, *HOLD)])
    send(client, [("ZREM", "rg:slots:concurrency:a", "s2"),
                  ("XADD", "rg:usage:stream", "*", *[part for pair in FIELDS.items()
                                                     for part in pair])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    server = PrivateRedis().start()
    try:
        assert server.process is not None
        client = connect(server.url, socket_timeout=2)
        for key in KEYS:
            client.set(key, "v" * 300)
        # the hold script's answer, without its work: what is measured is the round trip
        sha = client.script_load("return {1, 5}")
        found: dict[str, list[tuple[float, float]]] = {"pipelines": [], "round_trip.py": []}
        for _ in range(args.rounds):
            for name, way in (("pipelines", pipelines), ("round_trip.py", round_trips)):
                way(client, sha)
                ticks, cpu = own_ticks(server.process.pid), time.process_time()
                for _ in range(args.requests):
                    way(client, sha)
                spent = (time.process_time() - cpu) / args.requests * 1e6
                served = (own_ticks(server.process.pid) - ticks) / TICK / args.requests * 1e6
                found[name].append((spent, served))
                client.delete("rg:usage:stream")
        print(f"{'way':15} {'client CPU us/req min':>22} {'median':>8} "
              f"{'redis-server us/req median':>27}")
        for name, rounds in found.items():
            spent = sorted(one for one, _ in rounds)
            served = sorted(one for _, one in rounds)
            print(f"{name:15} {spent[0]:22.1f} {spent[len(spent) // 2]:8.1f} "
                  f"{served[len(served) // 2]:27.1f}")
        client.close()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
