"""Input no field could hold, over real HTTP on both backends: JSON nested ~1,000 levels deep
and NUL bytes get 400 INVALID_INPUT on every route, in the route's error shape."""

import httpx
import pytest

from app.api.protocol_errors import protocol_of
from tests.api.chat_support import MODEL
from tests.support.apps import login_headers
from tests.support.http import ServerThread
from tests.support.servers import free_port

DEEP = "[" * 1000 + "]" * 1000
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def served(app):
    headers = login_headers(app)
    with ServerThread(app, free_port()) as server:
        yield app, server.url, headers


def body_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route that takes a body, placeholders filled in."""
    found = []
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<{name}>", "x")
            for converter in ("string", "int", "path", "any", "model"):
                path = path.replace(f"<{converter}:{name}>", "1")
        found += [(method, path) for method in sorted(rule.methods & {"POST", "PUT", "PATCH"})]
    return found


def assert_invalid_input(response: httpx.Response, path: str) -> None:
    """400 INVALID_INPUT in the route's own error shape: Anthropic's on the Messages routes,
    OpenAI's on chat completions, Google's on Gemini's generateContent, the console's HTML
    error page there, our envelope elsewhere."""
    assert response.status_code == 400, (path, response.text)
    if path.startswith("/console/"):
        assert response.headers["content-type"].startswith("text/html"), path
        assert "400: The JSON body is nested more than 64 levels deep." in response.text, path
        return
    body, shapes = response.json(), protocol_of(path)
    error = body["error"]
    if shapes == ("anthropic",):
        assert body["type"] == "error" and error["type"] == "invalid_request_error", (path, body)
        assert "INVALID_INPUT" in error["message"], (path, body)
    elif shapes == ("openai",):
        assert error["code"] == "INVALID_INPUT" and error["message"], (path, error)
        assert error["type"] == "invalid_request_error" and "param" in error, (path, error)
    elif shapes == ("gemini",):
        assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT"), (path, error)
        assert error["details"][0]["reason"] == "INVALID_INPUT" and error["message"], error
    else:
        assert error["code"] == "INVALID_INPUT" and error["message"], (path, error)
        assert body["success"] is False


def test_json_nested_a_thousand_levels_deep_gets_400_on_every_route(served):
    app, url, headers = served
    routes = body_routes(app)
    assert ("POST", "/api/sessions/login") in routes and ("POST", "/v1/chat/completions") in routes
    # The legacy routes redirect (308) with the body to the route that refuses it.
    with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as http:
        for method, path in routes:
            response = http.request(method, path, content=DEEP, headers={**headers, **JSON})
            assert_invalid_input(response, path)
            if path == "/api/sessions/login":
                assert "64" in response.json()["error"]["message"]
    assert ("POST", "/v1/messages") in routes  # Anthropic's shape is among those checked
    assert ("POST", "/v1beta/models/1:generateContent") in routes  # and Google's


def test_json_within_the_depth_limit_is_parsed_and_validated_as_usual(served):
    _, url, _ = served
    nested = "[" * 60 + "]" * 60
    response = httpx.post(f"{url}/api/sessions/login", timeout=30, headers=JSON,
                          content='{"username": ' + nested + ', "password": "p"}')
    assert response.status_code == 422, response.text
    assert "username" in response.json()["error"]["details"]


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/sessions/login", {"username": "ad\u0000min", "password": "x"}),
    ("POST", "/api/keys", {"name": "key\u0000name"}),
    ("POST", "/api/users", {"email": "a@example.com", "name": "us\u0000er"}),
    ("GET", "/api/keys?tags=a%00b", None),
    ("GET", "/api/users?email=a%00b@example.com", None),
    ("GET", f"/api/ai/check-access?model={MODEL}%00", None),
    ("GET", "/api/keys/abc%00def", None),
    ("POST", "/v1/chat/completions", {"model": "openai/gpt\u0000",
                                      "messages": [{"role": "user", "content": "hi"}]}),
])
def test_a_nul_byte_anywhere_in_the_input_gets_400(served, method, path, body):
    _, url, headers = served
    response = httpx.request(method, url + path, json=body, headers=headers, timeout=30)
    assert_invalid_input(response, path)


def test_an_escaped_backslash_before_u0000_is_not_a_nul_byte(served):
    _, url, headers = served
    response = httpx.post(f"{url}/api/keys", json={"name": "C:\\u0000dir"}, headers=headers,
                          timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["name"] == "C:\\u0000dir"


def test_a_nul_byte_in_a_header_or_a_raw_query_is_refused_by_name(client):
    # httpx will not send these; the WSGI environ can still hold them (the checks' fast paths
    # read the raw environ first).
    response = client.get("/healthz", headers={"X-Trace": "a\x00b"})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["error"]["message"] == (
        "A NUL byte (\\u0000) in the header 'X-Trace' is not accepted.")
    response = client.get("/healthz", environ_overrides={"QUERY_STRING": "tag=a\x00b"})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["error"]["message"] == (
        "A NUL byte (\\u0000) in the query parameter 'tag' is not accepted.")


@pytest.mark.parametrize("path, body", [
    ("/v1/chat/completions", '{"model": "' + MODEL + '", "messages": [{"role": "user", '
                             '"content": "a\\ud800b"}]}'),
    (f"/api/ai/chat-fast?model={MODEL}", '{"messages": [{"role": "user", "content": "\\udc00"}]}'),
    ("/v1/messages", '{"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": '
                     '[{"role": "user", "content": "\\ud83d\\ud83d"}]}'),
    ("/api/keys", '{"name": "key \\uDBFF"}'),
])
def test_a_lone_utf16_surrogate_escape_in_the_json_body_gets_400(served, path, body):
    # No character is written so: it cannot be encoded as UTF-8 to hash, store or relay.
    _, url, headers = served
    response = httpx.post(url + path, content=body, headers={**headers, **JSON}, timeout=30)
    assert_invalid_input(response, path)
    assert "surrogate" in response.json()["error"]["message"]


def test_a_surrogate_pair_and_an_escaped_backslash_before_ud800_are_accepted(served):
    _, url, headers = served
    for name, stored in (('"pair \\ud83d\\ude00"', "pair \U0001F600"),
                         ('"C:\\\\ud800"', "C:\\ud800")):
        response = httpx.post(f"{url}/api/keys", content='{"name": ' + name + "}",
                              headers={**headers, **JSON}, timeout=30)
        assert response.status_code == 201, response.text
        assert response.json()["data"]["name"] == stored
