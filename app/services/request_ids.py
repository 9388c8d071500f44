"""Random ids in uuid4's text form, for what every request names (its request id, its hold).

`str(uuid.uuid4())` builds a UUID object (an int, its checks) to print 36 characters; this
formats the same 122 random bits from os.urandom directly: the same form, version 4, RFC 4122
variant, a quarter of the work.
"""

from __future__ import annotations

import os

_VARIANT = "89ab"  # the variant's two high bits are 10: the nibble is 8, 9, a or b


def random_uuid() -> str:
    """A random (version 4) UUID as text, as `str(uuid.uuid4())` writes it."""
    bits = os.urandom(16).hex()
    return (f"{bits[:8]}-{bits[8:12]}-4{bits[13:16]}-{_VARIANT[int(bits[16], 16) & 3]}"
            f"{bits[17:20]}-{bits[20:]}")
