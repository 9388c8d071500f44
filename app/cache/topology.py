"""Which Redis `REDIS_URL` names: one server, a Sentinel-watched master, or a Cluster.

- `redis://` / `rediss://` / `unix://`: one server (redis-py's URL format).
- `redis+sentinel://[:password@]host:port[,host:port...]/<master name>[/<db>]`: the master that
  the sentinels name; the client asks them again whenever its connection breaks or the server
  turns read-only (a failover), so it follows a new master within seconds.
- `redis+cluster://[:password@]host:port[,host:port...]`: a Redis Cluster; the listed nodes are
  where discovery starts. Every multi-key script and transaction of the app keeps its keys in
  one hash slot (`{...}` tags, app/cache/keys.py).
"""

from __future__ import annotations

import threading
import time
from urllib.parse import unquote, urlsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

from app.cache.pools import BlockingPool, LeanSentinelPool
from app.config import ConfigError

Client = redis.Redis | RedisCluster
# How often a process asks the sentinels who the master is, besides when a connection breaks.
MASTER_CHECK_SECONDS = 0.25


class FollowingPool(LeanSentinelPool):
    """Asks the sentinels for the master every MASTER_CHECK_SECONDS, not only when a connection
    breaks: after a failover the old master keeps accepting writes until the sentinels demote
    it (up to ten seconds later), and those writes are lost with its demotion. A changed
    address drops the idle connections, and busy ones as they come back."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._next_check = 0.0
        self._check_lock = threading.Lock()

    def get_connection(self, *args, **kwargs):
        now = time.monotonic()
        if now >= self._next_check and self._check_lock.acquire(blocking=False):
            try:
                self._next_check = now + MASTER_CHECK_SECONDS
                self.get_master_address()
            except redis.ConnectionError:
                pass  # no sentinel answers: the connection attempt itself reports it
            finally:
                self._check_lock.release()
        return super().get_connection(*args, **kwargs)


def _nodes(netloc: str) -> tuple[str | None, list[tuple[str, int]]]:
    """(password, [(host, port)]) of 'user:password@host:port,host:port'."""
    password = None
    if "@" in netloc:
        credentials, netloc = netloc.rsplit("@", 1)
        password = unquote(credentials.split(":", 1)[1]) if ":" in credentials else None
    nodes = []
    for part in netloc.split(","):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"REDIS_URL: '{part}' is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    return password or None, nodes


def connect(url: str | None, *, socket_timeout: float,
            max_connections: int = 512) -> Client | None:
    """A Redis client, or None when no URL is configured. Nothing connects until first use.

    On one server its pool holds at most `max_connections`; a caller finding them all busy
    waits up to a second for one (redis-py's default pool would refuse at once past 100)."""
    if not url:
        return None
    timeouts = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout}
    scheme = url.split("://", 1)[0].lower()
    if scheme == "redis+sentinel":
        parts = urlsplit(url)
        password, sentinels = _nodes(parts.netloc)
        path = [piece for piece in parts.path.split("/") if piece]
        if not path:
            raise ConfigError("REDIS_URL: redis+sentinel:// needs the master's name as its "
                              "path, e.g. redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster")
        db = int(path[1]) if len(path) > 1 else 0
        sentinel = Sentinel(sentinels, sentinel_kwargs=dict(timeouts), **timeouts)
        return sentinel.master_for(path[0], connection_pool_class=FollowingPool, db=db,
                                   password=password,
                                   max_connections=max_connections, health_check_interval=30,
                                   **timeouts)
    if scheme == "redis+cluster":
        password, nodes = _nodes(urlsplit(url).netloc)
        return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in nodes],
                            password=password, max_connections=max_connections,
                            socket_timeout=socket_timeout,
                            socket_connect_timeout=socket_timeout)
    pool = BlockingPool.from_url(
        url, max_connections=max_connections, timeout=1.0, health_check_interval=30,
        **timeouts)
    return redis.Redis(connection_pool=pool)


def is_cluster(client: Client | None) -> bool:
    return isinstance(client, RedisCluster)
