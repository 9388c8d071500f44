"""The read-through cache: one decorator for cached service reads, one way to invalidate them.

Usage on a service that has a `cache` attribute (a CacheStore):

    @read_through("apikey", key=lambda hashed_key: hashed_key, ttl=300)
    def validate(self, hashed_key): ...

    self.validate.invalidate(self.cache, hashed_key)   # after the commit succeeds
    invalidate_together(self.cache, [(Service.validate, (hashed_key,)), ...])  # one round trip
    self.validate.value_key(self.cache, hashed_key)    # where the value lives, to batch reads
    self.validate.uncached(self, hashed_key)           # straight from the database

A `policy` on the CacheStore (the storage strategies) is asked on every call whether to read
the cache for this namespace, for how long to keep fills, and whether writes invalidate.
Inside `deferred_invalidations()` (a batch), invalidations wait until the batch has committed;
inside `riding_along()` they ride the block's next Redis round trip (ride_along.py).

`read_ahead(cache, [(Service.method, args), ...])` asks Redis for several entries in one round
trip; inside `reading_ahead(...)` the decorated reads take those answers instead of asking
again (a request's admission reads its key, model, plans and account pool this way).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, cast

import redis
from redis.crc import key_slot

from app.cache import codec
from app.cache.connection import CacheError, RedisConnection, RedisStore, fail_open
from app.cache.keys import slot_tag
from app.cache.ride_along import riding_along
from app.cache.round_trip import send
from app.cache.store import CachePolicy, CacheStore
from app.cache.topology import connect

log = logging.getLogger(__name__)

__all__ = ["CacheError", "CachePolicy", "CacheStore", "RedisConnection", "RedisStore", "connect",
           "read_through", "canonical_key", "deferred_invalidations", "fail_open", "slot_tag",
           "ReadAhead", "read_ahead", "reading_ahead", "riding_along", "invalidate_together"]

_LOCK_MS = 2000
_WAIT_STEP = 0.01
_DEFERRED: ContextVar[list[Callable[[], None]] | None] = ContextVar("deferred", default=None)
# read_through(in_process=True): per CacheStore, value key -> (generation, expires at, value).
_COPIES: weakref.WeakKeyDictionary[CacheStore, dict[str, tuple]] = weakref.WeakKeyDictionary()
# Inside reading_ahead: value key -> (value, generation) as one round trip read them.
_AHEAD: ContextVar[dict[str, tuple] | None] = ContextVar("ahead", default=None)
# Arguments whose Redis key names a decorated read remembers, and how many at most.
_PLAIN = (str, int)
_KNOWN_NAMES = 4096


class DeferredInvalidations:
    def __init__(self) -> None:
        self.pending: list[Callable[[], None]] = []

    def apply(self) -> None:
        """Run them: call only after the transaction they belong to has committed."""
        token = _DEFERRED.set(None)
        try:
            for invalidate in self.pending:
                invalidate()
        finally:
            _DEFERRED.reset(token)
        self.pending.clear()


@contextmanager
def deferred_invalidations() -> Iterator[DeferredInvalidations]:
    """Collect the invalidations made inside the block instead of running them at once."""
    deferred = DeferredInvalidations()
    token = _DEFERRED.set(deferred.pending)
    try:
        yield deferred
    finally:
        _DEFERRED.reset(token)


def invalidate_together(cache: CacheStore | None, changed) -> None:
    """`method.invalidate(cache, *args)` for every `(decorated method, args)` of `changed`, in
    one round trip (CacheStore.invalidate_many: one transaction, riding along inside
    `riding_along()`). Call after the commit succeeds."""
    _invalidate(cache, lambda: [method.stale(cache, args, {}) for method, args in changed])


def _invalidate(cache: CacheStore | None, stale: Callable[[], list]) -> None:
    """Invalidate the entries `stale()` names (None: one not to invalidate); inside a batch,
    once it has committed."""
    if cache is None or not cache.enabled:
        return
    pending = _DEFERRED.get()
    if pending is not None:
        pending.append(lambda: _invalidate(cache, stale))
        return
    entries = [entry for entry in stale() if entry is not None]
    try:
        cache.invalidate_many(entries)
    except redis.RedisError as error:
        # The entries may outlive this change; their TTL bounds how long.
        cache.failed(error)


class ReadAhead:
    """Entries read in one round trip: value key -> (value, generation), bytes or None."""

    def __init__(self, found: dict[str, tuple] | None = None):
        self.found = found or {}


def read_ahead(cache: CacheStore | None, reads) -> ReadAhead:
    """Read every `(decorated method, args)` entry of `reads` in one round trip: one MGET of
    every value and generation (on a Cluster, one MGET per hash slot, each sent to its node:
    an entry's value and generation share a slot). Empty when Redis is off or down (the reads
    then go their own way, to the database), and inside a batch."""
    if cache is None or not cache.available() or _DEFERRED.get() is not None:
        return ReadAhead()
    names = [name for read in reads for name in read[0].entry_keys(cache, *read[1])]
    try:
        found = _mget(cache, names)
    except redis.RedisError as error:
        cache.failed(error)
        return ReadAhead()
    return ReadAhead({names[at]: (found[at], found[at + 1]) for at in range(0, len(names), 2)})


def _mget(cache: CacheStore, names: list[str]) -> list:
    """The values of `names`, in order, in one round trip (grouped by hash slot on a
    Cluster). A refused MGET raises."""
    if not cache.clustered:
        groups = [list(range(len(names)))]
    else:
        slots: dict[int, list[int]] = {}
        for at, name in enumerate(names):
            slots.setdefault(key_slot(name.encode()), []).append(at)
        groups = list(slots.values())
    answers = send(cache.client, [("MGET", *[names[at] for at in group]) for group in groups])
    found: list = [None] * len(names)
    for group, answer in zip(groups, answers, strict=True):
        if isinstance(answer, Exception):
            raise answer
        for at, value in zip(group, answer, strict=True):
            found[at] = value
    return found


@contextmanager
def reading_ahead(ahead: ReadAhead | None) -> Iterator[None]:
    """Inside the block, read_through reads of the entries in `ahead` answer from it: a value
    found is decoded as a cache hit, a copy kept in process is checked against its generation;
    a missing value reads as it would have (and fills)."""
    token = _AHEAD.set(ahead.found if ahead is not None and ahead.found else None)
    try:
        yield
    finally:
        _AHEAD.reset(token)


def canonical_key(*args, **kwargs) -> str:
    """A stable text key for arguments: kwargs sorted, long keys hashed."""
    text = codec.dumps([list(args), kwargs])
    if len(text) > 120:
        return hashlib.sha256(text.encode()).hexdigest()
    return text


def read_through(namespace: str, *, ttl: int | None = None, version: int = 1, key=None,
                 cacheable=lambda value: value is not None, in_process: bool = False):
    """Cache a service read in Redis; fail open; never keep a fill that raced an invalidation.

    `key` maps the call's arguments (without self) to the cache key; by default all of them.
    `ttl` defaults to the service's `cache_ttl`. A little jitter spreads expiries.

    `in_process` is for a large value read on every request (a whole table): the decoded
    value is also kept in this process, tagged with the entry's generation, so a read fetches
    only the generation (a few bytes) and decodes nothing while it is unchanged. Every
    invalidation, on any instance, moves the generation, so a change reaches every process on
    its next read, as without the copy; the copy also ends with the TTL. Callers share the
    value: they must not change it.
    """

    def decorate(method):
        def tag(args, kwargs) -> str:
            return slot_tag(str(key(*args, **kwargs) if key else canonical_key(*args, **kwargs)))

        def names(cache: CacheStore, tagged: str) -> tuple[str, str, str]:
            return (cache.keys.cached_value(namespace, version, tagged),
                    cache.keys.cache_generation(namespace, tagged),
                    cache.keys.cache_fill_lock(namespace, tagged))

        # (prefix, args) -> names, for calls whose arguments are plain strings and numbers
        # (a request's key, model, "all"): the same few entries are read on every request.
        known: dict[tuple, tuple[str, str, str]] = {}

        def entry(cache: CacheStore, args: tuple, kwargs: dict) -> tuple[str, str, str]:
            if kwargs or not all(type(arg) in _PLAIN for arg in args):
                return names(cache, tag(args, kwargs))
            found = known.get((cache.keys.prefix, args))
            if found is None:
                found = names(cache, tag(args, kwargs))
                if len(known) >= _KNOWN_NAMES:
                    known.clear()
                known[(cache.keys.prefix, args)] = found
            return found

        @functools.wraps(method)
        def reading(self, *args, **kwargs):
            cache: CacheStore = self.cache
            if cache is None or not cache.available() or _DEFERRED.get() is not None:
                # Inside a batch a read may see uncommitted rows: never cache those.
                return method(self, *args, **kwargs)
            policy = cache.policy
            if policy is not None and not policy.reads_cache(namespace):
                return method(self, *args, **kwargs)
            value_key, generation_key, lock_key = entry(cache, args, kwargs)
            read = _read_in_process if in_process else _read
            try:
                return read(self, cache, method, args, kwargs, value_key, generation_key,
                            lock_key, ttl)
            except redis.RedisError as error:
                cache.failed(error)
                return method(self, *args, **kwargs)

        # The method as services see it, carrying its helpers (`Service.read.invalidate(...)`).
        wrapper: Any = reading

        def stale(cache: CacheStore, args: tuple, kwargs: dict
                  ) -> tuple[str, str, tuple[str, ...]] | None:
            """What invalidating this entry changes in Redis (value, generation, retired
            values), its copies in this process dropped now; None under write_around (the
            entry lives out its TTL)."""
            policy = cache.policy
            if policy is not None and not policy.invalidates(namespace):
                return None
            tagged = tag(args, kwargs)
            value_key, generation_key, _ = names(cache, tagged)
            # An older version's copy is stale too: an instance not yet upgraded (a rolling
            # deploy) still reads it, and must see this change as soon as this one does.
            retired = tuple(cache.keys.cached_value(namespace, old, tagged)
                            for old in range(1, version))
            _COPIES.get(cache, {}).pop(value_key, None)
            ahead = _AHEAD.get()
            if ahead is not None:  # what was read ahead is older than this change
                ahead.pop(value_key, None)
            return value_key, generation_key, retired

        def invalidate(cache: CacheStore | None, *args, **kwargs) -> None:
            _invalidate(cache, lambda: [stale(cast(CacheStore, cache), args, kwargs)])

        def value_key(cache: CacheStore, *args, **kwargs) -> str:
            """The Redis key holding the cached value (for callers that batch their reads)."""
            return entry(cache, args, kwargs)[0]

        def entry_keys(cache: CacheStore, *args, **kwargs) -> tuple[str, str]:
            """The value's key and its generation's (read_ahead reads both)."""
            return entry(cache, args, kwargs)[:2]

        wrapper.invalidate = invalidate
        wrapper.stale = stale
        wrapper.value_key = value_key
        wrapper.entry_keys = entry_keys
        # The system of record itself, for callers that must not trust a cached answer.
        wrapper.uncached = method
        return wrapper

    def _read(service, cache, method, args, kwargs, value_key, generation_key, lock_key,
              ttl_seconds):
        ahead = _AHEAD.get()
        found = ahead.get(value_key) if ahead is not None else None
        value, generation = found or cache.read(value_key, generation_key)
        if value is not None:
            cache.hits += 1
            return codec.loads(value)
        cache.misses += 1
        locked = cache.try_lock(lock_key, _LOCK_MS)
        if not locked:
            # Another process is recomputing this key: wait a moment for its answer.
            deadline = time.monotonic() + _LOCK_MS / 1000 / 4
            while time.monotonic() < deadline:
                time.sleep(_WAIT_STEP)
                value, generation = cache.read(value_key, generation_key)
                if value is not None:
                    return codec.loads(value)
        try:
            result = method(service, *args, **kwargs)
            if cacheable(result):
                seconds = _lifetime(service, cache, ttl_seconds)
                ttl_ms = int(seconds * 1000 * random.uniform(0.9, 1.0))
                cache.fill(value_key, generation_key, generation, codec.dumps(result), ttl_ms)
            return result
        finally:
            if locked:
                cache.unlock(lock_key)

    def _read_in_process(service, cache, method, args, kwargs, value_key, generation_key,
                         lock_key, ttl_seconds):
        copies = _COPIES.setdefault(cache, {})
        # Read before the value: a copy is never tagged newer than what it holds.
        ahead = _AHEAD.get()
        found = ahead.get(value_key) if ahead is not None else None
        generation = found[1] if found and found[1] is not None else cache.generation(
            generation_key)
        kept = copies.get(value_key)
        if kept is not None and kept[0] == generation and time.monotonic() < kept[1]:
            cache.hits += 1
            return kept[2]
        value = _read(service, cache, method, args, kwargs, value_key, generation_key,
                      lock_key, ttl_seconds)
        if cacheable(value):
            expires = time.monotonic() + _lifetime(service, cache, ttl_seconds)
            copies[value_key] = (generation, expires, value)
        return value

    def _lifetime(service, cache, ttl_seconds) -> float:
        policy = getattr(cache, "policy", None)
        chosen = policy.cache_ttl(namespace) if policy is not None else None
        return chosen or ttl_seconds or getattr(service, "cache_ttl", 300)

    return decorate
