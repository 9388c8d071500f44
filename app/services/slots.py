"""Slots: at most N live holders in a bucket, each freed by release or by its own expiry.

One primitive serves two limits: concurrent requests (a slot held for the request, released at
its end, expiring if a worker dies) and requests per minute (a sliding-window log: a slot per
request that nobody releases, expiring after 60 s). Redis answers when it is up (one Lua call);
otherwise the database does, serialised on the owner's row. The Redis side: app/cache/slots.py.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Unpack

from app.cache.slots import KeySlots
from app.db.models import LimitSlot
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry

log = logging.getLogger(__name__)

@dataclass
class Slot:
    bucket: str
    id: str
    store: str  # 'redis' | 'database' | 'none'


@dataclass(frozen=True)
class Refusal:
    retry_after: float  # seconds until a slot frees

    @classmethod
    def after_ms(cls, retry_after_ms: int) -> Refusal:
        """A refusal from Redis's answer (milliseconds until a slot frees, at least one)."""
        return cls(retry_after=max(retry_after_ms, 1) / 1000)


def _script_buckets(wanted: list[tuple[str, str, int, float]], ids: list[str]
                    ) -> list[tuple[str, str, int, int]]:
    """(bucket, slot id, limit, ttl ms) of `wanted`'s buckets, as the slot scripts take them."""
    return [(bucket, slot_id, limit, int(ttl * 1000))
            for (bucket, _, limit, ttl), slot_id in zip(wanted, ids, strict=True)]


def _redis_slots(wanted: list[tuple[str, str, int, float]], ids: list[str]) -> list[Slot]:
    """The slots a script took in `wanted`'s buckets under `ids`."""
    return [Slot(bucket, slot_id, "redis")
            for (bucket, *_), slot_id in zip(wanted, ids, strict=True)]


@dataclass
class SlotClaim:
    """Slots to take with the request's quota hold, in its script call (QuotaService.hold):
    all with the hold or none. `slots` is set once they are taken; a hold that could not carry
    them (Redis on a Cluster, or down) leaves them to `SlotLimiter.take_claim`."""

    wanted: list[tuple[str, str, int, float]]  # (bucket, owner id, limit, ttl s), in order
    refuse: Callable[[int, Refusal], Exception]  # the error for a full bucket (its index)
    ids: list[str] = field(default_factory=list)
    slots: list[Slot] | None = None

    def __post_init__(self) -> None:
        self.ids = [str(uuid.uuid4()) for _ in self.wanted]

    def buckets(self) -> list[tuple[str, str, int, int]]:
        """(bucket, slot id, limit, ttl ms) for the script."""
        return _script_buckets(self.wanted, self.ids)

    def taken(self) -> None:
        self.slots = _redis_slots(self.wanted, self.ids)

    def full(self, index: int, retry_after_ms: int) -> Exception:
        return self.refuse(index, Refusal.after_ms(retry_after_ms))


class SlotLimiter(Service):
    def __init__(self, **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.redis = KeySlots(self.cache)

    def acquire(self, bucket: str, owner_id: str, limit: int, ttl: float) -> Slot | Refusal:
        """Take a slot in `bucket` if fewer than `limit` are live; `owner_id` is the key row."""
        slot_id = str(uuid.uuid4())
        answer = self.redis.acquire(bucket, slot_id, limit, int(ttl * 1000))
        if answer is not None:
            if answer.admitted:
                return Slot(bucket, slot_id, "redis")
            return Refusal.after_ms(answer.retry_after_ms)
        return self._acquire_in_database(bucket, owner_id, limit, ttl, slot_id)

    def claim(self, wanted: list[tuple[str, str, int, float]],
              refuse: Callable[[int, Refusal], Exception]) -> SlotClaim | None:
        """A claim on `wanted` for the quota hold to carry; None when it cannot (a Cluster, or
        Redis down): take them now then."""
        if not self.redis.carries_with_holds():
            return None
        return SlotClaim(wanted, refuse)

    def take_claim(self, claim: SlotClaim) -> list[Slot]:
        """The claim's slots: those the hold took, else taken now (its error when refused)."""
        if claim.slots is None:
            taken = self.acquire_all(claim.wanted, claim.ids)
            if isinstance(taken, tuple):
                raise claim.refuse(*taken)
            claim.slots = taken
        return claim.slots

    def acquire_all(self, wanted: list[tuple[str, str, int, float]],
                    ids: list[str] | None = None) -> list[Slot] | tuple[int, Refusal]:
        """A slot in each of `wanted`'s buckets ((bucket, owner id, limit, ttl), checked in
        order), all or none: the slots, or (index of the first full bucket, its refusal). One
        Redis call where the buckets may share one; else taken one by one, those taken given
        back on a refusal."""
        ids = ids or [str(uuid.uuid4()) for _ in wanted]
        answer = self.redis.acquire_all(_script_buckets(wanted, ids))
        if answer is not None:
            index, found = answer
            if found.admitted:
                return _redis_slots(wanted, ids)
            return index, Refusal.after_ms(found.retry_after_ms)
        taken: list[Slot] = []
        for index, (bucket, owner_id, limit, ttl) in enumerate(wanted):
            slot = self.acquire(bucket, owner_id, limit, ttl)
            if isinstance(slot, Refusal):
                for held in taken:
                    self.release(held)
                return index, slot
            taken.append(slot)
        return taken

    @db_retry
    def _acquire_in_database(self, bucket, owner_id, limit, ttl, slot_id) -> Slot | Refusal:
        with self.uow() as uow:
            # The owner's row lock makes count-then-insert one atomic step on both backends;
            # the clock is read after waiting for it, so expiries stay in order.
            uow.api_keys.lock(owner_id)
            now = self.clock()
            uow.limit_slots.drop_expired(bucket, now)
            taken, first_expiry = uow.limit_slots.live(bucket, now)
            if taken >= limit:
                wait = (first_expiry - now).total_seconds() if first_expiry is not None else 0
                return Refusal(retry_after=max(wait, 0.001))
            uow.limit_slots.add(LimitSlot(id=slot_id, bucket=bucket,
                                          expires_at=now + timedelta(seconds=ttl)))
            uow.commit()
        return Slot(bucket, slot_id, "database")

    def release(self, slot: Slot) -> None:
        try:
            if slot.store == "redis":
                self.redis.release(slot.bucket, slot.id)
            elif slot.store == "database":
                self._release_in_database(slot.id)
        except Exception as error:  # the slot's own expiry frees it
            log.warning("could not release slot %s: %s", slot.id, error)

    @db_retry
    def _release_in_database(self, slot_id: str) -> None:
        with self.uow() as uow:
            uow.limit_slots.remove(slot_id)
            uow.commit()
