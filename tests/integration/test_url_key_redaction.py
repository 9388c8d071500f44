"""An API key sent in the URL (`?key=`, as Google's REST examples and some Gemini clients do)
never reaches a log: not gunicorn's access log, not its error log, not the development
server's request log. The request itself is answered with it."""

from __future__ import annotations

import logging

import httpx
from gunicorn.config import Config

from app.serving.logs import RedactingLogger
from tests.integration.native_support import ANSWER, GEMINI_UPSTREAM, serve
from tests.support.processes import embedded_env, relaygate, stop, wait_for_port
from tests.support.servers import free_port

ADMIN = {"username": "ops", "password": "a password for the log test"}
ASK = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def generate(base: str, stream: bool = False) -> str:
    call = "streamGenerateContent" if stream else "generateContent"
    return f"{base}/v1beta/models/{GEMINI_UPSTREAM}:{call}"


def test_gunicorns_access_log_never_holds_a_key_sent_in_the_url(tmp_path, stub_upstream):
    port = free_port()
    env = embedded_env(tmp_path / "instance", RELAYGATE_ADMIN_USERNAME=ADMIN["username"],
                       RELAYGATE_ADMIN_PASSWORD=ADMIN["password"],
                       RELAYGATE_ARGON2_MEMORY_KIB="1024")
    env["RELAYGATE_ACCESS_LOG"] = "-"  # gunicorn's default: the access log on stdout
    server = relaygate("serve", "--bind", f"127.0.0.1:{port}", env=env)
    output = ""
    try:
        wait_for_port(port, server)
        base = f"http://127.0.0.1:{port}"
        login = httpx.post(f"{base}/api/sessions/login", json=ADMIN, timeout=30)
        admin = {"Authorization": f"Bearer {login.json()['data']['sessionToken']}"}
        key = httpx.post(f"{base}/api/keys", json={"name": "in-the-url"}, headers=admin,
                         timeout=30).json()["data"]["apiKey"]
        account = httpx.post(f"{base}/api/accounts", headers=admin, timeout=30, json={
            "name": "stub", "provider": "gemini", "apiKey": "acct-gemini",
            "baseUrl": stub_upstream.url})
        assert account.status_code == 201, account.text
        answered = httpx.post(generate(base), params={"key": key}, json=ASK, timeout=30)
        assert answered.status_code == 200, answered.text
        assert answered.json()["candidates"][0]["content"]["parts"][0]["text"] == ANSWER
        streamed = httpx.post(generate(base, stream=True), params={"alt": "sse", "key": key},
                              json=ASK, timeout=30)
        assert streamed.status_code == 200 and "finishReason" in streamed.text
        listed = httpx.get(f"{base}/v1beta/models", params={"key": key, "pageSize": 5},
                           timeout=30)
        assert listed.status_code == 200
        refused = httpx.post(generate(base), params={"key": key + "-wrong"}, json=ASK,
                             timeout=30)
        assert refused.status_code == 401
        missing = httpx.get(f"{base}/no/such/route?key={key}", timeout=30)
        assert missing.status_code == 404
    finally:
        output = stop(server)
    assert "generateContent?key=[REDACTED]" in output, output
    assert "alt=sse&key=[REDACTED]" in output and "/no/such/route?key=[REDACTED]" in output
    assert key not in output


def test_gunicorns_error_log_redacts_the_request_line_it_names():
    logger = RedactingLogger(Config())
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger.error_log.addHandler(handler)
    try:
        logger.exception("Error handling request %s",
                         "/v1beta/models/x:generateContent?key=rg_secret-value&alt=sse")
    finally:
        logger.error_log.removeHandler(handler)
    assert seen == ["Error handling request "
                    "/v1beta/models/x:generateContent?key=[REDACTED]&alt=sse"]


def test_the_development_servers_request_log_never_holds_it(app, stub_upstream, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    for gateway in serve(app, stub_upstream):
        gateway.add_account("gemini")
        token = gateway.key["apiKey"]
        response = httpx.post(generate(gateway.url), params={"key": token}, json=ASK,
                              timeout=30)
        assert response.status_code == 200, response.text
    assert "generateContent?key=[REDACTED]" in caplog.text
    assert token not in caplog.text
