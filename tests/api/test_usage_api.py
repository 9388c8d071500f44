"""GET /api/usage/check and POST /api/usage/update answer the shapes of section 3.1 of
docs/design/api-refactor.md exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.quota import CHECK, UPDATE, check, update, used


@pytest.fixture
def free_user(make_user, user_session):
    user = make_user(name="Free Fay")
    return user, user_session(user["id"])


@pytest.fixture
def premium_user(make_user, user_session):
    user = make_user(name="Premium Pat", plan="premium")
    return user, user_session(user["id"])


@pytest.mark.parametrize(("plan", "limit"), [("free", 5), ("premium", 100)])
def test_a_user_may_proceed_with_the_exact_body_of_section_3_1(client, make_user, user_session,
                                                               plan, limit):
    headers = user_session(make_user(plan=plan)["id"])
    response = check(client, headers, "openai/gpt-4o")
    assert response.status_code == 200
    assert response.json == {"success": True, "data": {
        "canProceed": True, "usage": {"used": 0, "limit": limit, "modelType": "premium"}}}


def _refusal_without_reset(response) -> dict:
    """The 429 body, its date-dependent resetsAt checked and taken out."""
    assert response.status_code == 429
    body = response.json
    resets_at = datetime.fromisoformat(body["error"]["details"].pop("resetsAt"))
    assert resets_at > datetime.now(UTC)
    assert 0 < int(response.headers["Retry-After"]) <= 24 * 3600
    return body


def test_the_id_and_the_name_of_a_model_count_on_the_same_counter(client, free_user):
    _, headers = free_user
    assert update(client, headers, "openai/gpt-4o").status_code == 200
    assert update(client, headers, "GPT-4o").status_code == 200
    assert used(client, headers, "openai/gpt-4o") == 2
    assert used(client, headers, "GPT-4o") == 2
    assert used(client, headers, "openai/gpt-4o-mini") == 0


def test_an_unknown_model_counts_as_basic(client, free_user):
    _, headers = free_user
    response = check(client, headers, "acme/unheard-of")
    assert response.json["data"]["usage"] == {"used": 0, "limit": 50, "modelType": "basic"}


def test_the_update_answers_the_exact_body_of_section_3_1(client, free_user):
    _, headers = free_user
    response = update(client, headers, "GPT-4o")
    assert response.status_code == 200
    assert response.json == {"success": True, "data": {
        "updated": True, "message": "Usage updated successfully"}}


def test_a_free_user_past_the_premium_limit_gets_the_exact_429_body(client, free_user):
    _, headers = free_user
    assert update(client, headers, "GPT-4o", increment=5).status_code == 200
    assert _refusal_without_reset(check(client, headers, "openai/gpt-4o")) == {
        "success": False, "error": {
            "code": "PREMIUM_LIMIT_EXCEEDED",
            "message": "Premium model usage limit reached: 5 of 5 per day.",
            "details": {"used": 5, "limit": 5, "modelType": "premium"},
            "userPlan": "free", "upgradeAction": "upgrade_to_premium"}}


def test_a_premium_user_past_the_basic_limit_gets_the_exact_429_body(client, premium_user,
                                                                      admin_headers):
    _, headers = premium_user
    client.put("/api/plans/premium/basic", json={"limit": 2, "period": "day"},
               headers=admin_headers)
    update(client, headers, "GPT-4o mini", increment=2)
    assert _refusal_without_reset(check(client, headers, "openai/gpt-4o-mini")) == {
        "success": False, "error": {
            "code": "BASIC_LIMIT_EXCEEDED",
            "message": "Basic model usage limit reached: 2 of 2 per day.",
            "details": {"used": 2, "limit": 2, "modelType": "basic"},
            "userPlan": "premium", "upgradeAction": "buy_credits"}}


def test_a_premium_user_with_credits_proceeds_past_the_limit_and_spends_them_on_update(
        client, premium_user, admin_headers):
    user, headers = premium_user
    client.put("/api/plans/premium/premium", json={"limit": 2, "period": "day"},
               headers=admin_headers)
    client.post(f"/api/users/{user['id']}/credits", json={"amount": 3}, headers=admin_headers)
    update(client, headers, "GPT-4o", increment=2)
    assert check(client, headers).json["data"] == {"canProceed": True, "usage": {
        "used": 2, "limit": 2, "modelType": "premium", "usingCredits": True, "credits": 3}}

    update(client, headers, "GPT-4o", increment=2)  # both past the limit: two credits
    assert client.get(f"/api/users/{user['id']}", headers=admin_headers).json["data"][
        "credits"] == 1
    update(client, headers, "GPT-4o", increment=5)  # recorded although credits run out
    assert client.get(f"/api/users/{user['id']}", headers=admin_headers).json["data"][
        "credits"] == 0
    response = check(client, headers)
    assert response.status_code == 429
    assert response.json["error"]["details"]["used"] == 9


def test_the_query_wins_over_the_body_and_the_body_alone_still_works(client, free_user):
    _, headers = free_user
    both = client.get(CHECK, query_string={"model": "GPT-4o"}, json={"model": "GPT-4o mini"},
                      headers=headers)
    assert both.json["data"]["usage"]["modelType"] == "premium"
    assert client.post(UPDATE, json={"model": "GPT-4o", "increment": 3},
                       headers=headers).status_code == 200
    body_only = client.get(CHECK, json={"model": "GPT-4o"}, headers=headers)
    assert body_only.json["data"]["usage"]["used"] == 3
    client.post(UPDATE, query_string={"increment": 1}, json={"model": "GPT-4o", "increment": 9},
                headers=headers)
    assert used(client, headers) == 4


def test_a_missing_model_is_422_in_the_envelope_and_counts_nothing(client, free_user):
    _, headers = free_user
    for response in (client.get(CHECK, headers=headers), client.post(UPDATE, headers=headers)):
        assert response.status_code == 422
        assert response.json["success"] is False
        assert response.json["error"]["code"] == "VALIDATION_ERROR"
        assert "model" in response.json["error"]["details"]
    assert used(client, headers) == 0


@pytest.mark.parametrize("increment", [0, 10_000, -1])
def test_an_increment_outside_1_to_1000_is_422_and_counts_nothing(client, free_user, increment):
    _, headers = free_user
    response = update(client, headers, increment=increment)
    assert response.status_code == 422
    assert "increment" in response.json["error"]["details"]
    body = client.post(UPDATE, json={"model": "GPT-4o", "increment": increment},
                       headers=headers)
    assert body.status_code == 422
    assert used(client, headers) == 0


def test_an_admin_acts_for_a_user_and_an_unknown_user_is_404_changing_nothing(
        client, admin_headers, free_user):
    user, headers = free_user
    assert update(client, admin_headers, userId=user["id"]).status_code == 200
    assert used(client, headers) == 1
    assert used(client, admin_headers, userId=user["id"]) == 1
    for response in (check(client, admin_headers, userId="no-such-user"),
                     update(client, admin_headers, userId="no-such-user")):
        assert response.status_code == 404
        assert response.json["error"]["code"] == "DB_RECORD_NOT_FOUND"
    assert used(client, headers) == 1


def test_an_admin_must_name_the_user(client, admin_headers):
    response = check(client, admin_headers)
    assert response.status_code == 422
    assert "userId" in response.json["error"]["details"]


def test_a_user_may_not_act_for_another_user(client, free_user, make_user):
    _, headers = free_user
    other = make_user()
    assert update(client, headers, userId=other["id"]).status_code == 403
    assert used(client, headers) == 0


def test_a_key_counts_against_its_owner(client, free_user, make_key):
    user, headers = free_user
    key = make_key(userId=user["id"])
    update(client, {"x-api-key": key["apiKey"]}, increment=2)
    assert used(client, headers) == 2
    assert used(client, {"Authorization": f"Bearer {key['apiKey']}"}) == 2


def test_a_key_without_an_owner_is_its_own_subject_on_the_free_plan(client, make_key, free_user):
    key = make_key()
    headers = {"x-api-key": key["apiKey"]}
    update(client, headers)
    response = check(client, headers)
    assert response.json["data"]["usage"] == {"used": 1, "limit": 5, "modelType": "premium"}
    assert used(client, free_user[1]) == 0


def test_no_credential_or_a_bad_one_is_401(client):
    assert client.get(CHECK, query_string={"model": "GPT-4o"}).status_code == 401
    bad = client.get(CHECK, query_string={"model": "GPT-4o"}, headers={"x-api-key": "rg_nope"})
    assert bad.status_code == 401
    assert bad.json["error"]["code"] == "INVALID_API_KEY"


def test_a_plan_change_applies_to_the_very_next_check(client, free_user, admin_headers):
    user, headers = free_user
    update(client, headers, increment=5)
    assert check(client, headers).status_code == 429
    client.patch(f"/api/users/{user['id']}", json={"plan": "premium"}, headers=admin_headers)
    assert check(client, headers).json["data"]["usage"]["limit"] == 100
    client.put("/api/plans/premium/premium", json={"limit": 5, "period": "day"},
               headers=admin_headers)
    assert check(client, headers).json["error"]["upgradeAction"] == "buy_credits"


def test_a_model_tier_change_applies_to_the_very_next_check(client, free_user, admin_headers):
    _, headers = free_user
    assert check(client, headers, "GPT-4o").json["data"]["usage"]["modelType"] == "premium"
    client.patch("/api/models/openai/gpt-4o", json={"modelType": "basic"},
                 headers=admin_headers)
    assert check(client, headers, "GPT-4o").json["data"]["usage"]["modelType"] == "basic"
    assert check(client, headers, "openai/gpt-4o").json["data"]["usage"]["limit"] == 50
