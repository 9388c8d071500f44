"""The pieces that guard login: trusted proxies and the cap on concurrent password hashes."""

import pytest

from app.clientaddr import TrustedProxies
from app.errors import Unavailable
from app.security import Passwords


def test_a_forwarded_address_counts_only_when_the_peer_is_a_trusted_proxy():
    proxies = TrustedProxies(("10.0.0.0/8", "127.0.0.1"))
    assert proxies.client_address("127.0.0.1", "203.0.113.7") == "203.0.113.7"
    assert proxies.client_address("198.51.100.1", "203.0.113.7") == "198.51.100.1"
    assert TrustedProxies().client_address("127.0.0.1", "203.0.113.7") == "127.0.0.1"


def test_the_client_is_the_right_most_forwarded_hop_that_is_not_a_trusted_proxy():
    proxies = TrustedProxies(("10.0.0.0/8",))
    # The left-most entry is whatever the client wrote; the proxies appended the rest.
    assert proxies.client_address("10.0.0.2", "1.2.3.4, 203.0.113.7, 10.0.0.9") == "203.0.113.7"
    assert proxies.client_address("10.0.0.2", "not-an-address") == "10.0.0.2"


def test_a_trusted_proxy_that_is_not_an_address_is_refused():
    with pytest.raises(ValueError):
        TrustedProxies(("proxy.example",))


def test_a_hash_beyond_the_concurrency_cap_waits_then_is_refused_with_retry_after():
    passwords = Passwords(time_cost=1, memory_kib=64, concurrency=1, wait_seconds=0.05)
    stored = passwords.hash("a password")
    with passwords._turn(), pytest.raises(Unavailable) as refused:  # another login hashes
        passwords.verify(stored, "a password")
    assert refused.value.code == "LOGIN_BUSY" and refused.value.retry_after == 1
    assert passwords.verify(stored, "a password") is True
