"""The three chat modes (POST /api/ai/chat, /chat-optimized, /chat-fast) as data.

They admit by the same rules; they differ only in where each step reads and keeps its books,
which these flags say. The client-protocol routes (/v1/...) take `fast`.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import InvalidInput


@dataclass(frozen=True)
class ChatMode:
    name: str
    # The key, the model and the key's limits are read from the system of record, not a cache.
    fresh: bool = False
    # The caller and the model are resolved at the same time: read together in one Redis round
    # trip (the read-ahead every cache-first mode makes), or, when Redis cannot answer them,
    # the model beside the key on a second thread.
    parallel: bool = False
    # The quota unit stays a hold in Redis until the usage record is stored (no reservation row).
    holds_in_redis: bool = False
    # The account comes from the cached pool.
    cached_pool: bool = False
    # The usage record goes to the Redis Stream for the `drain-usage` worker to store.
    write_behind: bool = False


CHAT = ChatMode("chat", fresh=True)
# chat-optimized admits as chat-fast does and stores its usage before the answer ends: the
# hold is settled by that synchronous store (usage/settlement.py), as the drain settles fast's.
OPTIMIZED = ChatMode("optimized", parallel=True, holds_in_redis=True, cached_pool=True)
FAST = ChatMode("fast", holds_in_redis=True, cached_pool=True, write_behind=True)
MODES = {mode.name: mode for mode in (CHAT, OPTIMIZED, FAST)}


def mode_named(name: str) -> ChatMode:
    try:
        return MODES[name]
    except KeyError:
        raise InvalidInput(f"Unknown mode {name!r}.") from None
