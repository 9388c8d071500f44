"""Opening an upstream call on a leased account, moving to another account before the first byte.

Once the first byte has been relayed nothing is retried: the client has already seen part of
one answer. Before it, a rate-limited, failing or refusing account is reported to the scheduler
(which marks it) and the next account is tried, a bounded number of times. A
connection that broke before the upstream answered anything (a pooled keep-alive socket gone
bad) is first tried once more on the same account, which is not to blame for it. A request
the upstream refuses for what it is (bad, or too large, even when that comes as a 429) goes
back to its caller at once: no other account would take it either.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import UpstreamError
from app.providers.base import ChatRequest, ChatResult, ProviderError
from app.providers.streaming import ProviderStream
from app.services.accounts.leases import Lease
from app.services.accounts.scheduler import NoAccountAvailable
from app.services.accounts.sticky_sessions import SessionBinding

# kind of the last upstream failure -> (HTTP status we answer, our code)
_ANSWERS = {
    "timeout": (504, "UPSTREAM_TIMEOUT"),
    "rate_limited": (503, "UPSTREAM_RATE_LIMITED"),
    "bad_request": (400, "UPSTREAM_BAD_REQUEST"),
    "request_too_large": (413, "UPSTREAM_REQUEST_TOO_LARGE"),
}


class _TryAnother(Exception):
    def __init__(self, error: ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class UpstreamCall:
    lease: Lease
    stream: ProviderStream | None = None
    result: ChatResult | None = None

    @property
    def account(self):
        return self.lease.account

    @property
    def streamed(self) -> ProviderStream:
        """The stream of a call opened streaming."""
        if self.stream is None:
            raise TypeError("this upstream call was opened for one answer, not a stream")
        return self.stream

    @property
    def answered(self) -> ChatResult:
        """The answer of a call opened for one (not streaming)."""
        if self.result is None:
            raise TypeError("this upstream call was opened for a stream, not one answer")
        return self.result


def answer_for(error: ProviderError) -> UpstreamError:
    status, code = _ANSWERS.get(error.kind, (502, "UPSTREAM_ERROR"))
    upstream = UpstreamError(f"The upstream provider failed: {error.message}", status=status,
                             code=code, details={"kind": error.kind, "status": error.status})
    upstream.retry_after = error.retry_after if error.kind == "rate_limited" else None
    return upstream


def open_upstream(*, scheduler, accounts, provider: str, request: ChatRequest,
                  attempts: int = 3, cached: bool = False,
                  sticky: SessionBinding | None = None,
                  only: frozenset[str] | None = None) -> UpstreamCall:
    """A started upstream call (a stream, or a finished result); raises a DomainError if none.

    With `sticky`, the session's bound account is tried first (if it is one of `only`, the
    accounts the key may use), and the binding moves to the account that answers (never to
    one that failed)."""
    tried: list[str] = []
    reconnected: set[str] = set()
    last: ProviderError | None = None

    def one_attempt() -> UpstreamCall:
        nonlocal last
        try:
            lease = scheduler.acquire(provider, request.model, exclude=tried, cached=cached,
                                      prefer=sticky.account_id if sticky else None, only=only)
        except NoAccountAvailable:
            if last is not None:
                raise answer_for(last) from None  # every account we tried failed
            raise
        tried.append(lease.account.id)
        try:
            client = accounts.client_for(lease.account)
            if request.stream:
                call = UpstreamCall(lease, stream=client.stream(request))
            else:
                call = UpstreamCall(lease, result=client.complete(request))
        except ProviderError as error:
            lease.release()
            last = error
            if error.kind == "connection" and lease.account.id not in reconnected:
                reconnected.add(lease.account.id)
                tried.remove(lease.account.id)
                raise _TryAnother(error) from error
            if scheduler.report(lease.account.id, error):
                raise _TryAnother(error) from error
            raise answer_for(error) from error
        except BaseException:
            lease.release()
            raise
        if sticky is not None:
            sticky.keep(lease.account.id)
        return call

    # A plain loop, not tenacity: it runs on every request, and what it retries is one call.
    attempt = 0
    while True:
        attempt += 1
        try:
            return one_attempt()
        except _TryAnother as another:
            if attempt >= attempts:
                raise answer_for(another.error) from another.error
