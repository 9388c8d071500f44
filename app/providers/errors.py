"""Turn upstream failures (HTTP answers, error events, transport faults) into ProviderError."""

from __future__ import annotations

import json
from typing import Any

import httpx

from app.providers.base import ErrorKind, ProviderError
from app.providers.direct_response import UpstreamResponse
from app.providers.rate_limits import parse_google_retry_delay, parse_reset

# Error type names used by Anthropic and OpenAI in bodies and mid-stream error events.
_KIND_BY_ERROR_TYPE: dict[str, ErrorKind] = {
    "rate_limit_error": "rate_limited",
    "rate_limit_exceeded": "rate_limited",
    "insufficient_quota": "rate_limited",
    "authentication_error": "auth",
    "permission_error": "auth",
    "invalid_api_key": "auth",
    "invalid_request_error": "bad_request",
    "not_found_error": "bad_request",
    "request_too_large": "request_too_large",
    "context_length_exceeded": "request_too_large",
    "string_above_max_length": "request_too_large",
}
# A 429 naming one of these is about the request itself, not the account's budget.
_REQUEST_LEVEL_TYPES = {"invalid_request_error", "request_too_large", "context_length_exceeded",
                        "string_above_max_length"}


def kind_for_status(status: int) -> ErrorKind:
    if status == 407:
        # Our proxy refused us: the account's route is broken, not the caller's request.
        return "connection"
    if status == 429:
        return "rate_limited"
    if status == 413:
        return "request_too_large"
    if status in (401, 403):
        return "auth"
    if 400 <= status < 500:
        return "bad_request"
    return "upstream_error"


def kind_for_error_type(error_type: str | None) -> ErrorKind:
    return _KIND_BY_ERROR_TYPE.get(error_type or "", "upstream_error")


def error_message(body: Any, fallback: str) -> str:
    """The provider's own words: every supported format nests them at `error.message`."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
    return fallback


def error_from_response(response: UpstreamResponse, body_text: str) -> ProviderError:
    """ProviderError for an HTTP error answer, given whatever part of its body we could read."""
    body = _json_or_none(body_text)
    fallback = body_text.strip()[:500] or response.reason_phrase or f"HTTP {response.status_code}"
    retry_after, reset_at = None, None
    if response.status_code == 429:
        retry_after, reset_at = parse_reset(response.headers)
    elif "retry-after" in response.headers:
        # Outside a 429 the x-ratelimit-* headers describe budgets we did not exhaust.
        retry_after, reset_at = parse_reset({"retry-after": response.headers["retry-after"]})
    if retry_after is None and (delay := parse_google_retry_delay(body)) is not None:
        retry_after, reset_at = parse_reset({"retry-after": str(delay)})
    kind = kind_for_status(response.status_code)
    if kind == "rate_limited" and is_request_level(body):
        kind, retry_after, reset_at = "request_too_large", None, None
    return ProviderError(
        kind,
        error_message(body, fallback),
        status=response.status_code,
        retry_after=retry_after,
        reset_at=reset_at,
    )


def is_request_level(body: Any) -> bool:
    """Whether a 429 body says the request is too large for any account, rather than that
    this account's budget is spent.

    Anthropic answers `request_too_large` (413, sometimes 429); OpenAI answers a prompt larger
    than the whole tokens-per-minute budget with 429 `type: tokens` and "Request too large",
    and an oversized context with `context_length_exceeded`.
    """
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return False
    names = {str(error.get("type") or ""), str(error.get("code") or "")}
    if names & _REQUEST_LEVEL_TYPES:
        return True
    message = str(error.get("message") or "").lower()
    return "tokens" in names and message.startswith("request too large")


def error_from_event(body: dict[str, Any]) -> ProviderError:
    """ProviderError for an error event sent inside a stream that had started fine."""
    error = body.get("error")
    if not isinstance(error, dict):
        error = {}
    code = error.get("code")
    if isinstance(code, int):
        kind = kind_for_status(code)
    else:
        # OpenAI sometimes puts the telling name in `code` (rate_limit_exceeded) and not `type`.
        kind = kind_for_error_type(error.get("type"))
        if kind == "upstream_error" and isinstance(code, str):
            kind = kind_for_error_type(code)
    # Anthropic's overloaded_error is its HTTP 529 sent inside a stream.
    status = 529 if error.get("type") == "overloaded_error" else None
    return ProviderError(kind, error_message(body, "upstream sent an error event"), status=status)


def error_from_transport(exc: httpx.TransportError) -> ProviderError:
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError("timeout", f"upstream timed out: {type(exc).__name__}")
    return ProviderError(
        "connection", f"upstream connection failed: {str(exc) or type(exc).__name__}"
    )


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
