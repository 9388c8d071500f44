"""Webhook URLs checked against SSRF, and signed POSTs pinned to the address that was checked."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx


class WebhookRefused(ValueError):
    """The URL may not be called; the message says why."""


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool) -> list[str]:
    """The addresses `url` may be called at; WebhookRefused if none may."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise WebhookRefused("Only http and https webhooks are allowed.")
    if not parts.hostname:
        raise WebhookRefused("The webhook URL has no host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as error:
        raise WebhookRefused(f"The webhook host does not resolve: {error}.") from error
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if allow_private:
        return addresses
    refused = [a for a in addresses if not _allowed(ipaddress.ip_address(a.split("%")[0]))]
    if refused:
        raise WebhookRefused(
            f"The webhook resolves to a private, loopback or reserved address ({refused[0]}); "
            "set RELAYGATE_ALLOW_PRIVATE_WEBHOOKS=true to allow that.")
    return addresses


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookSender:
    def __init__(self, *, allow_private: bool, timeout: float) -> None:
        self.allow_private = allow_private
        self.timeout = timeout

    def post(self, url: str, body: bytes, headers: dict) -> Attempt:
        """POST once; the host is checked again now and the connection pinned to that address,
        so a DNS change between the check and the call cannot reach a private address."""
        try:
            address = check_url(url, allow_private=self.allow_private)[0]
        except WebhookRefused as error:
            return Attempt(None, str(error))
        parts = urlsplit(url)
        host = f"[{address}]" if ":" in address else address
        netloc = f"{host}:{parts.port}" if parts.port else host
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        headers = {**headers, "Host": parts.netloc.rpartition("@")[2],
                   "Content-Type": "application/json"}
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False,
                              trust_env=False) as client:
                response = client.post(pinned, content=body, headers=headers,
                                       extensions={"sni_hostname": parts.hostname})
        except httpx.HTTPError as error:
            return Attempt(None, f"{type(error).__name__}: {error}"[:500])
        return Attempt(response.status_code, None if response.is_success
                       else f"HTTP {response.status_code}")
