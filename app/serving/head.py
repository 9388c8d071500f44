"""A plain request head parsed in a few steps, for heads gunicorn's own parser would take as is.

gunicorn's Python parser checks every field one at a time (a configuration lookup, a regular
expression and a policy call each, and the peer's address parsed for every request): about half
the CPU the worker spends on a small request outside the app. Most heads need none of that
policy: `plain_head` reads those in one pass and answers the parts gunicorn's parser would have
set, and anything outside that shape (an empty line first, a bare LF, a folded or underscored
field, a scheme or Expect or Transfer-Encoding field, a repeated Host or Content-Type, a limit
reached, a request target not in origin form, a version other than 1.0 and 1.1) gets None, so
gunicorn parses it (and refuses it) itself. The body's framing stays gunicorn's either way.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from gunicorn.util import split_request_uri

_REQUEST_LINE = re.compile(r"([A-Z]{3,20}) (/(?!/)[\x21-\x7e]*) HTTP/1\.([01])")
# Fields as RFC 9110 has them: a token, a colon, then visible, obs-text, SP and HTAB bytes.
_FIELDS = re.compile(r"(?:[!#$%&'*+\-.^_`|~0-9a-zA-Z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*")
# Fields whose handling depends on policy, state or a second occurrence: gunicorn's parser.
_POLICY = frozenset(("EXPECT", "TRANSFER-ENCODING"))
_SINGLETONS = ("HOST", "CONTENT-TYPE")


class PlainHead(NamedTuple):
    method: str
    uri: str
    path: str
    query: str
    fragment: str
    version: tuple[int, int]
    headers: list[tuple[str, str]]
    rest: bytes  # what followed the head: the body's first bytes, or a pipelined request


def plain_head(data: bytes, *, line_limit: int, field_limit: int, field_size_limit: int,
               scheme_headers, renamed: dict[str, str]) -> PlainHead | None:
    """The head at the start of `data` as gunicorn's parser would read it, or None when only
    gunicorn's parser may say (including when the head is not complete in `data`).

    `line_limit` and `field_size_limit` count as gunicorn's (0: none), `field_limit` is the most
    fields, `scheme_headers` the names of cfg.secure_scheme_headers and `renamed` maps upper-case
    names to the names they take (before any other check, as SessionHeaders does)."""
    end = data.find(b"\r\n\r\n")
    line_end = data.find(b"\r\n")
    if end < 0 or line_end <= 0 or (line_end > line_limit > 0):
        return None
    head = data[:end + 2].decode("latin-1")
    if head.count("\n") != head.count("\r\n"):
        return None
    line = _REQUEST_LINE.fullmatch(head, 0, line_end)
    fields = head[line_end + 2:]
    if line is None or _FIELDS.fullmatch(fields) is None:
        return None
    headers = []
    if fields:
        lines = fields.split("\r\n")
        lines.pop()  # the empty string after the last CRLF
        if len(lines) > field_limit:
            return None
        for field in lines:
            if len(field) + 2 > field_size_limit > 0:
                return None
            name, _, value = field.partition(":")
            name = name.upper()
            name = renamed.get(name, name)
            # An underscored name is for gunicorn's header_map and trusted forwarders to judge.
            if name in _POLICY or name in scheme_headers or "_" in name:
                return None
            headers.append((name, value.strip(" \t")))
        names = [name for name, _ in headers]
        if any(names.count(name) > 1 for name in _SINGLETONS):
            return None
    method, uri, minor = line.groups()
    try:
        parts = split_request_uri(uri)
    except ValueError:
        return None
    return PlainHead(method, uri, parts.path or "", parts.query or "", parts.fragment or "",
                     (1, int(minor)), headers, data[end + 4:])
