"""The Redis mirror of the quota counters (keys.quota_counter), and the quota check's probe.

A mirrored counter is a hash {n: used, v: version}. `n` is only ever set to a (used, version)
that the database returned, and only when that version is newer than the one held, so
concurrent writers and fillers converge on the newest value in any order. The one count Redis
keeps on its own is `p`, the units of holds not yet in the database (holds.py); readers count
n + p. A counter can be marked stale (`s`, see holds.py: expired holds were given back, and one
of them may be in the database already though `n` missed it); a reader then treats it as
missing, and only a fill that read the database after the mark (it carries the mark as its
token) clears it. Every call fails open: on a Redis error the caller reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from app.cache import codec
from app.cache.connection import Connectable, RedisConnection, RedisStore, fail_open

# Stands for the user id in the profile key handed to `probe`.
PLACEHOLDER = "\x00"


class Counter(Protocol):
    """Which counter (the database's key of a usage counter)."""

    @property
    def subject(self) -> str: ...
    @property
    def model_type(self) -> str: ...
    @property
    def period(self) -> str: ...
    @property
    def period_start(self) -> datetime: ...


class CountValue(Protocol):
    """A counter as the database returned it."""

    @property
    def used(self) -> int: ...
    @property
    def version(self) -> int: ...


@dataclass(frozen=True)
class Missing:
    """Not mirrored, or marked stale: read the database, then fill with this token."""

    token: str
    held: int  # the units held in Redis all the same


@dataclass(frozen=True)
class Probe:
    """The cached values a warm check needs, decoded (None when missing), the model type read
    from the model's entry, and 'subject:modelType' the mirrored counts belong to."""

    record: dict | None
    profile: dict | None
    model_type: str | None
    plans: dict | None
    counters: dict
    counted_as: str


def counter_key(redis_: RedisConnection, counter: Counter) -> str:
    return redis_.keys.quota_counter(counter.subject, counter.model_type, counter.period,
                                     counter.period_start)


def _decoded(raw: bytes | None):
    return codec.loads(raw) if raw is not None else None


class CounterMirror(RedisStore):
    def __init__(self, connection: Connectable, *, ttl_seconds: int):
        super().__init__(connection)
        self.ttl_ms = ttl_seconds * 1000

    def key(self, counter: Counter) -> str:
        return counter_key(self.redis, counter)

    @fail_open(None)
    def read(self, counter: Counter) -> int | Missing | None:
        """The mirrored count with its holds; Missing when it must be read from the database
        (then `fill`); None when Redis is unavailable."""
        used, held, mark = self.client.hmget(self.key(counter), "n", "p", "s")
        if used is None or mark is not None:
            return Missing(codec.as_text(mark or b""), int(held or 0))
        return int(used) + int(held or 0)

    @fail_open(0)
    def pending(self, counter: Counter) -> int:
        """Units held in Redis that the database's counter does not count yet."""
        return int(self.client.hget(self.key(counter), "p") or 0)

    @fail_open(False)
    def fill(self, counter: Counter, value: CountValue, token: str) -> bool:
        """Put what the database holds, read after `read` answered Missing(token); False when
        the counter was marked stale again meanwhile (the value may miss a unit)."""
        return bool(self.redis.scripts.run("quota_fill", [self.key(counter)],
                                           [value.used, value.version, token, self.ttl_ms]))

    @fail_open(None, during_backoff=True)
    def write(self, counter: Counter, value: CountValue) -> None:
        """Mirror the database's count if newer, even in the back-off: the hold script admits
        against it (on a Redis error Redis may keep an older count; the key's TTL bounds for
        how long)."""
        self.redis.scripts.run("quota_put_if_newer", [self.key(counter)],
                               [value.used, value.version, self.ttl_ms])

    def probe(self, *, record_key: str, acting_for: str, profile_key: str, model_key: str,
              plans_key: str, day_start: str, month_start: str, model_type_field: str
              ) -> Probe | None:
        """Everything a warm check needs, in one round trip; None when Redis is unavailable or
        a cluster. `profile_key` is a profile's cache key with PLACEHOLDER for the user id;
        `model_type_field` names the model entry's field that holds its type."""
        if self.redis.clustered:
            return None
        return self._probe(record_key, acting_for, profile_key, model_key, plans_key,
                           day_start, month_start, model_type_field)

    @fail_open(None)
    def _probe(self, record_key, acting_for, profile_key, model_key, plans_key, day_start,
               month_start, model_type_field) -> Probe | None:
        profile_prefix, profile_suffix = profile_key.split(PLACEHOLDER)
        record, profile, model_type, plans, day, month, counted_as = self.redis.scripts.run(
            "quota_probe", [], [record_key, acting_for, profile_prefix, model_key, plans_key,
                                self.redis.keys.quota_counters(), day_start, month_start,
                                profile_suffix, model_type_field])
        return Probe(_decoded(record), _decoded(profile),
                     model_type.decode() if model_type else None, _decoded(plans),
                     {"day": day, "month": month}, counted_as.decode() if counted_as else "")
