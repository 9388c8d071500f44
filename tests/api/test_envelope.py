"""One answer shape for every failure: unknown paths, wrong methods, crashes, database trouble."""

import logging
import threading

from sqlalchemy.exc import OperationalError

from app import services_of
from tests.support.apps import login_headers, make_app
from tests.support.servers import free_port


def test_an_unknown_path_is_404_in_the_envelope(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "NOT_FOUND"


def test_a_wrong_method_is_405_in_the_envelope(client):
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "GET" in response.headers["Allow"]


def test_a_crash_is_500_internal_error_without_trace_or_sql(tmp_path, sqlite_url, caplog):
    app = make_app(tmp_path, sqlite_url)

    def explode():
        raise OperationalError("SELECT secret_column FROM vault", {}, Exception("boom"))

    def plain_bug():
        raise KeyError("internal detail")

    app.add_url_rule("/explode", view_func=explode)
    app.add_url_rule("/bug", view_func=plain_bug)
    client = app.test_client()
    with caplog.at_level(logging.ERROR):
        bug = client.get("/bug")
    assert bug.status_code == 500
    assert bug.json == {"success": False, "error": {
        "code": "INTERNAL_ERROR", "message": "An internal error occurred.", "details": {}}}
    assert "internal detail" in caplog.text
    crash = client.get("/explode")
    assert "SELECT" not in crash.get_data(as_text=True)
    assert crash.json["success"] is False


def test_an_unreachable_database_is_503_with_retry_after(tmp_path):
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    app = make_app(tmp_path, dead)
    client = app.test_client()
    response = client.post("/api/sessions/login", json={"username": "a", "password": "b"})
    assert response.status_code == 503
    assert response.json["error"]["code"] == "DB_CONNECTION_FAILED"
    assert int(response.headers["Retry-After"]) > 0
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["error"]["code"] == "NOT_READY"


def test_an_exhausted_pool_is_retried_then_answers_503_pool_exhausted(tmp_path, postgres_url):
    app = make_app(tmp_path, postgres_url, db_pool_size=1, db_pool_timeout=0.05)
    headers = login_headers(app)
    engine = services_of(app).engine
    engine.pool._max_overflow = 0  # exactly one connection, which the test now holds
    held = engine.connect()
    try:
        response = app.test_client().get("/api/keys", headers=headers)
    finally:
        held.close()
    assert response.status_code == 503
    assert response.json["error"]["code"] == "DB_POOL_EXHAUSTED"
    assert app.test_client().get("/api/keys", headers=headers).status_code == 200
    engine.dispose()


def test_a_pool_freed_during_the_retries_lets_the_request_succeed(tmp_path, postgres_url):
    app = make_app(tmp_path, postgres_url, db_pool_size=1, db_pool_timeout=0.05)
    headers = login_headers(app)
    engine = services_of(app).engine
    engine.pool._max_overflow = 0
    held = engine.connect()
    threading.Timer(0.06, held.close).start()
    response = app.test_client().get("/api/keys", headers=headers)
    assert response.status_code == 200, response.json
    engine.dispose()
