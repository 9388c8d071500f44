"""QuotaService counts exactly: concurrent updates, idempotent retries, period roll-over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.errors import Conflict, LimitExceeded
from app.services.quota.rules import Usage
from app.services.quota.service import Updated
from tests.support.quota import Clock, all_at_once, stored_count, today


@pytest.fixture
def quota(services):
    return services.quota


@pytest.fixture
def subject(services):
    user = services.users.create(email="counted@example.com")
    return services.quota.subject_of_user(user.id)


def test_concurrent_updates_on_one_counter_lose_none(quota, subject, services):
    results = all_at_once(40, lambda i: quota.update(subject, "GPT-4o mini"))
    assert all(result == Updated(True, "Usage updated successfully")
               for result in results), results
    assert stored_count(services, subject.id, "basic", today()) == 40
    assert quota.verdict_for(subject, "openai/gpt-4o-mini").usage.used == 40


def test_a_retried_update_with_the_same_idempotency_key_counts_once(quota, subject, services):
    for _ in range(3):
        quota.update(subject, "GPT-4o", idempotency_key="req-1")
    results = all_at_once(10, lambda i: quota.update(subject, "GPT-4o", idempotency_key="req-2"))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert stored_count(services, subject.id, "premium", today()) == 2


def test_an_idempotency_key_belongs_to_its_subject(quota, subject, services):
    other = quota.subject_of_user(services.users.create(email="other@example.com").id)
    quota.update(subject, "GPT-4o", idempotency_key="shared")
    quota.update(other, "GPT-4o", idempotency_key="shared")
    assert stored_count(services, other.id, "premium", today()) == 1


def test_reusing_an_idempotency_key_for_a_different_update_is_a_conflict(quota, subject,
                                                                         services):
    quota.update(subject, "GPT-4o", increment=2, idempotency_key="req-9")
    with pytest.raises(Conflict) as caught:
        quota.update(subject, "GPT-4o", increment=3, idempotency_key="req-9")
    assert caught.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert stored_count(services, subject.id, "premium", today()) == 2


def test_the_count_starts_afresh_at_midnight_and_the_old_day_keeps_its_count(quota, subject):
    clock = Clock(datetime(2026, 6, 1, 23, 59, 59, tzinfo=UTC))
    quota.clock = clock
    quota.update(subject, "GPT-4o", increment=5)
    with pytest.raises(LimitExceeded):
        quota.verdict_for(subject, "GPT-4o")
    clock.now += timedelta(seconds=1)
    assert quota.verdict_for(subject, "GPT-4o").usage == Usage(
        used=0, limit=5, model_type="premium")
    quota.update(subject, "GPT-4o")
    clock.now -= timedelta(seconds=1)
    with pytest.raises(LimitExceeded) as refused:
        quota.verdict_for(subject, "GPT-4o")
    assert refused.value.details["used"] == 5


@pytest.fixture
def tokyo(app_config):
    app_config["quota_timezone"] = "Asia/Tokyo"


def test_days_start_at_midnight_in_the_configured_time_zone(tokyo, quota, subject):
    clock = Clock(datetime(2026, 6, 1, 14, 59, tzinfo=UTC))  # 23:59 in Tokyo
    quota.clock = clock
    quota.update(subject, "GPT-4o", increment=3)
    assert quota.verdict_for(subject, "GPT-4o").usage.used == 3
    clock.now = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)  # midnight in Tokyo
    assert quota.verdict_for(subject, "GPT-4o").usage.used == 0


def test_a_monthly_limit_adds_up_the_days_of_the_month(quota, subject, services):
    services.plans.set("free", "premium", limit=10, period="month")
    clock = Clock(datetime(2026, 6, 3, 12, 0, tzinfo=UTC))
    quota.clock = clock
    quota.update(subject, "GPT-4o", increment=4)
    clock.now = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
    quota.update(subject, "GPT-4o", increment=4)
    assert quota.verdict_for(subject, "GPT-4o").usage == Usage(used=8, limit=10,
                                                             model_type="premium")
    clock.now = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
    assert quota.verdict_for(subject, "GPT-4o").usage.used == 0
