"""The CRS fixture's accounts reach nothing beyond this machine: loopback, on a closed port."""

from __future__ import annotations

import ipaddress
import json
import socket
from urllib.parse import urlsplit

import redis


def _addresses(client: redis.Redis) -> list[tuple[str, str, int]]:
    """(key, host, port) of every proxy and base URL an account of the keyspace carries."""
    found = []
    for key in client.scan_iter(count=1000):
        if client.type(key) != "hash":
            continue
        fields = client.hgetall(key)
        if fields.get("proxy"):
            proxy = json.loads(fields["proxy"])
            found.append((key, proxy["host"], int(proxy["port"])))
        for name in ("apiUrl", "baseApi", "baseUrl"):
            if fields.get(name):
                url = urlsplit(fields[name])
                found.append((key, url.hostname, url.port or 443))
    return found


def test_every_proxy_and_base_url_in_the_crs_fixture_is_a_closed_loopback_port(crs_redis):
    addresses = _addresses(crs_redis)
    assert addresses, "the fixture should carry at least one proxy"
    for key, host, port in addresses:
        assert ipaddress.ip_address(host).is_loopback, (key, host)
        with socket.socket() as probe:
            probe.settimeout(1)
            assert probe.connect_ex((host, port)) != 0, f"{key}: {host}:{port} is open"
