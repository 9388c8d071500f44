"""A session's maximum lifetime, and revoking all of one's sessions, over real HTTP."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from app.config import Settings
from app.db.types import utcnow
from tests.support.accounts import quick_admin_headers
from tests.support.http import live_client

DAY = 24 * 3600
YEAR = 365 * DAY  # the largest extendTTL the schema takes


@pytest.fixture
def http(app):
    with live_client(app) as client:
        yield client


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _user_session(http, admin, user_id: str | None = None, **extra) -> tuple[str, str]:
    if user_id is None:
        user = http.post("/api/users", json={"email": f"{uuid.uuid4().hex[:8]}@example.com"},
                         headers=admin)
        user_id = user.json()["data"]["id"]
    created = http.post("/api/sessions", headers=admin,
                        json={"userId": user_id, "userType": "user", **extra})
    assert created.status_code == 201, created.json()
    return user_id, created.json()["data"]["sessionToken"]


def _expires(answer) -> datetime:
    assert answer.status_code == 200, answer.json()
    return datetime.fromisoformat(answer.json()["data"]["expiresAt"])


def test_the_maximum_lifetime_defaults_to_thirty_days():
    assert Settings().session_max_lifetime_seconds == 30 * DAY


def test_five_extensions_do_not_take_a_session_past_thirty_days(http, services):
    admin = quick_admin_headers(services)
    created_before = utcnow()
    _, token = _user_session(http, admin, ttlSeconds=3600)
    for _ in range(5):
        extended = _expires(http.patch("/api/sessions/current", headers=_bearer(token),
                                       json={"extendTTL": YEAR}))
    limit = created_before + timedelta(days=30)
    assert limit <= extended <= limit + timedelta(seconds=5)
    assert _expires(http.get("/api/sessions/current", headers=_bearer(token))) == extended


def test_a_long_ttl_at_creation_is_cut_to_the_maximum_lifetime(http, services):
    admin = quick_admin_headers(services)
    created_before = utcnow()
    _, token = _user_session(http, admin, ttlSeconds=YEAR)
    expires = _expires(http.get("/api/sessions/current", headers=_bearer(token)))
    assert expires <= created_before + timedelta(days=30, seconds=5)


def test_a_session_older_than_the_maximum_lifetime_is_refused(http, services):
    admin = quick_admin_headers(services)
    _, token = _user_session(http, admin, ttlSeconds=7 * DAY)
    assert http.get("/api/sessions/current", headers=_bearer(token)).status_code == 200
    # Six days on it was extended by a year, but its thirtieth day came all the same.
    services.sessions.clock = lambda: utcnow() + timedelta(days=6)
    http.patch("/api/sessions/current", headers=_bearer(token), json={"extendTTL": YEAR})
    services.sessions.clock = lambda: utcnow() + timedelta(days=30, seconds=10)
    refused = http.get("/api/sessions/current", headers=_bearer(token))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "INVALID_SESSION"


def test_revoking_all_my_sessions_ends_mine_and_spares_other_users(http, services):
    admin = quick_admin_headers(services)
    mine, first = _user_session(http, admin)
    _, second = _user_session(http, admin, user_id=mine)
    _, theirs = _user_session(http, admin)
    for token in (first, second, theirs):  # cached, where Redis is configured
        assert http.get("/api/sessions/current", headers=_bearer(token)).status_code == 200

    revoked = http.post("/api/sessions/revoke-all", headers=_bearer(second))
    assert revoked.status_code == 200, revoked.json()
    assert revoked.json() == {"success": True, "data": {"revokedSessions": 2}}
    for token in (first, second):
        answer = http.get("/api/sessions/current", headers=_bearer(token))
        assert answer.status_code == 401, token
    assert http.get("/api/sessions/current", headers=_bearer(theirs)).status_code == 200
    assert http.get("/api/sessions/current", headers=admin).status_code == 200
    assert http.post("/api/sessions/revoke-all", headers=_bearer(first)).status_code == 401
