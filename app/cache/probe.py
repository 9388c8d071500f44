"""What Redis says about itself: round-trip time, memory, evictions (INFO)."""

from __future__ import annotations

import time

import redis

from app.cache.topology import Client


def redis_health(client: Client | None) -> dict:
    """{configured, connected, latency (ms), memory {used, max}}; max None when unlimited."""
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


def evicted_keys(client: Client) -> int:
    """Keys Redis has evicted since it started (a server-wide counter)."""
    return int(client.info("stats").get("evicted_keys", 0))
