"""Who the client is: the peer's address, or X-Forwarded-For when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress


class TrustedProxies:
    """The reverse proxies whose X-Forwarded-For is believed; none by default.

    Entries are addresses or CIDR networks ('10.0.0.0/8'). A forwarded header from any other
    peer is ignored: anyone can send one.
    """

    def __init__(self, entries: tuple[str, ...] | list[str] = ()):
        try:
            self.networks = tuple(ipaddress.ip_network(entry.strip(), strict=False)
                                  for entry in entries)
        except ValueError as error:
            raise ValueError(f"not an address or network: {error}") from error

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str | None) -> bool:
        if not address or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client_address(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address: the peer unless it is a trusted proxy; then the right-most
        X-Forwarded-For entry that is not itself a trusted proxy (the left ones are whatever
        the client chose to send)."""
        if not forwarded_for or not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop if _is_address(hop) else peer
        return hops[0] if hops and _is_address(hops[0]) else peer


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
