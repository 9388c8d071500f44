"""The input guard's lone-surrogate check answers as Python's json and UTF-8 would: a JSON
text is refused exactly when a string it decodes to cannot be encoded as UTF-8."""

import json

from hypothesis import given
from hypothesis import strategies as st

from app.api.input_guard import json_has_lone_surrogate

# JSON string pieces: surrogate halves in both cases, ordinary escapes, escaped backslashes
# (so `\\ud800` is text, not an escape) and plain characters.
PIECES = ["\\ud83d", "\\ude00", "\\uDBFF", "\\uDC00", "\\ud800", "\\udfff", "\\u0041",
          "\\u00e9", "\\\\", "\\\\u", "ud800", "a", "é", " "]


def undecodable(text: bytes) -> bool:
    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield key
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    try:
        for found in strings(json.loads(text)):
            found.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@given(st.lists(st.lists(st.sampled_from(PIECES), max_size=8), min_size=1, max_size=3))
def test_the_check_agrees_with_json_and_utf8(strings):
    literals = ['"' + "".join(pieces) + '"' for pieces in strings]
    text = ('{"messages": [' + ", ".join(literals) + '], ' + literals[0] + ": 1}").encode()
    assert json_has_lone_surrogate(text) == undecodable(text), text


def test_examples():
    assert json_has_lone_surrogate(b'{"a": "x\\ud800"}')
    assert json_has_lone_surrogate(b'{"a": "\\ude00\\ud83d"}')  # low before high: two lone
    assert not json_has_lone_surrogate(b'{"a": "\\ud83d\\ude00"}')  # a pair: U+1F600
    assert not json_has_lone_surrogate(b'{"a": "C:\\\\ud800"}')  # an escaped backslash
    assert not json_has_lone_surrogate(b'{"a": "plain"}')
