"""One pooled httpx.Client per proxy, so every account behind the same proxy reuses connections."""

from __future__ import annotations

import ssl
import threading

import certifi
import httpx

# A gateway relays hundreds of long streams at once; the pool must not be what makes them queue.
_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=30)

_clients: dict[str | None, httpx.Client] = {}
_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


def shared_http_client(proxy: str | None = None) -> httpx.Client:
    """The process-wide client for this proxy URL (None means a direct connection)."""
    with _lock:
        client = _clients.get(proxy)
        if client is None or client.is_closed:
            client = _new_client(proxy)
            _clients[proxy] = client
        return client


def close_shared_http_clients() -> None:
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def _new_client(proxy: str | None) -> httpx.Client:
    global _ssl_context
    # Loading the CA bundle takes tens of milliseconds; every proxy's client can share it.
    _ssl_context = _ssl_context or ssl.create_default_context(cafile=certifi.where())
    # trust_env is off because each account names its own proxy; an ambient HTTP(S)_PROXY
    # would silently route every account through one exit.
    return httpx.Client(proxy=proxy, limits=_LIMITS, trust_env=False, verify=_ssl_context)
