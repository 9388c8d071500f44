"""One Redis round trip: several commands written at once, their answers read in order.

What redis-py's non-transactional pipeline does for the request path, without its per-call
machinery (a Pipeline object, per-command packing and option handling, response callbacks
none of these commands has): the commands are packed by hiredis in one buffer, sent on a
connection from the client's own pool, and their answers read with that connection's parser.
What stays redis-py's: the pool (so Sentinel's master following, health checks and the
connection limit are unchanged), the connection's error handling (a Sentinel master turned
read-only drops the connection), and the client's Retry: a connection error or timeout
disconnects and sends the whole round trip again, as a pipeline does. A refused command
answers its error (NoScriptError, ResponseError...) in its place, as
`execute(raise_on_error=False)` would. On a Cluster, where commands go to the node of their
keys' slot, it is redis-py's cluster pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence

import hiredis
import redis
from redis.exceptions import DataError, ResponseError

from app.cache.topology import Client


def pack(commands: Sequence[tuple]) -> bytes:
    """The commands in the wire protocol, in one buffer (str encoded as UTF-8)."""
    try:
        return b"".join([hiredis.pack_command(command) for command in commands])
    except TypeError as error:  # as redis-py's own packer reports it
        raise DataError(str(error)) from error


def send(client: Client, commands: Sequence[tuple]) -> list:
    """The answers of `commands`, sent in one round trip; a refused command's answer is its
    error. Each command is its words as sent (a two-word name such as SCRIPT LOAD is two
    words: nothing splits them here); no response callback is applied (the answers are the
    server's, bytes undecoded). Raises redis errors for the connection (after the client's
    retries)."""
    if not commands:
        return []
    if not isinstance(client, redis.Redis):  # a RedisCluster (a slower check to make)
        pipe = client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return pipe.execute(raise_on_error=False)
    packed = pack(commands)
    count = len(commands)
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        return connection.retry.call_with_retry(
            lambda: _exchange(connection, packed, count),
            lambda _error: connection.disconnect())
    except BaseException:
        # Cut short (an error after the retries, a signal between two answers): answers may be
        # left unread, and the next user of the connection would read them as its own.
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


def _exchange(connection, packed: bytes, count: int) -> list:
    connection.send_packed_command([packed])
    answers = []
    read = connection.read_response
    for _ in range(count):
        try:
            answers.append(read())
        except ResponseError as error:
            answers.append(error)
    return answers
