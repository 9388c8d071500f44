"""What an idle instance costs: CPU of gunicorn (master, two workers) and the drain, from /proc.

From a checkout, with PostgreSQL (127.0.0.1:5432, user postgres) and Redis (127.0.0.1:6379)
running as for the tests:

    python scripts/bench/idle.py                    # --seconds 30 --settle 30 --workers 2

It starts the app as deployed (gunicorn with the documented worker and the `drain-usage`
worker the master runs beside it) on a throwaway PostgreSQL database and Redis key prefix, lets
it settle (`--settle` seconds after /readyz answers), then reads the CPU time (user + system,
/proc/<pid>/stat) of the master and every process under it over `--seconds` with no request
sent, and prints it as a percentage of one core, in total and per process. It removes
everything it made.
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

from scripts.bench.throwaway import throwaway  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, CPU ticks used, command name) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), name


def _tree(root: int) -> dict[int, tuple[int, str]]:
    """{pid: (CPU ticks, label)} of `root` and every process under it."""
    parents: dict[int, tuple[int, int, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                parents[int(entry)] = found
    tree, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        if pid not in parents:
            continue
        _, ticks, name = parents[pid]
        tree[pid] = (ticks, "gunicorn master" if pid == root else _label(pid, name))
        frontier += [child for child, (ppid, _, _) in parents.items() if ppid == pid]
    return tree


def _label(pid: int, name: str) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return name
    if "drain-usage" in command:
        return "drain-usage"
    return "gunicorn worker" if "gunicorn" in command else name


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=30.0,
                        help="seconds after /readyz before measuring: the drain starts then")
    parser.add_argument("--workers", type=int, default=2)
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    port = free_port()
    with throwaway(args.database_url, args.redis_url, label="idle") as place:
        env = place.env(RELAYGATE_ACCESS_LOG="", RELAYGATE_WORKERS=str(args.workers))
        server = place.stops(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app",
             "--bind", f"127.0.0.1:{port}", "--log-level", "warning"], cwd=ROOT, env=env))
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("gunicorn did not become ready")
            time.sleep(0.2)
        time.sleep(args.settle)
        before, started = _tree(server.pid), time.monotonic()
        time.sleep(args.seconds)
        after, elapsed = _tree(server.pid), time.monotonic() - started
        total = 0.0
        print(f"idle for {elapsed:.1f} s: gunicorn master, {args.workers} workers and the drain")
        for pid, (ticks, label) in sorted(after.items()):
            spent = (ticks - before.get(pid, (0, ""))[0]) / TICKS
            total += spent
            print(f"  {label:<20} pid {pid:<8} {spent * 1000 / elapsed:7.2f} ms/s "
                  f"({100 * spent / elapsed:.2f} % of a core)")
        print(f"total: {100 * total / elapsed:.2f} % of a core")


if __name__ == "__main__":
    main()
