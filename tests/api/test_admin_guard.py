"""Every admin route refuses callers who are not admins."""

import re

import pytest


def admin_operations(client) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json
    operations = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            if operation.get("security") == [{"adminSession": []}]:  # admin only
                operations.append((method.upper(), re.sub(r"\{[^}]+\}", "some-id", path)))
    return operations


@pytest.fixture
def user_session_headers(make_user, user_session) -> dict:
    return user_session(make_user()["id"])


def test_admin_routes_are_declared_in_openapi(client):
    paths = {path for _, path in admin_operations(client)}
    assert {"/api/keys", "/api/keys/some-id", "/api/sessions", "/api/sessions/cleanup"} <= paths


def test_every_admin_route_refuses_no_credential_with_401(client):
    for method, path in admin_operations(client):
        response = client.open(path, method=method, json={})
        assert response.status_code == 401, (method, path)
        assert response.json["success"] is False


def test_every_admin_route_refuses_an_api_key_with_403(client, make_key):
    plaintext = make_key()["apiKey"]
    for headers in ({"Authorization": f"Bearer {plaintext}"}, {"x-api-key": plaintext}):
        for method, path in admin_operations(client):
            response = client.open(path, method=method, json={}, headers=headers)
            assert response.status_code == 403, (method, path)
            assert response.json["error"]["code"] == "FORBIDDEN"


def test_every_admin_route_refuses_a_user_session_with_403(client, user_session_headers):
    for method, path in admin_operations(client):
        response = client.open(path, method=method, json={}, headers=user_session_headers)
        assert response.status_code == 403, (method, path)


def test_a_bogus_session_token_on_an_admin_route_is_401(client):
    response = client.get("/api/keys", headers={"Authorization": "Bearer rgs_not-a-session"})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "INVALID_SESSION"
