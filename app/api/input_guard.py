"""Every request's input checked once, before any view parses it: no NUL byte in the path, the
query string, a header or a JSON body, no lone UTF-16 surrogate escape in a JSON body, and no
JSON nested deeper than the limit.

PostgreSQL cannot store a NUL in text, a lone surrogate (`"\ud800"`, which Python's json
decodes to a code point that is no character) cannot be encoded as UTF-8 to hash, store or
relay, and Python's json gives up with a RecursionError near 1,000 levels; each would otherwise
surface as a 500 deep inside a view. Depth is measured on
the raw bytes without recursion, so the check itself cannot be driven into one.
"""

from __future__ import annotations

import re
from itertools import accumulate

from flask import Flask

from app.api.deps import current_request
from app.errors import MalformedInput

NUL = "\x00"
# A JSON string (escapes included), and a \u0000 escape that is not itself escaped.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# A \uD800-\uDFFF escape that is not itself escaped; group 1 is set for a high half (D800-DBFF).
_SURROGATE_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u[dD](?:([89abAB])|[c-fC-F])[0-9a-fA-F]{2}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [1 if b in b"[{" else -1 for b in range(256)]
_CHUNK = 1 << 16
# Blueprints whose views never read the body: the legacy routes redirect (308) with it, and
# their successor checks it then.
BODY_UNREAD = {"legacy"}
_HEADER_KEYS = ("HTTP_", "CONTENT_")


def json_too_deep(raw: bytes, limit: int) -> bool:
    """Whether a JSON text nests arrays and objects more than `limit` levels deep anywhere.

    The running depth over the brackets outside strings, a chunk at a time so a deep text is
    refused at its first excess; unpaired brackets count as the parser would descend into them.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = 0
    for start in range(0, len(brackets), _CHUNK):
        chunk = brackets[start:start + _CHUNK]
        depths = list(accumulate(map(_STEP.__getitem__, chunk), initial=depth))
        if max(depths) > limit:
            return True
        depth = depths[-1]
    return False


def json_has_nul(raw: bytes) -> bool:
    return b"\x00" in raw or (b"\\u0000" in raw and _NUL_ESCAPE.search(raw) is not None)


def json_has_lone_surrogate(raw: bytes) -> bool:
    """Whether a JSON text escapes a UTF-16 surrogate outside a high-then-low pair."""
    if b"\\u" not in raw:
        return False
    waiting = -1  # where a high surrogate's escape ended, waiting for its low half
    for found in _SURROGATE_ESCAPE.finditer(raw):
        start = found.end() - 6  # the escape itself, after the escaped backslashes before it
        if found[1] is not None:  # a high half
            if waiting >= 0:
                return True
            waiting = found.end()
        elif waiting == start:
            waiting = -1
        else:
            return True
    return waiting >= 0


def check_request(max_depth: int) -> None:
    request = current_request()
    wsgi = request.environ  # the WSGI request's variables, not the process's environment
    # request.path decodes PATH_INFO, and only a NUL there decodes to a NUL.
    if NUL in wsgi.get("PATH_INFO", ""):
        raise _nul("the path")
    query = wsgi.get("QUERY_STRING", "")
    # A NUL decodes only from a raw NUL or `%00`: a query without either needs no parsing here.
    if NUL in query or "%00" in query:
        for name, value in request.args.items(multi=True):
            if NUL in name or NUL in value:
                raise _nul(f"the query parameter {name.replace(NUL, '')!r}")
    # The headers' values are the environ's HTTP_* and CONTENT_* strings; named only on refusal.
    if any(NUL in value for key, value in wsgi.items()
           if key.startswith(_HEADER_KEYS) and type(value) is str):
        for name, value in request.headers.items():
            if NUL in value:
                raise _nul(f"the header {name!r}")
    # request.mimetype, read from the environ as werkzeug reads it (parse_options_header).
    mimetype = wsgi.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if ("json" not in mimetype or request.content_length == 0
            or request.blueprint in BODY_UNREAD):
        return
    raw = request.get_data(cache=True)
    if json_too_deep(raw, max_depth):
        raise MalformedInput(f"The JSON body is nested more than {max_depth} levels deep.",
                             details={"maxDepth": max_depth})
    if json_has_nul(raw):
        raise _nul("the JSON body")
    if json_has_lone_surrogate(raw):
        raise MalformedInput("A lone UTF-16 surrogate escape (\\ud800-\\udfff not in a high-low "
                             "pair) in the JSON body is not a character.")


def _nul(where: str) -> MalformedInput:
    return MalformedInput(f"A NUL byte (\\u0000) in {where} is not accepted.")


def register(app: Flask, *, max_depth: int) -> None:
    app.before_request(lambda: check_request(max_depth))
