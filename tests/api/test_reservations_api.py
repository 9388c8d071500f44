"""/api/usage/reserve and its commit and cancel routes."""

from __future__ import annotations

import threading

import pytest

from tests.support.quota import used


@pytest.fixture
def headers(make_user, user_session):
    return user_session(make_user()["id"])


def test_a_reservation_answers_its_id_and_expiry_and_counts_at_once(client, headers):
    response = client.post("/api/usage/reserve?model=GPT-4o", headers=headers)
    assert response.status_code == 201
    assert set(response.json["data"]) == {"reservationId", "expiresAt"}
    assert used(client, headers) == 1
    reservation = response.json["data"]["reservationId"]
    commit = client.post(f"/api/usage/reservations/{reservation}/commit", headers=headers)
    assert commit.json == {"success": True,
                           "data": {"reservationId": reservation, "state": "committed"}}
    assert used(client, headers) == 1


def test_a_cancelled_reservation_gives_its_unit_back(client, headers):
    reservation = client.post("/api/usage/reserve", json={"model": "GPT-4o"},
                              headers=headers).json["data"]["reservationId"]
    cancel = client.post(f"/api/usage/reservations/{reservation}/cancel", headers=headers)
    assert cancel.json["data"]["state"] == "cancelled"
    assert used(client, headers) == 0
    again = client.post(f"/api/usage/reservations/{reservation}/commit", headers=headers)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "RESERVATION_CANCELLED"


def test_with_no_unit_left_a_reservation_is_refused_with_the_check_body(client, headers):
    for _ in range(5):
        assert client.post("/api/usage/reserve?model=GPT-4o",
                           headers=headers).status_code == 201
    refused = client.post("/api/usage/reserve?model=GPT-4o", headers=headers)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "PREMIUM_LIMIT_EXCEEDED"
    assert refused.json["error"]["upgradeAction"] == "upgrade_to_premium"
    assert used(client, headers) == 5


def test_unknown_reservations_are_404_and_a_missing_model_is_422(client, headers):
    assert client.post("/api/usage/reservations/nope/commit", headers=headers).status_code \
        == 404
    assert client.post("/api/usage/reservations/nope/cancel", headers=headers).status_code \
        == 404
    assert client.post("/api/usage/reserve", headers=headers).status_code == 422
    assert used(client, headers) == 0


def test_two_hundred_concurrent_updates_raise_the_counter_by_exactly_two_hundred(
        app, make_user, user_session, admin_headers):
    user = make_user(plan="premium")
    headers = user_session(user["id"])
    barrier = threading.Barrier(200)
    statuses = []

    def update():
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post("/api/usage/update?model=GPT-4o",
                                    headers=headers).status_code)

    threads = [threading.Thread(target=update) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 200
    assert used(app.test_client(), headers) == 200
