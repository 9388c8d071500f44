"""/api/users: users, their plan and their credits; keys and sessions must name real users."""

from __future__ import annotations


def test_an_admin_creates_gets_lists_and_changes_a_user(client, admin_headers):
    created = client.post("/api/users", json={"email": "Ann@Example.com", "name": "Ann"},
                          headers=admin_headers)
    assert created.status_code == 201
    user = created.json["data"]
    assert (user["email"], user["plan"], user["credits"]) == ("ann@example.com", "free", 0)
    assert set(user) == {"id", "email", "name", "plan", "credits", "createdAt", "updatedAt"}

    assert client.get(f"/api/users/{user['id']}", headers=admin_headers).json["data"] == user
    changed = client.patch(f"/api/users/{user['id']}", json={"plan": "premium"},
                           headers=admin_headers)
    assert changed.json["data"]["plan"] == "premium"
    page = client.get("/api/users?plan=premium", headers=admin_headers).json["data"]
    assert [u["id"] for u in page["users"]] == [user["id"]]
    assert (page["total"], page["page"], page["totalPages"]) == (1, 1, 1)
    assert client.get("/api/users?email=ANN@example.com",
                      headers=admin_headers).json["data"]["total"] == 1


def test_credits_granted_add_up(client, admin_headers, make_user):
    user = make_user(credits=2)
    for _ in range(2):
        response = client.post(f"/api/users/{user['id']}/credits", json={"amount": 5},
                               headers=admin_headers)
    assert response.status_code == 200
    assert response.json["data"]["credits"] == 12


def test_bad_input_is_422_and_changes_nothing(client, admin_headers, make_user):
    user = make_user()
    bad = [
        client.post("/api/users", json={"email": "not-an-email"}, headers=admin_headers),
        client.post("/api/users", json={"email": "b@example.com", "plan": "gold"},
                    headers=admin_headers),
        client.patch(f"/api/users/{user['id']}", json={"plan": "gold"}, headers=admin_headers),
        client.post(f"/api/users/{user['id']}/credits", json={"amount": 0},
                    headers=admin_headers),
        client.post(f"/api/users/{user['id']}/credits", json={"amount": "x"},
                    headers=admin_headers),
    ]
    assert [r.status_code for r in bad] == [422] * 5
    assert all(r.json["error"]["code"] == "VALIDATION_ERROR" for r in bad)
    again = client.get(f"/api/users/{user['id']}", headers=admin_headers).json["data"]
    assert (again["plan"], again["credits"]) == ("free", 0)
    assert client.get("/api/users", headers=admin_headers).json["data"]["total"] == 1


def test_a_taken_email_is_409_and_an_unknown_user_is_404(client, admin_headers, make_user):
    make_user(email="dup@example.com")
    taken = client.post("/api/users", json={"email": "DUP@example.com"}, headers=admin_headers)
    assert taken.status_code == 409
    for response in (client.get("/api/users/nobody", headers=admin_headers),
                     client.patch("/api/users/nobody", json={"plan": "premium"},
                                  headers=admin_headers),
                     client.post("/api/users/nobody/credits", json={"amount": 1},
                                 headers=admin_headers)):
        assert response.status_code == 404
        assert response.json["error"]["code"] == "DB_RECORD_NOT_FOUND"


def test_the_users_routes_are_for_admins_only(client, make_key, make_user, user_session):
    user = make_user()
    key_holder = {"x-api-key": make_key(userId=user["id"])["apiKey"]}
    for headers in ({}, key_holder, user_session(user["id"])):
        assert client.get("/api/users", headers=headers).status_code in (401, 403)


def test_a_key_or_a_session_naming_an_unknown_user_is_404(client, admin_headers, make_user):
    key = client.post("/api/keys", json={"name": "k", "userId": "ghost"}, headers=admin_headers)
    assert key.status_code == 404
    assert key.json["error"]["code"] == "DB_RECORD_NOT_FOUND"
    session = client.post("/api/sessions", json={"userId": "ghost", "userType": "user"},
                          headers=admin_headers)
    assert session.status_code == 404
    assert client.get("/api/keys", headers=admin_headers).json["data"]["total"] == 0
    owned = client.post("/api/keys", json={"name": "k"}, headers=admin_headers).json["data"]
    moved = client.patch(f"/api/keys/{owned['id']}", json={"userId": "ghost"},
                         headers=admin_headers)
    assert moved.status_code == 404
    user = make_user()
    assert client.patch(f"/api/keys/{owned['id']}", json={"userId": user["id"]},
                        headers=admin_headers).json["data"]["userId"] == user["id"]
