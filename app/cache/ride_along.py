"""Commands that may wait for the request's next Redis round trip: they ride along with it.

A request's end frees its slots (a ZREM each) and queues its usage (an XADD); its admission
reads its sticky session (a GETEX) and takes its key's slots (a script): two round trips each
where one would do. Inside `riding_along()`, a store's command that can wait
(`ride(connection, *command, answered=...)`) is held instead of sent, and the next round trip
a store sends on the same connection in the block (`board(connection)`) carries it; what
found no round trip to ride is sent in one round trip of its own when the block ends. `answered`,
if given, receives the command's answer (an exception if it failed). A rider fails open as
the command it replaces did, and never makes the round trip it rode fail.

A read-through invalidation made in the block rides too (store.py: one transaction of its
entries): a synchronous store's spend-cache invalidation goes with the hold's settle. It is
made after its commit and lands before the block ends, so open a block only where nothing in
it reads back what it changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import redis

from app.cache.connection import RedisConnection
from app.cache.round_trip import send

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rider:
    connection: RedisConnection
    command: tuple
    answered: Callable[[object], None] | None = None


# Inside riding_along: the held commands in the order they were made.
_RIDERS: ContextVar[list[Rider] | None] = ContextVar("riders", default=None)


@contextmanager
def riding_along() -> Iterator[None]:
    """Hold the block's riding commands for its next round trip; send what is left at its
    end."""
    riders: list[Rider] = []
    token = _RIDERS.set(riders)
    try:
        yield
    finally:
        _RIDERS.reset(token)
        while riders:
            connection = riders[0].connection
            mine = [rider for rider in riders if rider.connection is connection]
            riders[:] = [rider for rider in riders if rider.connection is not connection]
            _send(connection, mine)


def ride(connection: RedisConnection, *command,
         answered: Callable[[object], None] | None = None) -> bool:
    """Hold `command` for the block's next round trip on `connection`; False outside a
    `riding_along()` block (the caller sends it itself)."""
    riders = _RIDERS.get()
    if riders is None:
        return False
    riders.append(Rider(connection, command, answered))
    return True


def ride_together(connection: RedisConnection, commands: list[tuple]) -> bool:
    """`ride` each of `commands`, kept together and in order (a transaction's MULTI ...
    EXEC: nothing else held is put between them); False outside a `riding_along()` block."""
    riders = _RIDERS.get()
    if riders is None:
        return False
    riders.extend(Rider(connection, command) for command in commands)
    return True


def board(connection: RedisConnection) -> list[Rider]:
    """Take the held commands for `connection`, to send in front of a round trip's own
    (`commands(boarded)`); `landed` hands them their answers, and a round trip that fails
    gives them back (`stranded`), so the block's end sends them again (each may be sent
    twice: a ZREM, a GETEX, a read-through invalidation's transaction)."""
    riders = _RIDERS.get()
    if not riders:
        return []
    mine = [rider for rider in riders if rider.connection is connection]
    riders[:] = [rider for rider in riders if rider.connection is not connection]
    return mine


def commands(boarded: list[Rider]) -> list[tuple]:
    return [rider.command for rider in boarded]


def stranded(connection: RedisConnection, boarded: list[Rider]) -> None:
    """The round trip `boarded` rode failed: hold them again for the block's end."""
    riders = _RIDERS.get()
    if riders is not None:
        riders.extend(boarded)


def landed(answers: list, boarded: list[Rider]) -> list:
    """The round trip's own answers, once the riders' are handed over: a rider the server
    refused is logged (a slot's expiry frees what its ZREM would have); its refusal is not the
    round trip's."""
    for rider, answer in zip(boarded, answers, strict=False):
        if rider.answered is not None:
            rider.answered(answer)
        elif isinstance(answer, Exception):
            log.warning("a command riding a round trip failed: %s", answer)
    return answers[len(boarded):]


def run_script(connection: RedisConnection, name: str, keys: list, args: list):
    """Run Lua script `name` (app/cache/lua.py), the held commands for `connection` riding in
    the same round trip. Raises as the script's own call would."""
    scripts = connection.scripts
    if not _RIDERS.get() or connection.client is None:
        return scripts.run(name, keys, args)
    riders = board(connection)
    try:
        answers = send(connection.client, [*commands(riders), scripts.call(name, keys, args)])
    except redis.RedisError:
        stranded(connection, riders)
        raise
    return scripts.answer(landed(answers, riders)[0], name, keys, args)


def _send(connection: RedisConnection, riders: list[Rider]) -> None:
    client = connection.client
    try:
        if client is None:
            raise redis.ConnectionError("Redis is not configured")
        landed(send(client, commands(riders)), riders)
    except redis.RedisError as error:
        if client is not None:
            connection.failed(error)
        for rider in riders:
            if rider.answered is not None:
                rider.answered(error)
