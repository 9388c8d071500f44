"""The Lua scripts: each is `scripts/<name>.lua`, loaded by name and registered once per client.

A script may start with `--#include <lib>` lines: the text of `scripts/lib/<lib>.lua` (shared
functions, e.g. the quota counter's `fill`) is put in their place. A call is an EVALSHA sent in
one round trip (round_trip.py); on NOSCRIPT (a restarted or failed-over server) it goes through
redis-py's Script, which loads it (SCRIPT LOAD) and calls again. On a Cluster every call is
redis-py's Script.
On a Redis Cluster a script may touch only the keys it is given, all in one hash slot; the key
patterns (keys.py) tag those that travel together.
"""

from __future__ import annotations

import functools
import re
import threading
from pathlib import Path

from redis.commands.core import Script
from redis.exceptions import NoScriptError

from app.cache.round_trip import send, unnamed
from app.cache.topology import is_cluster

_FOLDER = Path(__file__).parent / "scripts"
_INCLUDE = re.compile(r"^--#include (\w+)\n", re.MULTILINE)


@functools.cache
def source(name: str) -> str:
    """The text of script `name`, its includes expanded."""
    text = (_FOLDER / f"{name}.lua").read_text()
    return _INCLUDE.sub(lambda found: source(f"lib/{found.group(1)}"), text)


class Scripts:
    """The scripts registered on one client, each on first use."""

    def __init__(self, client):
        self.client = client
        self._registered: dict[str, Script] = {}
        self._lock = threading.Lock()
        # One round trip of our own (round_trip.py) where redis-py's Script is not needed.
        self._lean = client is not None and not is_cluster(client)

    def __getitem__(self, name: str) -> Script:
        script = self._registered.get(name)
        if script is None:
            with self._lock:
                script = self._registered.get(name)
                if script is None:
                    script = self.client.register_script(source(name))
                    self._registered[name] = script
        return script

    def run(self, name: str, keys: list, args: list, *, client=None):
        """Run script `name` (on `client`, e.g. a pipeline, when given)."""
        if client is None and self._lean:
            return self.answer(send(self.client, [self.call(name, keys, args)])[0],
                               name, keys, args)
        return self[name](keys=keys, args=unnamed(args), client=client)

    def call(self, name: str, keys: list, args: list) -> tuple:
        """A call of script `name` as a plain EVALSHA command, to send with others (redis-py's
        own pipelined scripts cost a SCRIPT EXISTS round trip first); give its answer to
        `answer`."""
        return ("EVALSHA", self[name].sha, len(keys), *keys, *args)

    def queue(self, pipe, name: str, keys: list, args: list) -> None:
        """Put `call(...)` in `pipe`."""
        pipe.execute_command(*unnamed(self.call(name, keys, args)))

    def answer(self, found, name: str, keys: list, args: list):
        """The answer of a `call` sent with others: the server had not got the script
        (NOSCRIPT: restarted, failed over) -> it runs again on its own through redis-py's
        Script, which loads it first; another error is raised."""
        if isinstance(found, NoScriptError):
            return self[name](keys=keys, args=unnamed(args))
        if isinstance(found, Exception):
            raise found
        return found

    def run_many(self, name: str, calls: list[tuple[list, list]]) -> list:
        """Run script `name` once per (keys, args), in one round trip; the answers in order.

        EVALSHA pipelined without a transaction (each call stands alone, as `run` would run
        it); a call the server does not know the script for (NOSCRIPT) runs again through
        `run`, which loads it. Another error is raised after the rest have run."""
        if not calls:
            return []
        sent = send(self.client, [self.call(name, keys, args) for keys, args in calls])
        answers = [self[name](keys=call[0], args=unnamed(call[1]))
                   if isinstance(answer, NoScriptError)
                   else answer for answer, call in zip(sent, calls, strict=True)]
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        return answers
