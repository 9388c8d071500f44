"""The Lua scripts: each is `scripts/<name>.lua`, loaded by name and registered once per client.

A script may start with `--#include <lib>` lines: the text of `scripts/lib/<lib>.lua` (shared
functions, e.g. the quota counter's `fill`) is put in their place. Calls go through redis-py's
Script: EVALSHA, and on NOSCRIPT (a restarted or failed-over server) SCRIPT LOAD and again.
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
        return self[name](keys=keys, args=args, client=client)

    def queue(self, pipe, name: str, keys: list, args: list) -> None:
        """Put a call of script `name` in `pipe` as a plain EVALSHA (redis-py's own pipelined
        scripts cost a SCRIPT EXISTS round trip first); give its answer to `answer`."""
        pipe.execute_command("EVALSHA", self[name].sha, len(keys), *keys, *args)

    def answer(self, found, name: str, keys: list, args: list):
        """The answer of a call `queue` put in a pipeline: the server had not got the script
        (NOSCRIPT: restarted, failed over) -> it runs again on its own, loaded first; another
        error is raised."""
        if isinstance(found, NoScriptError):
            return self.run(name, keys, args)
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
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            self.queue(pipe, name, keys, args)
        answers = [self.run(name, *call) if isinstance(answer, NoScriptError) else answer
                   for answer, call in zip(pipe.execute(raise_on_error=False), calls,
                                               strict=True)]
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        return answers
