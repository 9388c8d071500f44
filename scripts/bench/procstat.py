"""CPU time from /proc: whole process trees, and processes seen once that may exit unseen.

A tree's figure is, over its live members, utime + stime + cutime + cstime (fields 14-17 of
/proc/<pid>/stat): a member that exits is reaped by its parent, whose cutime/cstime then holds
all it used, so the sum only grows. Processes that are not our children (PostgreSQL backends of
a shared server) go in a `Tracked` set, sampled often and remembered after they are gone.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks of the process and its reaped children), or None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = raw[raw.rindex(b")") + 2:].split()
    return int(fields[1]), sum(int(value) for value in fields[11:15])


def own_ticks(pid: int) -> int:
    """utime + stime of one process (its reaped children left out)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return 0
    fields = raw[raw.rindex(b")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def tree_ticks(roots: Iterable[int]) -> int:
    """CPU ticks of these processes and all their descendants, live or reaped."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found:
                parents[int(entry)], ticks[int(entry)] = found
    members = {root for root in roots if root in ticks}
    grown = True
    while grown:
        grown = False
        for pid, parent in parents.items():
            if parent in members and pid not in members:
                members.add(pid)
                grown = True
    return sum(ticks[pid] for pid in members)


class Tracked:
    """Processes named by `discover()` (called every `interval` s on a thread): each one's last
    seen CPU, kept after it exits, so a short-lived backend still counts."""

    def __init__(self, discover: Callable[[], Iterable[int]], interval: float = 0.2):
        self.discover, self.interval = discover, interval
        self.last: dict[int, int] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="cpu-tracker", daemon=True)

    def start(self) -> Tracked:
        self.sample()
        self.thread.start()
        return self

    def sample(self) -> None:
        pids = list(self.discover())
        with self.lock:
            for pid in set(pids) | set(self.last):
                ticks = own_ticks(pid)
                if ticks:
                    self.last[pid] = max(ticks, self.last.get(pid, 0))

    def ticks(self) -> int:
        self.sample()
        with self.lock:
            return sum(self.last.values())

    def _run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.sample()
            except Exception:  # noqa: BLE001 (a failed look must not end the sampling)
                continue

    def stop(self) -> None:
        self.stopping.set()


class Meter:
    """The CPU seconds of a gateway all in: process trees (by root pid) plus tracked sets.

    `parts` names some of what the whole holds (each a callable answering its CPU seconds), so
    a run can say where the time went; whatever no part names is reported as "app"."""

    def __init__(self, roots: list[int], tracked: list[Tracked] | None = None,
                 parts: dict[str, Callable[[], float]] | None = None):
        self.roots, self.tracked = roots, tracked or []
        self.parts = parts or {}

    def seconds(self) -> float:
        return (tree_ticks(self.roots) + sum(t.ticks() for t in self.tracked)) / TICK

    def split(self) -> dict[str, float]:
        """CPU seconds by part, "app" being the whole less the named parts."""
        named = {name: part() for name, part in self.parts.items()}
        return {"app": self.seconds() - sum(named.values()), **named}
