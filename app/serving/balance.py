"""A board in shared memory where each gunicorn worker posts how many connections it holds.

The workers share one listening socket and the kernel wakes them all for a new connection:
whichever gets there first takes it. Kept-alive clients then stay with that worker, and a burst
of connections (a load balancer or a client pool opening 32 at once) can land almost all on
one worker while a busy machine has the other asleep. One worker's threads share one core (the
GIL), so such a split caps the whole gateway at one core. With the board a worker that holds
more connections than an accepting sibling (by more than ACCEPT_SLACK) leaves the next
connection to it (app/serving/worker.py, GuardedThreadWorker.accept).

The master makes the board before it forks the workers (anonymous shared memory, inherited);
each worker claims a slot. A slot whose worker stopped accepting, or has not posted for
STALE_SECONDS (a killed worker), is not counted. Reads and writes take no lock: a figure read
while a sibling posts is at worst one connection off, and only decides who accepts.
"""

from __future__ import annotations

import mmap
import os
import struct

SLOTS = 64
STALE_SECONDS = 5.0
# pid (0: free), connections held (-1: not accepting), when it last posted (time.monotonic())
_SLOT = struct.Struct("qqd")


class ConnectionBoard:
    def __init__(self, slots: int = SLOTS):
        self.slots = slots
        self._memory = mmap.mmap(-1, slots * _SLOT.size)

    def claim(self, pid: int, hint: int) -> int:
        """A free slot for worker `pid`, searched from `hint` (its age: workers that boot
        together start from different slots); a slot of a dead worker is free."""
        for step in range(self.slots):
            slot = (hint + step) % self.slots
            owner = _SLOT.unpack_from(self._memory, slot * _SLOT.size)[0]
            if owner == 0 or owner == pid or not _alive(owner):
                _SLOT.pack_into(self._memory, slot * _SLOT.size, pid, -1, 0.0)
                return slot
        return hint % self.slots  # more workers than slots: share one, balance less exactly

    def post(self, slot: int, pid: int, connections: int, now: float) -> None:
        """Worker `pid` holds `connections` (-1 when it does not accept) as of `now`."""
        _SLOT.pack_into(self._memory, slot * _SLOT.size, pid, connections, now)

    def release(self, slot: int, pid: int) -> None:
        if _SLOT.unpack_from(self._memory, slot * _SLOT.size)[0] == pid:
            _SLOT.pack_into(self._memory, slot * _SLOT.size, 0, -1, 0.0)

    def fewest_elsewhere(self, slot: int, now: float) -> int | None:
        """The fewest connections an accepting sibling holds, or None without one."""
        fewest = None
        for index, (pid, connections, posted) in enumerate(_SLOT.iter_unpack(self._memory)):
            if (pid and index != slot and connections >= 0 and now - posted < STALE_SECONDS
                    and (fewest is None or connections < fewest)):
                fewest = connections
        return fewest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
