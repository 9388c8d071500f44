"""Retries for transient database errors (retryConfig, section 6 of
docs/design/data-access-layer.md): the waits of tenacity's `wait_exponential`, in a plain loop."""

from __future__ import annotations

import functools
import time

from app.db.uow import in_shared_transaction
from app.errors import RETRYABLE_DB_CODES, DatabaseError


def _retryable(error: BaseException) -> bool:
    return isinstance(error, DatabaseError) and error.code in RETRYABLE_DB_CODES


def db_retry(method):
    """Rerun a whole service method (a fresh unit of work each time) on a retryable error:
    at most `max_retries` more runs, the n-th failure waiting base_delay * 2**(n-1) seconds
    (at most max_delay) before the next. A plain loop, not a tenacity policy built per call:
    the synchronous chat path runs six of these per request, almost always once each."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if in_shared_transaction():
            # One operation of a batch: only the whole transaction may be retried.
            return method(self, *args, **kwargs)
        failures = 0
        while True:
            try:
                return method(self, *args, **kwargs)
            except DatabaseError as error:
                policy = self.retry_policy
                if not _retryable(error) or failures >= policy.max_retries:
                    raise
                failures += 1
                time.sleep(max(0.0, min(policy.base_delay * 2 ** (failures - 1),
                                        policy.max_delay)))

    return wrapper
