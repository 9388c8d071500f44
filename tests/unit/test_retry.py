"""Transient database errors are retried per the retry policy; others are not."""

import pytest

from app.config import RetryPolicy
from app.errors import DatabaseError
from app.services.retry import db_retry


class Flaky:
    def __init__(self, failures: list[str], max_retries: int = 3):
        self.failures = list(failures)
        self.calls = 0
        self.retry_policy = RetryPolicy(max_retries=max_retries, base_delay=0.0001,
                                        max_delay=0.001)

    @db_retry
    def work(self):
        self.calls += 1
        if self.failures:
            raise DatabaseError("trouble", code=self.failures.pop(0))
        return "done"


def test_retryable_errors_are_retried_until_success():
    flaky = Flaky(["DB_POOL_EXHAUSTED", "DB_QUERY_TIMEOUT", "DB_CONNECTION_TIMEOUT"])
    assert flaky.work() == "done"
    assert flaky.calls == 4


def test_retries_stop_after_max_retries():
    flaky = Flaky(["DB_POOL_EXHAUSTED"] * 10, max_retries=3)
    with pytest.raises(DatabaseError):
        flaky.work()
    assert flaky.calls == 4


@pytest.mark.parametrize("code", ["DB_DUPLICATE_KEY", "DB_CONSTRAINT_VIOLATION",
                                  "DB_INVALID_QUERY"])
def test_non_retryable_errors_fail_at_once(code):
    flaky = Flaky([code])
    with pytest.raises(DatabaseError) as raised:
        flaky.work()
    assert raised.value.code == code and flaky.calls == 1


def test_waits_double_after_each_failure_up_to_the_maximum(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr("app.services.retry.time.sleep", waits.append)
    flaky = Flaky(["DB_POOL_EXHAUSTED"] * 4, max_retries=4)
    flaky.retry_policy = RetryPolicy(max_retries=4, base_delay=1.0, max_delay=3.0)
    assert flaky.work() == "done"
    assert waits == [1.0, 2.0, 3.0, 3.0]
