"""The three chat modes (POST /api/ai/chat, /chat-optimized, /chat-fast) as data.

They admit by the same rules; they differ only in where each step reads and keeps its books,
which these flags say. The client-protocol routes (/v1/...) take `fast`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
# chat-optimized admits as chat-fast does, and by default hands its usage to the same queue:
# the fast path's books, batched by the drain, with no per-request write on the totals' rows.
OPTIMIZED = ChatMode("optimized", parallel=True, holds_in_redis=True, cached_pool=True,
                     write_behind=True)
FAST = ChatMode("fast", holds_in_redis=True, cached_pool=True, write_behind=True)
MODES = {mode.name: mode for mode in (CHAT, OPTIMIZED, FAST)}


def modes(*, optimized_stores: bool = False) -> dict[str, ChatMode]:
    """The modes; with `optimized_stores` (RELAYGATE_CHAT_OPTIMIZED_USAGE=stored) chat-optimized
    stores its usage before its answer ends instead, its hold settled by that synchronous store
    (usage/settlement.py)."""
    if not optimized_stores:
        return dict(MODES)
    return {**MODES, OPTIMIZED.name: replace(OPTIMIZED, write_behind=False)}


def mode_named(name: str, among: dict[str, ChatMode] = MODES) -> ChatMode:
    try:
        return among[name]
    except KeyError:
        raise InvalidInput(f"Unknown mode {name!r}.") from None
