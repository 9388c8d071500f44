"""One pooled httpx.Client per proxy, so every account behind the same proxy reuses connections,
and the one call every upstream request makes on it (`prepared_request`, then `send`); the
process's DirectPool for the accounts that reach their upstream without a proxy."""

from __future__ import annotations

import ssl
import threading

import certifi
import httpcore
import httpx
import socksio

from app.providers.direct_pool import DirectPool

# A gateway relays hundreds of long streams at once; the pool must not be what makes them queue.
_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=30)

_clients: dict[str | None, httpx.Client] = {}
_direct: DirectPool | None = None
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


def shared_direct_pool() -> DirectPool:
    """The process-wide pool for upstreams reached directly: the direct httpx client's default
    headers, TLS context, limits and keep-alive."""
    global _direct
    pool = _direct
    if pool is not None and not pool.is_closed:
        return pool
    client = shared_http_client(None)
    with _lock:
        if _direct is None or _direct.is_closed:
            context = _shared_ssl_context()
            # httpcore offers HTTP/1.1 alone by ALPN when HTTP/2 is off; so do we.
            context.set_alpn_protocols(["http/1.1"])
            _direct = DirectPool(context, list(client.headers.raw),
                                 max_connections=_LIMITS.max_connections or 1000,
                                 max_keepalive=_LIMITS.max_keepalive_connections or 100,
                                 keepalive_expiry=_LIMITS.keepalive_expiry or 30.0)
        return _direct


def close_shared_http_clients() -> None:
    global _direct
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
        direct, _direct = _direct, None
    for client in clients:
        client.close()
    if direct is not None:
        direct.close()


def _shared_ssl_context() -> ssl.SSLContext:
    global _ssl_context
    # Loading the CA bundle takes tens of milliseconds; every client and the pool share it.
    _ssl_context = _ssl_context or ssl.create_default_context(cafile=certifi.where())
    return _ssl_context


def _new_client(proxy: str | None) -> httpx.Client:
    # trust_env is off because each account names its own proxy; an ambient HTTP(S)_PROXY
    # would silently route every account through one exit.
    transport = BoundedTransport(proxy=proxy, limits=_LIMITS, trust_env=False,
                                 verify=_shared_ssl_context())
    return httpx.Client(transport=transport, trust_env=False)


def prepared_request(client: httpx.Client, url: httpx.URL, headers: dict[str, str],
                     body: bytes, timeout: dict[str, float | None]) -> httpx.Request:
    """A POST of `body` as `client.build_request` makes it, byte for byte on the wire (the
    client's default headers, ours replacing any of the same name, then Host first and
    Content-Length last), for a fraction of its work: the header list is built once, not
    normalised and merged through three Headers objects. `timeout` is an httpx.Timeout's
    `as_dict()`. A value outside ASCII raises UnicodeEncodeError, as httpx does."""
    ours = {name.lower() for name in headers}
    raw = [(b"Host", url.netloc)]
    raw += [(name, value) for name, value in client.headers.raw
            if name.decode("ascii").lower() not in ours]
    raw += [(name.encode("ascii"), value.encode("ascii")) for name, value in headers.items()]
    if "content-length" not in ours and "transfer-encoding" not in ours:
        raw.append((b"Content-Length", str(len(body)).encode("ascii")))
    return httpx.Request("POST", url, headers=raw, stream=httpx.ByteStream(body),
                         extensions={"timeout": timeout})


def send(client: httpx.Client, request: httpx.Request, *, stream: bool) -> httpx.Response:
    """`client.send(request, stream=stream)` straight through the client's transport.

    What Client.send adds around the transport, none of which an upstream call uses: auth
    flows and redirects (we give neither), event hooks (our clients have none), a log line,
    and a cookie jar, which would keep the Set-Cookie of one account's upstream and send it
    with every other account's requests through the same client; the client's own cookies
    never travel (forwarding.py), nor do the upstream's now.
    """
    if client.is_closed:
        raise RuntimeError("Cannot send a request, as the client has been closed.")
    response = client._transport_for_url(request.url).handle_request(request)
    response.request = request
    if not stream:
        try:
            response.read()
        except BaseException:
            response.close()
            raise
    return response


class BoundedTransport(httpx.HTTPTransport):
    """httpx's transport, except that a SOCKS5 handshake has a deadline and a proxy answering
    it with garbage is a proxy error (httpx.ProxyError), not a bare socksio exception.

    httpcore reads the SOCKS replies with no timeout at all, so a proxy that accepts the
    connection and stays silent would hold the request forever; every handshake read here
    waits at most the request's connect timeout.
    """

    def __init__(self, *, proxy: str | None, limits: httpx.Limits,
                 verify: ssl.SSLContext, **kwargs) -> None:
        super().__init__(proxy=proxy, limits=limits, verify=verify, **kwargs)
        self._backend = _DeadlineBackend()
        socks = httpx.Proxy(proxy) if proxy else None
        if socks is not None and socks.url.scheme in ("socks5", "socks5h"):
            # As httpx builds it, plus the network backend that bounds the handshake.
            self._pool = httpcore.SOCKSProxy(
                proxy_url=httpcore.URL(scheme=socks.url.raw_scheme, host=socks.url.raw_host,
                                       port=socks.url.port, target=socks.url.raw_path),
                proxy_auth=socks.raw_auth, ssl_context=verify,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=self._backend)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._backend.opened.streams = []
        try:
            return super().handle_request(request)
        except BaseException as error:
            # httpcore 1.0.9 drops a connection whose SOCKS handshake failed without closing
            # its socket; close what this request opened (closing twice is harmless).
            for stream in self._backend.opened.streams:
                stream.close()
            if isinstance(error, socksio.ProtocolError):
                raise httpx.ProxyError(f"the SOCKS proxy answered garbage: {error}",
                                       request=request) from error
            raise
        finally:
            self._backend.opened.streams = []


class _DeadlineBackend(httpcore.SyncBackend):
    """Connections whose reads and writes without a timeout of their own (the SOCKS handshake)
    wait at most the connect timeout they were opened with."""

    def __init__(self) -> None:
        self.opened = threading.local()  # the streams the current thread's request opened

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        stream = super().connect_tcp(host, port, timeout, local_address, socket_options)
        if isinstance(getattr(self.opened, "streams", None), list):
            self.opened.streams.append(stream)
        return _DeadlineStream(stream, timeout)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, default_timeout: float | None) -> None:
        self._stream = stream
        self._default = default_timeout

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._default if timeout is None else timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._default if timeout is None else timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return self._stream.start_tls(ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)
