"""SQL statements with their literals removed, so the same query is counted as one."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

MAX_LENGTH = 2000

_PATTERNS = [
    (re.compile(r"'(?:[^']|'')*'"), "?"),                            # string literals
    (re.compile(r"%\(\w+\)s|\$\d+|(?<![:\w]):\w+\b|%s"), "?"),         # bind parameters
    (re.compile(r"(?<![\w.\"])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b"), "?"),  # numbers
    (re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)"), "(?, ...)"),         # IN (...) of any length
    (re.compile(r"\(\?, \.\.\.\)(?:\s*,\s*\(\?, \.\.\.\))+"), "(?, ...), ..."),  # VALUES rows
    (re.compile(r"\s+"), " "),
]


@lru_cache(maxsize=4096)
def normalise(statement: str) -> str:
    """The statement's shape: literals and parameters as `?`, lists collapsed, one line."""
    text = statement
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text.strip()[:MAX_LENGTH]


def fingerprint(normalised: str) -> str:
    return hashlib.sha1(normalised.encode(), usedforsecurity=False).hexdigest()
