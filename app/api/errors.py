"""The one place where errors become HTTP answers in our envelope.

The client-protocol routes (/v1/chat/completions, /v1/messages, /v1/models and their CRS
prefixes) answer in their protocol's own error shape instead: app/api/protocol_errors.py, with
the statuses decided here.
"""

from __future__ import annotations

import logging
import math

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from app import errors as domain
from app.api.envelope import error_body

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 406: "NOT_ACCEPTABLE", 409: "CONFLICT", 410: "GONE",
    413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE", 422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
}

_DB_STATUS = {
    "DB_RECORD_NOT_FOUND": 404, "DB_DUPLICATE_KEY": 409, "DB_CONSTRAINT_VIOLATION": 409,
    "DB_INVALID_QUERY": 500, "DB_CONNECTION_FAILED": 503, "DB_CONNECTION_TIMEOUT": 503,
    "DB_POOL_EXHAUSTED": 503, "DB_QUERY_TIMEOUT": 503,
    "DB_SERIALIZATION_FAILURE": 409,
}

_DOMAIN_STATUS = [
    (domain.BadRequest, 400), (domain.NotFound, 404), (domain.Conflict, 409),
    (domain.InvalidInput, 422), (domain.MalformedInput, 400),
    (domain.Unauthenticated, 401), (domain.Forbidden, 403), (domain.LimitExceeded, 429),
    (domain.Unavailable, 503), (domain.Gone, 410),
]

RETRY_AFTER_SECONDS = 5
def _respond(status: int, body: dict, headers: dict | None = None):
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def status_of(error: domain.DomainError) -> int:
    """The HTTP status of a domain error (the console's HTML pages use it too)."""
    if isinstance(error, domain.DatabaseError):
        return _DB_STATUS.get(error.code, 500)
    if isinstance(error, domain.UpstreamError):
        return error.status
    return next((s for cls, s in _DOMAIN_STATUS if isinstance(error, cls)), 400)


def handle_domain_error(error: domain.DomainError):
    status, headers = domain_status(error)
    return _respond(status, error_body(error.code, error.message, error.details, **error.extra),
                    headers)


def domain_status(error: domain.DomainError) -> tuple[int, dict]:
    """The HTTP status of a domain error, and its Retry-After header when it has one."""
    headers = {}
    status = status_of(error)
    if isinstance(error, domain.DatabaseError) and status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return status, headers


def handle_http_exception(error: HTTPException):
    status, code, message, details, headers = http_error_parts(error)
    return _respond(status, error_body(code, message, details), headers)


def http_error_parts(error: HTTPException) -> tuple[int, str, str, dict, dict]:
    """An HTTP exception as (status, our code, message, details, headers)."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    details = data.get("messages") or data.get("errors") or {}
    if status == 422:
        # webargs nests messages under the location (json/query); clients want the fields.
        if len(details) == 1 and isinstance(next(iter(details.values())), dict):
            details = next(iter(details.values()))
        message = "The request did not validate."
    elif status == 400 and details:
        message = "The request body is not valid JSON."
        details = {}
    else:
        message = error.description or error.name
    code = _HTTP_CODES.get(status, "HTTP_ERROR" if status < 500 else "INTERNAL_ERROR")
    headers = {}
    allowed = getattr(error, "valid_methods", None)
    if status == 405 and allowed:
        headers["Allow"] = ", ".join(allowed)
    return status, code, message, details, headers


def handle_unexpected(error: Exception):
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled error")
    return _respond(500, error_body("INTERNAL_ERROR", "An internal error occurred."))


def register(app: Flask) -> None:
    app.register_error_handler(domain.DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
