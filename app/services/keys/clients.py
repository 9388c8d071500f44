"""Which client sent a request, for a key's `allowedClients`: a convenience, not a boundary.

Anything can send any User-Agent and copy any request shape, so a client restriction keeps
honest users to the tools their admin meant (Claude Code only, say); it stops no one who
wants past it. The families, recognised by User-Agent and, for Claude Code's chat requests,
by the shape its requests always have:

- `claude_code`: `claude-cli/<x.y.z> (...)`; a Messages request also carries Claude Code's
  identity line at the start of a system block ("You are Claude Code, Anthropic's official CLI
  for Claude" or the Agent SDK's "You are a Claude agent") and a `metadata.user_id`.
- `codex_cli`: `codex_cli_rs/`, `codex_exec/` or `codex_vscode/<version>`.
- `gemini_cli`: `GeminiCLI/<version>`.
- `openai_sdk`: any OpenAI SDK (`OpenAI/Python <version>`, `OpenAI/JS <version>`, ...).

An entry `ua:<glob>` admits a User-Agent matching the glob, case-insensitively
(`ua:my-tool/*`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Protocol

CUSTOM = "ua:"
PATTERN_LENGTH, MAX_CLIENTS = 200, 50
_CLAUDE_CODE_IDENTITIES = ("You are Claude Code", "You are a Claude agent")
_USER_AGENTS = {
    "claude_code": re.compile(r"^claude-cli/\d+\.\d+\.\d+", re.IGNORECASE),
    "codex_cli": re.compile(r"^(codex_cli_rs|codex_exec|codex_vscode)/\d[\w.-]*", re.IGNORECASE),
    "gemini_cli": re.compile(r"^GeminiCLI/v?\d", re.IGNORECASE),
    "openai_sdk": re.compile(r"^OpenAI/[A-Za-z]+ ", re.IGNORECASE),
}
FAMILIES = tuple(_USER_AGENTS)


class HeaderLookup(Protocol):
    """Request headers that answer a name: a dict, or the web framework's own (case-blind)."""

    def get(self, key: str, /) -> str | None: ...


@dataclass(frozen=True)
class ClientRequest:
    """What of a request tells its client: the User-Agent and, for chat, the body."""

    user_agent: str = ""
    body: Mapping = field(default_factory=dict)
    chat: bool = True  # a chat request (its shape is checked), not a count or a listing

    @classmethod
    def of(cls, headers: HeaderLookup | None, body: Mapping | None = None, *,
           chat: bool = True) -> ClientRequest:
        found = headers or {}  # once: a framework's headers may walk their environment for it
        agent = found.get("User-Agent") or found.get("user-agent") or ""
        return cls(user_agent=agent, body=body if isinstance(body, Mapping) else {}, chat=chat)


def check(entries: list[str]) -> list[str]:
    """The entries as stored (deduplicated, in order); ValueError naming a bad one."""
    if len(entries) > MAX_CLIENTS:
        raise ValueError(f"at most {MAX_CLIENTS} clients")
    for entry in entries:
        if entry.startswith(CUSTOM):
            pattern = entry[len(CUSTOM):]
            if not 0 < len(pattern) <= PATTERN_LENGTH or not pattern.isprintable():
                raise ValueError(f"{entry!r}: give a User-Agent pattern after 'ua:'")
        elif entry not in FAMILIES:
            raise ValueError(f"{entry!r} is neither a client family ({', '.join(FAMILIES)}) "
                             "nor a 'ua:' User-Agent pattern")
    return list(dict.fromkeys(entries))


def admits(entries: list[str], request: ClientRequest) -> bool:
    """Does a key whose `allowedClients` are `entries` admit this request? [] admits all."""
    return not entries or any(_is(entry, request) for entry in entries)


def _is(entry: str, request: ClientRequest) -> bool:
    if entry.startswith(CUSTOM):
        return fnmatchcase(request.user_agent.lower(), entry[len(CUSTOM):].lower())
    if not _USER_AGENTS[entry].match(request.user_agent):
        return False
    return entry != "claude_code" or not request.chat or _claude_code_shape(request.body)


def _claude_code_shape(body: Mapping) -> bool:
    metadata = body.get("metadata")
    if not isinstance(metadata, Mapping) or not metadata.get("user_id"):
        return False
    system = body.get("system")
    blocks = [system] if isinstance(system, str) else system if isinstance(system, list) else []
    texts = [block if isinstance(block, str) else block.get("text", "")
             for block in blocks if isinstance(block, (str, Mapping))]
    return any(isinstance(text, str) and text.lstrip().startswith(_CLAUDE_CODE_IDENTITIES)
               for text in texts)
