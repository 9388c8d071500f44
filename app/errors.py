"""Domain errors: services raise these; app/api/errors.py turns them into HTTP answers.

The catalogue of error codes: a code raised in more than one place, or matched by other code,
is a class here (its HTTP status follows from its base); a code raised at one place only may
stay a literal `code=` at that raise.

`details` is wire text: it names the members of the client's own JSON as the client wrote them
(`{"accountIds": [...]}`, `{"retentionDays": [...]}`), so a service may build those keys in
camelCase. It is the one exception to "services speak snake_case; schemas own the wire names".
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a service may raise on purpose."""

    code = "DOMAIN_ERROR"

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None,
                 **extra):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}
        # Extra top-level members of the error object (e.g. userPlan, upgradeAction).
        self.extra = extra


class NotFound(DomainError):
    code = "NOT_FOUND"


class Conflict(DomainError):
    code = "CONFLICT"


class RecordNotFound(NotFound):
    """No stored record has the id (or other `by`) asked for: `RecordNotFound("API key")`."""

    code = "DB_RECORD_NOT_FOUND"

    def __init__(self, record: str, *, by: str = "id", **kwargs):
        super().__init__(f"No {record} has that {by}.", **kwargs)
        self.record = record


class DuplicateRecord(Conflict):
    """A record with that unique value already exists."""

    code = "DB_DUPLICATE_KEY"


class InvalidInput(DomainError):
    code = "VALIDATION_ERROR"


class BadRequest(DomainError):
    """The request is well-formed but asks for something this route cannot do (HTTP 400)."""

    code = "BAD_REQUEST"


class MalformedInput(DomainError):
    """Input no field could hold: a NUL byte, JSON nested too deep (400, not 422)."""

    code = "INVALID_INPUT"


class Unauthenticated(DomainError):
    code = "UNAUTHORIZED"


class MissingApiKey(Unauthenticated):
    code = "MISSING_API_KEY"


class InvalidApiKey(Unauthenticated):
    code = "INVALID_API_KEY"


class MissingSession(Unauthenticated):
    """No session token where one is needed (an API route, or the console's cookie)."""

    code = "MISSING_SESSION"


class InvalidSession(Unauthenticated):
    """The session token is unknown, expired or revoked."""

    code = "INVALID_SESSION"


class InvalidCredentials(Unauthenticated):
    """A login with a wrong username or password (one answer for both)."""

    code = "INVALID_CREDENTIALS"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class Gone(DomainError):
    """The thing asked for existed but is no longer usable (an expired staged transaction)."""

    code = "GONE"


class Unavailable(DomainError):
    """A dependency is down or busy; the client may retry later (`retry_after` seconds)."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class LimitExceeded(DomainError):
    """A quota or rate limit refused the request; `retry_after` in seconds when known."""

    code = "LIMIT_EXCEEDED"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class UpstreamError(DomainError):
    """The upstream provider failed; `status` is the HTTP status we answer with."""

    code = "UPSTREAM_ERROR"
    # Seconds the provider asked us to wait (a rate limit), for the Retry-After header.
    retry_after: float | None = None

    def __init__(self, message: str, *, status: int = 502, **kwargs):
        super().__init__(message, **kwargs)
        self.status = status


class OAuthRefreshFailed(UpstreamError):
    """The token endpoint could not be reached or answered nonsense: worth trying again."""

    code = "OAUTH_REFRESH_FAILED"


class OAuthRefreshRejected(UpstreamError):
    """The provider refused the refresh token (400/401/403): the account needs a new login."""

    code = "OAUTH_REFRESH_REJECTED"


class MetricsUnavailable(Unavailable):
    """The store of request metrics (Redis or the database) did not answer."""

    code = "METRICS_UNAVAILABLE"


class DatabaseError(DomainError):
    """Section 6 of docs/design/data-access-layer.md; `code` is one of DB_ERROR_CODES."""

    code = "DB_ERROR"


DB_ERROR_CODES = {
    "CONNECTION_FAILED": "DB_CONNECTION_FAILED",
    "CONNECTION_TIMEOUT": "DB_CONNECTION_TIMEOUT",
    "POOL_EXHAUSTED": "DB_POOL_EXHAUSTED",
    "RECORD_NOT_FOUND": "DB_RECORD_NOT_FOUND",
    "DUPLICATE_KEY": "DB_DUPLICATE_KEY",
    "CONSTRAINT_VIOLATION": "DB_CONSTRAINT_VIOLATION",
    "INVALID_QUERY": "DB_INVALID_QUERY",
    "QUERY_TIMEOUT": "DB_QUERY_TIMEOUT",
    "SERIALIZATION_FAILURE": "DB_SERIALIZATION_FAILURE",
}

RETRYABLE_DB_CODES = frozenset(
    {"DB_CONNECTION_TIMEOUT", "DB_POOL_EXHAUSTED", "DB_QUERY_TIMEOUT", "DB_SERIALIZATION_FAILURE"}
)
