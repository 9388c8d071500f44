"""What Redis says about itself: round-trip time, memory, evictions (INFO)."""

from __future__ import annotations

import time

import redis

from app.cache.connection import RedisStore, fail_open


class RedisServer(RedisStore):
    def health(self) -> dict:
        """{configured, connected, latency (ms), memory {used, max}}; max None when unlimited.
        Asks even during the connection's back-off: it reports what Redis answers now."""
        client = self.redis.client
        if client is None:
            return {"configured": False, "connected": False, "latency": None, "memory": None}
        try:
            started = time.perf_counter()
            client.ping()
            latency = (time.perf_counter() - started) * 1000
            memory = client.info("memory")
        except redis.RedisError as error:
            return {"configured": True, "connected": False, "latency": None, "memory": None,
                    "error": type(error).__name__}
        return {"configured": True, "connected": True, "latency": round(latency, 3),
                "memory": {"used": int(memory["used_memory"]),
                           "max": int(memory.get("maxmemory") or 0) or None,
                           "policy": memory.get("maxmemory_policy")}}

    def ping(self) -> None:
        """One PING, whatever the back-off; raises CacheError (readiness reports it)."""
        self.client.ping()

    @fail_open(None)
    def evicted_keys(self) -> int | None:
        """Keys Redis has evicted since it started (a server-wide counter); None unavailable."""
        return int(self.client.info("stats").get("evicted_keys", 0))
