"""StorageService: getStorageConfig and switchStorageStrategy."""

from __future__ import annotations

from typing import Unpack

from app.errors import InvalidInput, NotFound
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry
from app.services.storage.policy import StoragePolicy
from app.services.storage.strategies import DATA_TYPES, StorageConfig, refusals


def _unknown(data_type: str) -> NotFound:
    return NotFound(f"No storage strategy for {data_type!r}; the data types are "
                    f"{', '.join(DATA_TYPES)}.")


class StorageService(Service):
    def __init__(self, *, policy: StoragePolicy, redis_configured: bool,
                 **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.policy = policy
        self.redis_configured = redis_configured

    @db_retry
    def get(self, data_type: str) -> dict:
        """getStorageConfig, as stored in the database (the record every worker follows)."""
        with self.uow() as uow:
            row = uow.storage_strategies.get(data_type)
        if row is None:
            raise _unknown(data_type)
        return StorageConfig.from_row(row).public(self.cache_ttl)

    @db_retry
    def switch(self, data_type: str, new: StorageConfig) -> dict:
        """switchStorageStrategy: refuse unsafe combinations, store, tell every worker."""
        if data_type not in DATA_TYPES:
            raise _unknown(data_type)
        reasons = refusals(data_type, new, redis_configured=self.redis_configured)
        if reasons:
            raise InvalidInput(f"That storage strategy is refused for {data_type}.",
                               code="STRATEGY_REFUSED", details=reasons)
        with self.uow() as uow:
            row = uow.storage_strategies.get(data_type, for_update=True)
            if row is None:
                raise _unknown(data_type)
            previous = StorageConfig.from_row(row)
            uow.storage_strategies.replace(data_type, new.as_row(), self.clock())
            uow.commit()
        self.policy.announce()
        return {"previous_strategy": previous.public(self.cache_ttl),
                "current_strategy": new.public(self.cache_ttl)}

