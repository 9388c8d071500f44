"""KeyWindows: an API key's window limits, `{window (minutes), requests?, tokens?, cost?}` each.

A window is sliding: what counts is the key's stored uses of the last `window` minutes, plus
the requests in flight. Each request in flight holds its estimate (one request, its prompt's
estimated tokens plus `max_tokens`, and their cost) from admission until its usage is stored;
a request is admitted only while every window still has room (used + held < limit), and its
hold is taken in the same atomic step. So the uses of any window exceed its limit by at most
what the requests admitted last used beyond their holds (docs/configuration.md, "Key limits").

Where each step happens:
- With Redis usable, one script (app/cache/scripts/key_window_take.lua) decides for every
  route on every instance. Redis keeps a log of the key's stored uses under their request ids,
  filled from the database when missing, stale (every `fresh` seconds), or filled on another
  server (a failover or a restart): the database is the record, never a counter that restarts
  at zero. A stored use joins the log after its transaction commits (Settler); a charge is
  keyed by the request id, so a redelivered queue entry and a fill never count a use twice.
- Without Redis, the database decides: the key's row is locked (PostgreSQL's row lock,
  SQLite's write lock) while its events of the window and its live holds (key_window_holds)
  are summed and the new hold is written; the hold leaves in the transaction that stores the
  request's usage.
A hold whose request died counts until it expires (`hold_seconds`), then is given back.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from app.cache import CacheError
from app.cache.key_windows import FILL, Entry, KeyWindowStore, Refused, WindowSpec
from app.db.models import KeyWindowHold
from app.errors import LimitExceeded
from app.services.base import Service
from app.services.retry import db_retry

log = logging.getLogger(__name__)

UNIT = Decimal("1e-8")  # cost in Redis: integer units of 1e-8 USD (the database's precision)
ATTEMPTS = 3
KINDS = {"requests": ("REQUEST", "requests"), "tokens": ("TOKEN", "tokens"),
         "cost": ("COST", "USD")}


def units(cost) -> int:
    return int((Decimal(cost) / UNIT).to_integral_value(ROUND_CEILING))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def specs(limits: list[dict]) -> list[WindowSpec]:
    """The key record's windowLimits as the store's specs."""
    return [WindowSpec(int(limit["window"]) * 60_000, limit.get("requests"),
                       limit.get("tokens"),
                       None if limit.get("cost") is None else units(limit["cost"]))
            for limit in limits]


@dataclass(frozen=True)
class WindowHold:
    """What an admitted request holds until it is settled (stored) or released."""

    key_id: str
    id: str
    store: str  # 'redis' | 'database'
    span_ms: int

    def to_json(self) -> dict:
        # Rides in the usage stream, which drains of the previous release also read: they know
        # only `keyId`, so it is written until every drain reads `key_id` too (from_json).
        return {"keyId": self.key_id, "id": self.id, "store": self.store, "span": self.span_ms}

    @classmethod
    def from_json(cls, data: dict | None) -> WindowHold | None:
        if not data:
            return None
        key_id = data["key_id"] if "key_id" in data else data["keyId"]
        return cls(key_id, data["id"], data["store"], int(data["span"]))


def decide(windows: list[WindowSpec], entries: list[Entry], held: tuple[int, int, int],
           now_ms: int) -> Refused | None:
    """The take script's rule in Python (the database's path): entries oldest first."""
    for number, spec in enumerate(windows):
        inside = [entry for entry in entries if entry.at_ms > now_ms - spec.span_ms]
        used = {"requests": len(inside) + held[0],
                "tokens": sum(entry.tokens for entry in inside) + held[1],
                "cost": sum(entry.cost for entry in inside) + held[2]}
        for kind in ("requests", "tokens", "cost"):
            limit = getattr(spec, kind)
            if limit is None or used[kind] < limit:
                continue
            left, retry = used[kind], spec.span_ms
            for entry in inside:
                left -= 1 if kind == "requests" else getattr(entry, kind)
                if left < limit:
                    retry = entry.at_ms + spec.span_ms - now_ms
                    break
            return Refused(retry, number, kind, used[kind], limit)
    return None


def refusal(refused: Refused, windows: list[WindowSpec]) -> LimitExceeded:
    minutes = windows[refused.window].span_ms // 60_000
    code, unit = KINDS[refused.kind]
    used: int | Decimal = refused.used
    limit: int | Decimal = refused.limit
    if refused.kind == "cost":
        used, limit = used * UNIT, limit * UNIT
    return LimitExceeded(
        f"The key's limit of {limit} {unit} per {minutes} minutes is reached.",
        code=f"WINDOW_{code}_LIMIT_EXCEEDED", retry_after=max(refused.retry_ms, 1) / 1000,
        details={"window": minutes, "kind": refused.kind, "used": used, "limit": limit})


class KeyWindows(Service):
    def __init__(self, *, hold_seconds: int = 600, **kwargs):
        super().__init__(**kwargs)
        self.hold_seconds = hold_seconds
        self.store = KeyWindowStore(self.cache) if self.cache is not None else None

    def _redis(self) -> KeyWindowStore | None:
        """The Redis store when Redis is configured; None: the database decides. It is tried
        even in the connection's back-off (after a slow call elsewhere Redis may well answer):
        the holds and uses other instances logged live only there, so the database alone would
        admit past them, and a use not charged there would be missing from the log. Only an
        error on the call itself hands the take to the database."""
        return self.store if self.store is not None and self.store.redis.enabled else None

    def hold(self, key: dict, *, tokens: int, cost: Decimal) -> WindowHold | None:
        """Admit one request against every window of the key and hold its estimate
        (LimitExceeded with Retry-After when a window is full); None when it has none."""
        limits = key.get("window_limits")
        if not limits:
            return None
        windows, hold_id = specs(limits), str(uuid.uuid4())
        span = max(spec.span_ms for spec in windows)
        answer = self._take_in_redis(key["id"], hold_id, windows, tokens, units(cost))
        store = "redis"
        if answer is FILL:
            answer, store = self._take_in_database(key["id"], hold_id, windows, tokens,
                                                   cost), "database"
        if isinstance(answer, Refused):
            raise refusal(answer, windows)
        return WindowHold(key["id"], hold_id, store, span)

    def _take_in_redis(self, key_id, hold_id, windows, tokens, cost):
        """None (admitted), a Refused, or FILL: Redis cannot decide, the database must."""
        store = self._redis()
        if store is None:
            return FILL
        span = max(spec.span_ms for spec in windows)
        fill = None
        try:
            for _ in range(ATTEMPTS):
                now = self.clock()
                answer = store.take(
                    key_id, hold_id, now_ms=_ms(now),
                    expires_ms=_ms(now) + self.hold_seconds * 1000, tokens=tokens, cost=cost,
                    windows=windows, fresh_ms=self.cache_ttl * 1000,
                    ttl_ms=span + 2 * self.hold_seconds * 1000, fill=fill)
                if answer is not FILL:
                    return answer
                fill = self._entries(key_id, now - timedelta(milliseconds=span))
        except CacheError as error:
            store.redis.failed(error)
        return FILL

    @db_retry
    def _entries(self, key_id: str, since: datetime) -> list[Entry]:
        with self.uow() as uow:
            rows = uow.usage_events.window_entries(key_id, since)
        return [Entry(entry_id, _ms(at), tokens, units(cost))
                for entry_id, at, tokens, cost in rows]

    @db_retry
    def _take_in_database(self, key_id, hold_id, windows, tokens, cost) -> Refused | None:
        span = max(spec.span_ms for spec in windows)
        with self.uow() as uow:
            # The row lock serialises every take of this key; the clock is read after it.
            uow.api_keys.lock(key_id)
            now = self.clock()
            rows = uow.usage_events.window_entries(key_id, now - timedelta(milliseconds=span))
            count, held_tokens, held_cost = uow.key_window_holds.live(key_id, now)
            entries = [Entry(entry_id, _ms(at), used, units(amount))
                       for entry_id, at, used, amount in rows]
            refused = decide(windows, entries, (count, held_tokens, units(held_cost)), _ms(now))
            if refused is None:
                uow.key_window_holds.add(KeyWindowHold(
                    id=hold_id, api_key_id=key_id, tokens=tokens, cost=cost,
                    expires_at=now + timedelta(seconds=self.hold_seconds)))
            uow.commit()
        return refused

    def release(self, hold: WindowHold | None) -> None:
        """The request ended with nothing used: its hold leaves (else it expires)."""
        if hold is None:
            return
        try:
            store = self._redis()
            if hold.store == "database":
                self._release_in_database(hold.id)
            elif store is not None:
                store.settle(hold.key_id, hold.id, None, self._ttl(hold))
        except Exception as error:  # the hold's expiry gives it back
            log.warning("could not release window hold %s: %s", hold.id, error)

    @db_retry
    def _release_in_database(self, hold_id: str) -> None:
        with self.uow() as uow:
            uow.key_window_holds.remove(hold_id)
            uow.commit()

    @staticmethod
    def settle_in(uow, hold: WindowHold | None) -> None:
        """Inside the transaction storing the request's usage: a database hold leaves."""
        if hold is not None and hold.store == "database":
            uow.key_window_holds.remove(hold.id)

    def charge(self, hold: WindowHold, request_id: str, at: datetime, tokens: int,
               cost: Decimal) -> None:
        """After the usage is stored: the use joins the Redis log and a Redis hold leaves.
        On a Redis error the hold counts until it expires; the sweep that gives it back has
        the log filled from the database again."""
        store = self._redis()
        if store is None:
            return
        try:
            store.settle(hold.key_id, hold.id if hold.store == "redis" else None,
                         Entry(request_id, _ms(at), tokens, units(cost)), self._ttl(hold))
        except CacheError as error:
            store.redis.failed(error)

    def charge_many(self, charges: list[tuple[WindowHold, str, datetime, int, Decimal]]
                    ) -> None:
        """`charge` for many (hold, request id, at, tokens, cost), in one Redis round trip."""
        store = self._redis()
        if not charges or store is None:
            return
        try:
            store.settle_many([
                (hold.key_id, hold.id if hold.store == "redis" else None,
                 Entry(request_id, _ms(at), tokens, units(cost)), self._ttl(hold))
                for hold, request_id, at, tokens, cost in charges])
        except CacheError as error:
            store.redis.failed(error)

    def _ttl(self, hold: WindowHold) -> int:
        return hold.span_ms + 2 * self.hold_seconds * 1000

    def standing(self, key_id: str, limits: list[dict] | None) -> list[dict]:
        """Each window's limits, what the stored uses and the holds of the database count,
        and what remains (the key views)."""
        if not limits:
            return []
        now, rows = self.clock(), []
        span = max(int(limit["window"]) for limit in limits)
        with self.uow() as uow:
            entries = uow.usage_events.window_entries(key_id, now - timedelta(minutes=span))
            held = uow.key_window_holds.live(key_id, now)
        for limit in limits:
            since = now - timedelta(minutes=int(limit["window"]))
            inside = [entry for entry in entries if entry[1] > since]
            used = {"requests": len(inside) + held[0],
                    "tokens": sum(entry[2] for entry in inside) + held[1],
                    "cost": sum((entry[3] for entry in inside), Decimal(0)) + held[2]}
            for kind, unit in (("requests", "requests"), ("tokens", "tokens"), ("cost", "USD")):
                if limit.get(kind) is None:
                    continue
                amount = Decimal(limit[kind]) if kind == "cost" else limit[kind]
                rows.append({"name": f"window:{limit['window']}m:{kind}", "unit": unit,
                             "window": int(limit["window"]), "limit": amount,
                             "used": used[kind],
                             "remaining": max(amount - used[kind], type(amount)(0))})
        return rows
