"""The HTTP round trip every provider client shares; subclasses only describe their wire format."""

from __future__ import annotations

import functools
import json
from typing import Any

import httpx

from app.providers.base import ChatRequest, ChatResult, ProviderAccount, ProviderError
from app.providers.direct_pool import DirectPool, request_head
from app.providers.direct_response import UpstreamResponse
from app.providers.errors import error_from_response, error_from_transport
from app.providers.http_pool import (
    prepared_request,
    send,
    shared_direct_pool,
    shared_http_client,
)
from app.providers.streaming import EventParser, ProviderStream


class ProviderClient:
    """Sends a ChatRequest to one account's upstream; subclasses supply URL, headers, payload.
    It holds nothing of a call, so one client may serve an account's calls at once."""

    default_base_url: str = ""

    def __init__(self, account: ProviderAccount, http: httpx.Client | None = None) -> None:
        self.account = account
        self.base_url = (account.base_url or self.default_base_url).rstrip("/")
        try:
            self.http = http or shared_http_client(account.proxy)
        except httpx.InvalidURL as exc:
            # A proxy address httpx cannot use: the account cannot make any request.
            raise ProviderError("auth", f"the account's proxy is not usable: {exc}") from exc
        # An upstream reached directly is called through the lean pool; through a proxy (or a
        # client given), through httpx, which speaks HTTP and SOCKS proxies.
        self.direct: DirectPool | None = (shared_direct_pool() if http is None
                                          and not account.proxy else None)
        # connect, read, write, pool: as httpx.Timeout(connect=c, read=r, write=r, pool=c).
        self.timeouts = (account.connect_timeout, account.read_timeout, account.read_timeout,
                         account.connect_timeout)

    def complete(self, request: ChatRequest) -> ChatResult:
        response = self._send(request, stream=False)
        try:
            raw = response.json()
        except ValueError:
            raw = None
        if not isinstance(raw, dict):
            raise ProviderError(
                "upstream_error",
                "upstream answered without a JSON object",
                status=response.status_code,
            )
        return self.result_for(request, raw)

    def stream(self, request: ChatRequest) -> ProviderStream:
        """Open the stream: failures before the first byte raise here, later ones mid-iteration."""
        return ProviderStream(self._send(request, stream=True), self.event_parser_for(request))

    def _send(self, request: ChatRequest, *, stream: bool) -> UpstreamResponse:
        return self._post(self.url(request, stream=stream), self.payload(request, stream=stream),
                          self.request_headers(request), stream=stream)

    def _post(self, url: str, payload: dict[str, Any], headers: dict[str, str], *,
              stream: bool) -> UpstreamResponse:
        direct = self.direct
        try:
            # The body as httpx's `json=` encodes it, the URL parsed once per address and the
            # request built as the client would: the same request for less work on every call.
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"),
                              allow_nan=False).encode()
            if not any(name.lower() == "content-type" for name in headers):
                headers = {**headers, "Content-Type": "application/json"}
            address = _parsed(url)
            if direct is not None:
                head = request_head(direct.defaults, address, headers, len(body))
            else:
                connect, read, write, pool = self.timeouts
                http_request = prepared_request(self.http, address, headers, body, {
                    "connect": connect, "read": read, "write": write, "pool": pool})
        except (UnicodeEncodeError, httpx.InvalidURL) as exc:
            # The account's own settings cannot make a request (a credential outside ASCII, a
            # broken base URL): the account is at fault, not the caller.
            raise ProviderError("auth", f"the account cannot make a request: {exc}") from exc
        except httpx.TransportError as exc:
            # A header h11 would refuse to write (request_head checks as it does): through
            # httpx that fails as the request is sent, as a transport error.
            raise error_from_transport(exc) from exc
        try:
            if direct is not None:
                response: UpstreamResponse = direct.send(address, head, body, self.timeouts,
                                                         stream=stream)
            else:
                response = send(self.http, http_request, stream=stream)
        except httpx.TransportError as exc:
            raise error_from_transport(exc) from exc
        if response.is_error:
            raise error_from_response(response, _read_body(response))
        return response

    def url(self, request: ChatRequest, *, stream: bool) -> str:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def request_headers(self, request: ChatRequest) -> dict[str, str]:
        """The client's forwarded headers (see forwarding.py) under the account's own."""
        return {**request.headers, **self.headers()}

    def payload(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        raise NotImplementedError

    def parse_result(self, raw: dict[str, Any]) -> ChatResult:
        raise NotImplementedError

    def new_event_parser(self) -> EventParser:
        raise NotImplementedError

    # A client keeps nothing of one call (one client may serve several at once): what depends
    # on the request is decided from it.
    def result_for(self, request: ChatRequest, raw: dict[str, Any]) -> ChatResult:
        return self.parse_result(raw)

    def event_parser_for(self, request: ChatRequest) -> EventParser:
        return self.new_event_parser()


def _read_body(response: UpstreamResponse) -> str:
    """The error body if it arrives; the status alone still classifies the error if it does not."""
    try:
        return response.read().decode("utf-8", errors="replace")
    except httpx.TransportError:
        return ""
    finally:
        response.close()


@functools.lru_cache(maxsize=1024)
def _parsed(url: str) -> httpx.URL:
    """An upstream address, parsed (httpx.URL is immutable: callers may share it)."""
    return httpx.URL(url)
