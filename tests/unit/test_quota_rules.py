"""The quota rules: may a subject proceed, and whose usage a caller's counts as."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.api.schemas.quota import UsageCheckSchema
from app.errors import Forbidden, InvalidInput, LimitExceeded
from app.services.auth import Principal
from app.services.quota.rules import (
    Allowance,
    Subject,
    Usage,
    Verdict,
    units_past_limit,
    usage_owner,
    verdict,
)

NOW = datetime(2026, 5, 1, 18, 0, tzinfo=UTC)
PREMIUM_5 = Allowance("premium", 5, "day", datetime(2026, 5, 1, tzinfo=UTC),
                      datetime(2026, 5, 2, tzinfo=UTC))
FREE_USER = Subject("user:u1", "free", 0, "u1")
PREMIUM_USER = Subject("user:u2", "premium", 0, "u2")


def test_a_subject_under_the_limit_may_proceed():
    found = verdict(FREE_USER, PREMIUM_5, 4, NOW)
    assert found == Verdict(True, Usage(4, 5, "premium"))
    assert UsageCheckSchema().dump(found) == {
        "canProceed": True, "usage": {"used": 4, "limit": 5, "modelType": "premium"}}


def test_a_free_user_at_the_limit_is_told_to_upgrade():
    with pytest.raises(LimitExceeded) as caught:
        verdict(FREE_USER, PREMIUM_5, 5, NOW)
    error = caught.value
    assert error.code == "PREMIUM_LIMIT_EXCEEDED"
    assert error.extra == {"userPlan": "free", "upgradeAction": "upgrade_to_premium"}
    assert error.retry_after == 6 * 3600


def test_a_premium_user_at_the_limit_without_credits_is_told_to_buy_credits():
    with pytest.raises(LimitExceeded) as caught:
        verdict(PREMIUM_USER, PREMIUM_5, 7, NOW)
    assert caught.value.extra == {"userPlan": "premium", "upgradeAction": "buy_credits"}
    assert caught.value.details["used"] == 7


def test_a_premium_user_past_the_limit_with_credits_may_proceed_and_is_told_so():
    rich = Subject("user:u2", "premium", 3, "u2")
    found = verdict(rich, PREMIUM_5, 9, NOW)
    assert found.usage == Usage(9, 5, "premium", using_credits=True, credits=3)
    assert UsageCheckSchema().dump(found)["usage"] == {
        "used": 9, "limit": 5, "modelType": "premium", "usingCredits": True, "credits": 3}


def test_credits_do_not_help_a_free_user_or_an_ownerless_key():
    with pytest.raises(LimitExceeded):
        verdict(Subject("user:u1", "free", 10, "u1"), PREMIUM_5, 5, NOW)
    assert not Subject.of_key("k1").spends_credits


@pytest.mark.parametrize(("used_after", "units", "expected"), [
    (3, 1, 0), (5, 1, 0), (6, 1, 1), (8, 4, 3), (20, 4, 4), (4, 10, 0),
])
def test_units_past_limit_counts_only_the_part_of_an_update_beyond_the_limit(
        used_after, units, expected):
    assert units_past_limit(used_after, units, 5) == expected


def test_an_admin_must_name_the_user_and_may_name_anyone():
    admin = Principal("admin", "a1")
    with pytest.raises(InvalidInput):
        usage_owner(admin, None)
    assert usage_owner(admin, "u9") == "u9"


def test_a_user_counts_as_themself_and_may_not_act_for_another():
    user = Principal("user", "u1")
    assert usage_owner(user, None) == "u1"
    assert usage_owner(user, "u1") == "u1"
    with pytest.raises(Forbidden):
        usage_owner(user, "u2")


def test_a_key_counts_as_its_owner_or_as_itself_when_it_has_none():
    assert usage_owner(Principal("api_key", "k1", data={"user_id": "u1"}), None) == "u1"
    assert usage_owner(Principal("api_key", "k2", data={"user_id": None}), None) is None
    with pytest.raises(Forbidden):
        usage_owner(Principal("api_key", "k2", data={"user_id": None}), "u1")
