"""A data type's storage strategy, and the combinations refused because they are unsafe.

What each field does in Relaygate:
- readStrategy `cache_first`: the read-through cache answers, the database fills it on a miss;
  `database_first`: every read goes to the database, Redis is not consulted;
  `cache_only`: refused (the database is Relaygate's record; Redis holds copies only).
- enableCache false: reads go to the database whatever readStrategy says.
- cacheTTL: seconds a cached read is kept (null: RELAYGATE_CACHE_TTL).
- writeStrategy `write_through`: the database is written at once, then the cached copy dropped;
  `write_around`: the database is written, the cached copy left to expire;
  `write_behind`: (usage only) records are queued in a Redis Stream, a worker writes them.
- primaryStorage `redis`: only for usage written behind (records live in Redis until drained).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

DATA_TYPES = ("apikey", "account", "usage", "session")
PRIMARY_STORAGES = ("postgres", "redis")
READ_STRATEGIES = ("cache_first", "database_first", "cache_only")
WRITE_STRATEGIES = ("write_through", "write_behind", "write_around")
AUTHORISATION = frozenset({"apikey", "session"})
_NOUN = {"apikey": "API keys", "account": "upstream accounts", "usage": "usage records",
         "session": "sessions"}


@dataclass(frozen=True)
class StorageConfig:
    primary_storage: str = "postgres"
    enable_cache: bool = True
    cache_ttl: int | None = None
    read_strategy: str = "cache_first"
    write_strategy: str = "write_through"

    def public(self, default_ttl: int) -> dict:
        """The document's StorageConfig (StorageConfigSchema), with the TTL in force."""
        return {**asdict(self), "cache_ttl": self.cache_ttl or default_ttl}

    def as_row(self) -> dict:
        return asdict(self)

    @classmethod
    def from_row(cls, row) -> StorageConfig:
        return cls(primary_storage=row.primary_storage, enable_cache=row.enable_cache,
                   cache_ttl=row.cache_ttl, read_strategy=row.read_strategy,
                   write_strategy=row.write_strategy)


DEFAULTS = {
    "apikey": StorageConfig(),
    "account": StorageConfig(),
    "usage": StorageConfig(enable_cache=False, read_strategy="database_first"),
    "session": StorageConfig(),
}


def refusals(data_type: str, config: StorageConfig, *, redis_configured: bool) -> dict:
    """Why `config` is unsafe for `data_type`: {field: [reasons]}; empty when it is allowed."""
    noun = _NOUN[data_type]
    found: dict[str, list[str]] = {}

    def refuse(field: str, reason: str) -> None:
        found.setdefault(field, []).append(reason)

    # The reasons become the error's details, keyed by the request's own members (wire text,
    # see app/errors.py).
    if not redis_configured:
        needs = {"primaryStorage": config.primary_storage == "redis",
                 "readStrategy": config.read_strategy == "cache_only",
                 "writeStrategy": config.write_strategy == "write_behind"}
        for field, asked in needs.items():
            if asked:
                refuse(field, "No Redis is configured (REDIS_URL), so no Redis strategy can run.")
    if config.read_strategy == "cache_only":
        if data_type in AUTHORISATION:
            refuse("readStrategy", f"cache_only would decide {noun} from Redis alone: after a "
                                   "Redis restart or eviction, or a change Redis missed, "
                                   "callers could be authorised wrongly.")
        else:
            refuse("readStrategy", f"The database is the record of {noun}; Redis holds copies "
                                   "that a restart or eviction loses, so cache_only could "
                                   "answer with nothing or with stale data.")
    if config.write_strategy == "write_behind" and data_type != "usage":
        refuse("writeStrategy", f"write_behind would acknowledge changes to {noun} that exist "
                                "only in Redis until a worker writes them; a Redis failure "
                                "would lose them. Only usage records may be written behind.")
    if config.write_strategy == "write_around" and data_type in AUTHORISATION:
        # Even with the cache off now: an entry left behind is read once it is on again.
        refuse("writeStrategy", f"write_around leaves cached {noun} in Redis after a change: a "
                                "revoked or changed one would keep being accepted until "
                                "cacheTTL runs out.")
    if config.primary_storage == "redis" and not (
            data_type == "usage" and config.write_strategy == "write_behind"):
        refuse("primaryStorage", f"The database is the record of {noun}; Redis can be the "
                                 "primary store only of usage records written behind.")
    return found
