"""The sessions blueprint over HTTP, on both backends."""

import uuid
from datetime import timedelta

from app import services_of
from app.db.types import utcnow
from tests.support.apps import ADMIN


def test_an_admin_logs_in_and_gets_a_session_token(app, client):
    services_of(app).admins.ensure_initial(ADMIN["username"], ADMIN["password"])
    response = client.post("/api/sessions/login", json=ADMIN)
    assert response.status_code == 200
    data = response.json["data"]
    assert data["sessionToken"].startswith("rgs_") and len(data["sessionToken"]) >= 4 + 43
    current = client.get("/api/sessions/current",
                         headers={"Authorization": f"Bearer {data['sessionToken']}"})
    assert current.json["data"]["userType"] == "admin"
    assert current.json["data"]["isValid"] is True


def test_unknown_user_and_wrong_password_get_the_same_401(app, client):
    services_of(app).admins.ensure_initial(ADMIN["username"], ADMIN["password"])
    wrong = client.post("/api/sessions/login", json={**ADMIN, "password": "nope-nope"})
    unknown = client.post("/api/sessions/login", json={**ADMIN, "username": "ghost"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json
    assert wrong.json["success"] is False


def test_only_the_token_hash_is_stored(app, client, admin_headers):
    token = admin_headers["Authorization"].split()[1]
    with services_of(app).engine.connect() as connection:
        from sqlalchemy import text

        rows = connection.execute(text("SELECT token_hash FROM sessions")).all()
    assert rows and all(token not in row[0] for row in rows)


def issue_user_session(client, admin_headers, **extra) -> str:
    user = client.post("/api/users", json={"email": f"{uuid.uuid4().hex[:8]}@example.com"},
                       headers=admin_headers).json["data"]
    body = {"userId": user["id"], "userType": "user", "sessionData": {"theme": "dark"}, **extra}
    response = client.post("/api/sessions", json=body, headers=admin_headers)
    assert response.status_code == 201, response.json
    return response.json["data"]["sessionToken"]


def test_a_backend_issues_validates_updates_and_deletes_a_user_session(client, admin_headers):
    token = issue_user_session(client, admin_headers, ttlSeconds=600, userAgent="tests")
    auth = {"Authorization": f"Bearer {token}"}
    current = client.get("/api/sessions/current", headers=auth).json["data"]
    assert current["userType"] == "user" and current["sessionData"] == {"theme": "dark"}
    expires = current["expiresAt"]
    patched = client.patch("/api/sessions/current", headers=auth,
                           json={"sessionData": {"lang": "en"}, "extendTTL": 3600})
    assert patched.status_code == 200
    assert patched.json["data"]["expiresAt"] > expires
    current = client.get("/api/sessions/current", headers=auth).json["data"]
    assert current["sessionData"] == {"theme": "dark", "lang": "en"}
    assert client.delete("/api/sessions/current", headers=auth).status_code == 200
    assert client.get("/api/sessions/current", headers=auth).status_code == 401


def test_an_expired_session_is_refused_before_cleanup_runs(app, client, admin_headers):
    token = issue_user_session(client, admin_headers, ttlSeconds=60)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/sessions/current", headers=auth).status_code == 200
    sessions = services_of(app).sessions
    sessions.clock = lambda: utcnow() + timedelta(seconds=61)
    response = client.get("/api/sessions/current", headers=auth)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "INVALID_SESSION"


def test_cleanup_deletes_only_expired_sessions(app, client, admin_headers):
    issue_user_session(client, admin_headers, ttlSeconds=60)
    live = issue_user_session(client, admin_headers, ttlSeconds=7200)
    sessions = services_of(app).sessions
    sessions.clock = lambda: utcnow() + timedelta(seconds=120)
    response = client.post("/api/sessions/cleanup", headers=admin_headers)
    assert response.json == {"success": True, "data": {"deletedSessions": 1}}
    assert client.get("/api/sessions/current",
                      headers={"Authorization": f"Bearer {live}"}).status_code == 200


def test_bad_session_bodies_answer_422_and_create_nothing(client, admin_headers):
    for body in ({"userId": "u", "userType": "root"}, {"userType": "user"},
                 {"userId": "u", "userType": "user", "ttlSeconds": 0},
                 {"userId": "u", "userType": "user", "sessionData": "text"}):
        response = client.post("/api/sessions", json=body, headers=admin_headers)
        assert response.status_code == 422, body
        assert response.json["error"]["code"] == "VALIDATION_ERROR"
    cleanup = client.post("/api/sessions/cleanup", headers=admin_headers)
    assert cleanup.json["data"]["deletedSessions"] == 0
