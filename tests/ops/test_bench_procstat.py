"""The benchmark's CPU accounting from /proc (scripts/bench/procstat.py)."""

import subprocess
import sys

from scripts.bench.procstat import TICK, Tracked, tree_ticks

# Burns 0.3 s of CPU, then says so on stdout and waits for a line on stdin.
BURN = ("import sys, time\nend = time.process_time() + 0.3\n"
        "while time.process_time() < end: pass\n")


def _own_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        raw = handle.read()
    fields = raw[raw.rindex(b")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def test_a_tree_keeps_the_cpu_of_a_child_that_has_exited_and_been_reaped():
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys\n"
        f"subprocess.run([sys.executable, '-c', {BURN!r}])\n"
        "print('reaped', flush=True)\nsys.stdin.readline()")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None and parent.stdout.readline() == b"reaped\n"
        # Only the parent is left: what its tree holds beyond its own CPU is the child's.
        assert tree_ticks([parent.pid]) - _own_ticks(parent.pid) >= 0.3 * TICK - 1
    finally:
        parent.communicate(b"\n", timeout=30)


def test_a_tracked_process_counts_after_it_has_exited():
    child = subprocess.Popen(
        [sys.executable, "-c", BURN + "print('burnt', flush=True)\nsys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    tracked = Tracked(lambda: [child.pid] if child.poll() is None else [])
    assert child.stdout is not None and child.stdout.readline() == b"burnt\n"
    seen = tracked.ticks()
    child.communicate(b"\n", timeout=30)
    assert seen >= 0.3 * TICK - 1
    assert tracked.ticks() == seen
