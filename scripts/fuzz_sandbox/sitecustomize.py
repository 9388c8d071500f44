"""Loaded by the server that scripts/fuzz_openapi.py starts: no connection leaves this machine.

The fuzzer creates accounts with any base URL and OAuth endpoints; whatever it makes the
server call must fail as an unreachable upstream, never reach the internet.
"""

import ipaddress
import socket

_LOCAL_NAMES = {"localhost", "localhost.localdomain"}
_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect


def _is_local(host) -> bool:
    if host is None:
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _local_getaddrinfo(host, *args, **kwargs):
    if not _is_local(host):
        raise socket.gaierror(socket.EAI_NONAME, f"{host}: off-machine names are blocked")
    return _getaddrinfo(host, *args, **kwargs)


def _local_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
        raise ConnectionRefusedError(f"{address[0]}: off-machine connections are blocked")
    return _connect(self, address)


socket.getaddrinfo = _local_getaddrinfo
socket.socket.connect = _local_connect
