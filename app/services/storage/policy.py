"""StoragePolicy: the one object services consult for the storage strategy in force.

Every process keeps the strategies in memory and checks, at most every `interval` seconds, a
change marker: a Redis counter raised by each switch, or (without Redis, or with Redis down) the
sum of the rows' versions. A changed marker reloads the rows, so a switch reaches every worker
of every instance within about `interval`; a full reload every `max_age` seconds covers a
switch whose Redis signal was lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from app.cache.signals import StrategySignal
from app.db.uow import UnitOfWorkFactory
from app.errors import DatabaseError
from app.services.storage.strategies import DEFAULTS, StorageConfig

log = logging.getLogger(__name__)

# Read-through cache namespace -> the data type whose strategy governs it. Other features add
# theirs here (e.g. CACHE_NAMESPACES["account"] = "account"); unlisted namespaces keep defaults.
CACHE_NAMESPACES: dict[str, str] = {"apikey": "apikey", "session": "session"}


class StoragePolicy:
    def __init__(self, *, uow: UnitOfWorkFactory, signal: StrategySignal, default_ttl: int,
                 interval: float = 0.25, max_age: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.uow = uow
        self.signal = signal
        self.default_ttl = default_ttl
        self.interval = interval
        self.max_age = max_age
        self.clock = clock
        self._configs: dict[str, StorageConfig] = dict(DEFAULTS)
        self._marker: object = None
        self._next_check = 0.0
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    # What services and the read-through decorator ask.
    def config(self, data_type: str) -> StorageConfig:
        self._refresh_if_due()
        return self._configs[data_type]

    def reads_cache(self, namespace: str) -> bool:
        config = self._for_namespace(namespace)
        return config is None or (config.enable_cache and config.read_strategy == "cache_first")

    def cache_ttl(self, namespace: str) -> int | None:
        config = self._for_namespace(namespace)
        return config.cache_ttl if config is not None else None

    def invalidates(self, namespace: str) -> bool:
        config = self._for_namespace(namespace)
        return config is None or config.write_strategy != "write_around"

    def writes_behind(self, data_type: str) -> bool:
        return self.config(data_type).write_strategy == "write_behind"

    def all(self) -> dict[str, StorageConfig]:
        self._refresh_if_due()
        return dict(self._configs)

    # After a switch.
    def announce(self) -> None:
        """Tell every process to reload (after the switch has committed), and reload here."""
        # When Redis fails the others notice by the database marker or max_age.
        self.signal.announce()
        self.reload()

    def reload(self) -> None:
        marker = self._read_marker()
        try:
            with self.uow.separate() as uow:
                rows = uow.storage_strategies.list_all()
        except DatabaseError as error:
            log.warning("storage strategies not reloaded, keeping the last known: %s", error)
            return
        configs = dict(DEFAULTS)
        for row in rows:
            configs[row.data_type] = StorageConfig.from_row(row)
        self._configs = configs
        self._marker = marker
        self._loaded_at = self.clock()

    def _for_namespace(self, namespace: str) -> StorageConfig | None:
        data_type = CACHE_NAMESPACES.get(namespace)
        return self.config(data_type) if data_type else None

    def _refresh_if_due(self) -> None:
        now = self.clock()
        if now < self._next_check:
            return
        if not self._lock.acquire(blocking=self._loaded_at is None):
            return  # another thread is checking; answer with what we have
        try:
            self._next_check = now + self.interval
            if (self._loaded_at is None or now - self._loaded_at >= self.max_age
                    or self._read_marker() != self._marker):
                self.reload()
        finally:
            self._lock.release()

    def _read_marker(self) -> object:
        signalled = self.signal.current()
        if signalled is not None:
            return ("redis", signalled)
        try:
            with self.uow.separate() as uow:
                return ("database", uow.storage_strategies.version())
        except DatabaseError:
            return self._marker
