"""An API key's window limits in Redis: a log of its stored uses and its holds, per key.

Three keys per API key, in one Cluster slot (the key id as hash tag): the log (a zset of entry
ids by when they were used), their amounts, and the state with the holds. The scripts are
app/cache/scripts/key_window_*.lua; the rules, and the database fallback, live in
app/services/keys/windows.py. Raises CacheError (the service falls back to the database).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.cache.connection import RedisStore
from app.cache.keys import slot_tag


@dataclass(frozen=True)
class Entry:
    """One stored use: its id (the request id), when (ms), tokens, cost (1e-8 USD)."""

    id: str
    at_ms: int
    tokens: int
    cost: int


@dataclass(frozen=True)
class WindowSpec:
    """A window (ms) and its limits (cost in 1e-8 USD); None: not limited."""

    span_ms: int
    requests: int | None = None
    tokens: int | None = None
    cost: int | None = None


@dataclass(frozen=True)
class Refused:
    retry_ms: int
    window: int  # which of the specs, from 0
    kind: str  # requests | tokens | cost
    used: int
    limit: int


FILL = object()  # the take's answer when the log must be filled from the database first


class KeyWindowStore(RedisStore):
    def keys(self, key_id: str) -> list[str]:
        return self.redis.keys.key_windows(slot_tag(key_id))

    def take(self, key_id: str, hold_id: str, *, now_ms: int, expires_ms: int, tokens: int,
             cost: int, windows: list[WindowSpec], fresh_ms: int, ttl_ms: int,
             fill: list[Entry] | None = None):
        """None (admitted, the hold taken), a Refused, or FILL."""
        span = max(spec.span_ms for spec in windows)
        args = [hold_id, now_ms, expires_ms, tokens, cost, span, fresh_ms, ttl_ms, len(windows)]
        for spec in windows:
            args += [spec.span_ms, *("" if value is None else value
                                     for value in (spec.requests, spec.tokens, spec.cost))]
        args.append("0" if fill is None else "1")
        for entry in fill or ():
            args += [entry.id, entry.at_ms, entry.tokens, entry.cost]
        answer = self.redis.scripts.run("key_window_take", self.keys(key_id), args)
        if answer[0] == 1:
            return None
        if answer[0] == -1:
            return FILL
        kind = answer[3].decode() if isinstance(answer[3], bytes) else answer[3]
        return Refused(int(answer[1]), int(answer[2]) - 1, kind, int(answer[4]), int(answer[5]))

    def settle(self, key_id: str, hold_id: str | None, entry: Entry | None, ttl_ms: int) -> None:
        """End a hold (if any) and charge a stored use (if any); both idempotent."""
        entry_args = ["", 0, 0, 0] if entry is None else [entry.id, entry.at_ms, entry.tokens,
                                                          entry.cost]
        self.redis.scripts.run("key_window_settle", self.keys(key_id),
                               [hold_id or "", *entry_args, ttl_ms])

    def settle_many(self, settles: list[tuple[str, str | None, Entry, int]]) -> None:
        """`settle` for many (key id, hold id, entry, TTL) in one round trip."""
        self.redis.scripts.run_many("key_window_settle", [
            (self.keys(key_id), [hold_id or "", entry.id, entry.at_ms, entry.tokens, entry.cost,
                                 ttl_ms])
            for key_id, hold_id, entry, ttl_ms in settles])
