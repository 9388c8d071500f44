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

A command may carry SERVER_ID among its words: it is sent as the run id of the server the
connection reaches (asked once per connection with INFO, and again after it connects anew), so
a script need not ask INFO on every call. Where no connection of ours carries it (a Cluster's
pipeline, redis-py's Script) it is sent as '' (the script asks INFO itself).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import hiredis
import redis
from redis.exceptions import DataError, ResponseError

from app.cache.topology import Client


class _ServerId:
    def __repr__(self) -> str:
        return "SERVER_ID"


# Stands in a command for the run id of the server it reaches (see the module's docstring).
SERVER_ID = _ServerId()
_RUN_ID = re.compile(r"^run_id:(\w+)", re.MULTILINE)


def unnamed(command: Sequence) -> tuple:
    """`command` with SERVER_ID sent as '' (the server is not known here)."""
    return tuple("" if word is SERVER_ID else word for word in command)


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
            pipe.execute_command(*unnamed(command))
        return pipe.execute(raise_on_error=False)
    # Naming the server waits for the connection: it may connect anew on a retry.
    packed = None if any(SERVER_ID in command for command in commands) else pack(commands)
    count = len(commands)
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        return connection.retry.call_with_retry(
            lambda: _exchange(connection, packed, count, commands),
            lambda _error: connection.disconnect())
    except BaseException:
        # Cut short (an error after the retries, a signal between two answers): answers may be
        # left unread, and the next user of the connection would read them as its own.
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


def _exchange(connection, packed: bytes | None, count: int, commands: Sequence[tuple]) -> list:
    if packed is None:
        # Connected and checked first: the run id must be that of the server the bytes reach.
        connection.connect()
        connection.check_health()
        server = _server_of(connection)
        connection.send_packed_command([pack([
            tuple(server if word is SERVER_ID else word for word in command)
            for command in commands])], check_health=False)
    else:
        connection.send_packed_command([packed])
    answers = []
    read = connection.read_response
    for _ in range(count):
        try:
            answers.append(read())
        except ResponseError as error:
            answers.append(error)
    return answers


def _server_of(connection) -> str:
    """The run id of the server `connection` is connected to, asked once per socket."""
    known = getattr(connection, "_relaygate_server", None)
    if known is not None and known[0] is connection._sock:
        return known[1]
    connection.send_command("INFO", "server", check_health=False)
    info = connection.read_response()
    found = _RUN_ID.search(info.decode() if isinstance(info, bytes) else str(info))
    if found is None:
        raise ResponseError("INFO server named no run_id")
    # The socket itself is kept, not its id(): a later socket could reuse a freed one's id.
    connection._relaygate_server = (connection._sock, found.group(1))
    return found.group(1)
