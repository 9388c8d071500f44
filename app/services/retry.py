"""Retries for transient database errors (retryConfig, section 6 of
docs/design/data-access-layer.md), with tenacity."""

from __future__ import annotations

import functools

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from app.db.uow import in_shared_transaction
from app.errors import RETRYABLE_DB_CODES, DatabaseError


def _retryable(error: BaseException) -> bool:
    return isinstance(error, DatabaseError) and error.code in RETRYABLE_DB_CODES


def db_retry(method):
    """Rerun a whole service method (a fresh unit of work each time) on a retryable error."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if in_shared_transaction():
            # One operation of a batch: only the whole transaction may be retried.
            return method(self, *args, **kwargs)
        policy = self.retry_policy
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(policy.max_retries + 1),
            wait=wait_exponential(multiplier=policy.base_delay, max=policy.max_delay),
            reraise=True,
        )
        return retrying(method, self, *args, **kwargs)

    return wrapper
