"""Connection pools whose checkout skips redis-py's per-checkout metrics.

redis-py 8.1's pools record each checkout and release for OpenTelemetry: the pool's name is
built from its URL, four connection counts are recorded, and while no meter is configured each
record tries to create the collector again. That is most of a checkout's CPU, on every round
trip. These pools do the rest of the checkout as redis-py does: the fork check (a child process
starts with new connections), the connection limit (BlockingPool waits up to its timeout, then
raises ConnectionError), connecting, the readiness poll (a connection the server closed is
connected again; one holding unread data too, unless maintenance notifications are on, which
redis-py 8 turns on by default), and on release the pool's ownership check (Sentinel's: a
connection to a master that is no longer the master is dropped) and reconnect flag. The
connections, their health checks, timeouts and retries are redis-py's own. While redis-py's
observability is enabled, or the pool is in a state this checkout does not cover (a
maintenance window, a client-side cache), redis-py's own checkout runs.
"""

from __future__ import annotations

import contextlib
from queue import Empty, Full

import redis
from redis.event import AfterConnectionReleasedEvent
from redis.observability.providers import get_observability_instance
from redis.sentinel import SentinelConnectionPool


def _observed() -> bool:
    return get_observability_instance().is_enabled()


def _ready(pool, connection) -> None:
    """Connected, and not closed by the server (nor holding unread data, where redis-py checks
    that): else connected again, once. Released on any error."""
    try:
        connection.connect()
        try:
            if connection.can_read() and not pool.maint_notifications_enabled():
                raise redis.ConnectionError("Connection has data")
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            connection.disconnect()
            connection.connect()
            if connection.can_read() and not pool.maint_notifications_enabled():
                raise redis.ConnectionError("Connection not ready") from None
    except BaseException:
        pool.release(connection)
        raise


class BlockingPool(redis.BlockingConnectionPool):
    """redis-py's BlockingConnectionPool (one server), checked out without its metrics."""

    def _lean(self) -> bool:
        return not self._in_maintenance and self.cache is None and not _observed()

    def get_connection(self, *args, **kwargs):
        if args or kwargs or not self._lean():
            return super().get_connection(*args, **kwargs)
        self._checkpid()
        try:
            connection = self.pool.get(block=True, timeout=self.timeout)
        except Empty:
            raise redis.ConnectionError("No connection available.") from None
        if connection is None:  # a free place: the pool grows on demand
            connection = self.make_connection()
        _ready(self, connection)
        return connection

    def release(self, connection) -> None:
        if not self._lean():
            return super().release(connection)
        self._checkpid()
        if not self.owns_connection(connection):  # made before a fork
            connection.disconnect()
            self.pool.put_nowait(None)
            return
        if connection.should_reconnect():
            connection.disconnect()
        with contextlib.suppress(Full):  # a connection made before the pool was reset
            self.pool.put_nowait(connection)


class LeanSentinelPool(SentinelConnectionPool):
    """redis-py's SentinelConnectionPool, checked out without its metrics."""

    def _lean(self) -> bool:
        return self.cache is None and not _observed()

    def get_connection(self, *args, **kwargs):
        if args or kwargs or not self._lean():
            return super().get_connection(*args, **kwargs)
        self._checkpid()
        with self._lock:
            try:
                connection = self._available_connections.pop()
            except IndexError:
                connection = self.make_connection()
            self._in_use_connections.add(connection)
        _ready(self, connection)
        return connection

    def release(self, connection) -> None:
        if not self._lean():
            return super().release(connection)
        self._checkpid()
        with self._lock:
            try:
                self._in_use_connections.remove(connection)
            except KeyError:  # not this pool's (reset since, or never)
                return
            if self.owns_connection(connection):
                if connection.should_reconnect():
                    connection.disconnect()
                self._available_connections.append(connection)
                if self._event_dispatcher is not None:
                    self._event_dispatcher.dispatch(AfterConnectionReleasedEvent(connection))
                return
            # To an address that is no longer the master, or made before a fork.
            connection.disconnect()
            if connection.pid == self.pid:
                self._created_connections -= 1
