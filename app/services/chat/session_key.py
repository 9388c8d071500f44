"""Which conversation a chat request belongs to, so it can stay on one account (sticky sessions).

Provider prompt caches live per account: a conversation that moves loses its cache. The key is
read from, first found wins:
1. the session part of Anthropic's `metadata.user_id` (Claude Code sends
   `user_<hash>_account_<uuid>_session_<uuid>`, or a JSON object with `session_id`);
2. an `x-session-id`, `session_id` or `conversation_id` header (Codex CLI sends the last
   two; a server that maps underscores shows them as `session-id`, `conversation-id`);
3. OpenAI's `prompt_cache_key` (Codex sends its conversation id there too);
4. else a hash of the system prompt and the first user message (a conversation resent whole
   with each turn starts the same way every time); for a Responses body, `instructions` and
   the first user item of `input`; Gemini's `systemInstruction` and first user `contents`
   entry are those.
Pure functions: a body and headers in, a key out (None when the request gives nothing to go by).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Protocol

from app.services.keys.clients import HeaderLookup

SESSION_HEADERS = ("x-session-id", "session_id", "session-id", "conversation_id",
                   "conversation-id")
_CLAUDE_CODE_SESSION = re.compile(r"_session_([A-Za-z0-9-]+)$")
# One encoder for every request: json.dumps with options builds a new one each time.
_PROMPT_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str).encode
# What that encoder writes for a string (ensure_ascii off): a prompt that is text throughout
# is written without building the encoder's machinery for one list.
_PROMPT_TEXT = json.encoder.encode_basestring


class HeaderItems(Protocol):
    """Request headers as (name, value) pairs: a dict, or the web framework's own."""

    def items(self) -> Iterable[tuple[str, str]]: ...


class RequestHeaders(HeaderItems, HeaderLookup, Protocol):
    """A client's request headers as the chat routes take them: pairs, and a lookup by name
    (werkzeug's Headers, or a dict)."""


class ReadHeaders(dict[str, str]):
    """Headers as `headers_read` answers them: names lower-cased already."""


def headers_read(headers: HeaderItems | None) -> ReadHeaders:
    """The request's headers read once, names lower-cased. A framework's own view may walk the
    whole request environment on every pass, len() and truthiness included (werkzeug's
    EnvironHeaders does), and a chat request reads them for its client, its session and what
    goes upstream."""
    return ReadHeaders() if headers is None else ReadHeaders(
        (name.lower(), value) for name, value in headers.items())


def session_key(body: Mapping, headers: HeaderItems | None = None) -> str | None:
    """The request's session key, prefixed by where it came from ('session:' or 'prompt:')."""
    named = _from_metadata(body.get("metadata")) or _from_headers(headers or {})
    named = named or _text(body.get("prompt_cache_key"))
    if named:
        return f"session:{named}"
    return _from_prompt(body)


def _mapping(value) -> bool:
    # A JSON body's objects are dicts: the exact check first, the ABC's (slower) for others.
    return value.__class__ is dict or isinstance(value, Mapping)


def _text(value) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _from_metadata(metadata) -> str | None:
    user_id = _text(metadata.get("user_id")) if _mapping(metadata) else None
    if user_id is None:
        return None
    if user_id.startswith("{"):
        try:
            found = json.loads(user_id)
        except ValueError:
            return None
        return _text(found.get("session_id")) if isinstance(found, dict) else None
    match = _CLAUDE_CODE_SESSION.search(user_id)
    return match.group(1) if match else None


def _from_headers(headers: HeaderItems) -> str | None:
    lowered = headers if isinstance(headers, ReadHeaders) else {
        name.lower(): value for name, value in headers.items()}
    return next((found for name in SESSION_HEADERS if (found := _text(lowered.get(name)))),
                None)


def _from_prompt(body: Mapping) -> str | None:
    if "contents" in body:
        return _from_gemini_prompt(body)
    messages = body.get("messages")
    if messages is None and "input" in body:  # a Responses body
        messages = body["input"]
        messages = [{"role": "user", "content": messages}] if isinstance(messages, str) \
            else messages
        body = {"system": body.get("instructions"), "messages": messages}
    messages = messages if isinstance(messages, list) else []
    system = body.get("system")
    if system is None:  # OpenAI's system prompt is a message of its own
        system = next((m.get("content") for m in messages if _mapping(m)
                       and m.get("role") in ("system", "developer")), None)
    first = next((m.get("content") for m in messages
                  if _mapping(m) and m.get("role") == "user"), None)
    return _hashed(system, first)


def _from_gemini_prompt(body: Mapping) -> str | None:
    contents = body.get("contents")
    contents = contents if isinstance(contents, list) else []
    first = next((c.get("parts") for c in contents
                  if isinstance(c, Mapping) and c.get("role", "user") == "user"), None)
    instruction = body.get("systemInstruction")
    return _hashed(instruction.get("parts") if isinstance(instruction, Mapping) else None, first)


def _hashed(system, first) -> str | None:
    if first is None:
        return None
    if first.__class__ is str and (system is None or system.__class__ is str):
        # As _PROMPT_JSON writes [system, first] (its separators are ", " and ": ").
        text = f"[{'null' if system is None else _PROMPT_TEXT(system)}, {_PROMPT_TEXT(first)}]"
    else:
        text = _PROMPT_JSON([system, first])
    return "prompt:" + hashlib.sha256(text.encode()).hexdigest()
