"""Under gunicorn: the master starts a killed drain worker again, and SIGTERM lets open
streams finish, cutting (and billing) those still open at the graceful timeout."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from app import services_of
from app.services.usage.service import UsageRecord
from tests.support.apps import PG_URL, make_app
from tests.support.http import serve_with_gunicorn
from tests.support.servers import free_port, pg_admin_dsn, pg_create, pg_drop

CHAT_FAST = "/api/ai/chat-fast?model=openai/gpt-4o-mini"


def drain_pids(master: int) -> set[int]:
    """The `drain-usage` processes the gunicorn master started."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                          if ":\t" in line)
            command = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields.get("PPid", "0")) == master and b"drain-usage" in command:
            found.add(int(status.parent.name))
    return found


def eventually(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture
def gunicorn_env(pg_database, redis_server_url, redis_prefix, tmp_path):
    admin = pg_admin_dsn(PG_URL)
    name = f"rg_durable_{uuid.uuid4().hex[:8]}"
    pg_create(admin, name)
    prometheus_dir = tmp_path / "prometheus"
    prometheus_dir.mkdir()
    yield {**os.environ, "DATABASE_URL": PG_URL.rsplit("/", 1)[0] + "/" + name,
           "REDIS_URL": redis_server_url, "RELAYGATE_REDIS_PREFIX": redis_prefix,
           "RELAYGATE_SECRET_KEY": "durable-test-secret", "RELAYGATE_ADMIN_USERNAME": "ops",
           "RELAYGATE_ADMIN_PASSWORD": "ops password",
           "RELAYGATE_BIND": f"127.0.0.1:{free_port()}", "RELAYGATE_WORKERS": "1",
           "RELAYGATE_THREADS": "8", "RELAYGATE_INSTANCE_DIR": str(tmp_path),
           "RELAYGATE_ACCESS_LOG": "", "RELAYGATE_ARGON2_MEMORY_KIB": "1024",
           "PROMETHEUS_MULTIPROC_DIR": str(prometheus_dir)}
    pg_drop(admin, name)


@pytest.fixture
def inspector(gunicorn_env, redis_server_url, redis_prefix, tmp_path):
    """The app in this process, on the server's database and Redis, to look and to queue."""
    holder: dict = {}

    def build():
        if "app" not in holder:
            holder["app"] = make_app(tmp_path, gunicorn_env["DATABASE_URL"], redis_server_url,
                                     redis_prefix)
        return services_of(holder["app"])

    yield build
    if "app" in holder:
        services_of(holder["app"]).engine.dispose()


def stop(server) -> None:
    if server.poll() is None:
        server.terminate()
        server.wait(60)


def test_a_drain_worker_killed_with_sigkill_is_started_again_by_the_master(
        gunicorn_env, inspector, tmp_path):
    server, base = serve_with_gunicorn(gunicorn_env, tmp_path / "gunicorn.log")
    try:
        first = eventually(lambda: len(drain_pids(server.pid)) >= 2) and drain_pids(server.pid)
        assert first and len(first) == 2, "gunicorn's master did not start its two drain workers"
        killed, kept = sorted(first)
        os.kill(killed, signal.SIGKILL)
        again = eventually(lambda: drain_pids(server.pid) - first, timeout=15)
        assert len(again) == 1, "the killed drain worker was not started again (once)"
        assert kept in drain_pids(server.pid), "the other drain worker did not keep running"
        services = inspector()
        key = services.keys.create({"name": "after-kill"})
        services.usage_queue.enqueue(UsageRecord(api_key_id=key.id, model="m", input_tokens=2))
        assert eventually(lambda: services.keys.get(key.id).total_requests == 1), \
            "the restarted drain worker stored nothing"
        assert httpx.get(base + "/readyz").json()["data"]["usageQueue"]["running"] is True
    finally:
        stop(server)
    assert not drain_pids(server.pid)


def read_stream(base: str, headers: dict, started: threading.Event, into: list) -> None:
    """Append the stream's chunks to `into`, then the moment it ended (time.monotonic())."""
    with httpx.stream("POST", base + CHAT_FAST, headers=headers, timeout=60, json={
            "messages": [{"role": "user", "content": "hi"}], "stream": True}) as answer:
        for chunk in answer.iter_text():
            started.set()
            into.append(chunk)
    into.append(time.monotonic())
    started.set()


def test_sigterm_lets_an_open_stream_finish_and_cuts_one_still_open_at_the_graceful_timeout(
        gunicorn_env, inspector, stub_upstream, tmp_path):
    env = {**gunicorn_env, "RELAYGATE_GRACEFUL_TIMEOUT": "6"}
    server, base = serve_with_gunicorn(env, tmp_path / "gunicorn.log")
    try:
        login = httpx.post(base + "/api/sessions/login",
                           json={"username": "ops", "password": "ops password"})
        admin = {"Authorization": f"Bearer {login.json()['data']['sessionToken']}"}
        key = httpx.post(base + "/api/keys", json={"name": "k"}, headers=admin).json()["data"]
        added = httpx.post(base + "/api/accounts", headers=admin, json={
            "name": "stub", "provider": "openai", "apiKey": "short-first",
            "baseUrl": stub_upstream.url + "/v1"})
        assert added.status_code == 201, added.text
        # The first request streams 20 tokens in 2 s; the next one would take 40 s.
        stub_upstream.set_behaviour(credential="short-first", times=1, tokens=20,
                                    tokenDelay=0.1)
        stub_upstream.set_behaviour(tokens=400, tokenDelay=0.1)
        headers = {"x-api-key": key["apiKey"]}
        short, long_ = [], []
        short_started, long_started = threading.Event(), threading.Event()
        readers = [threading.Thread(target=read_stream, args=(base, headers, short_started,
                                                              short)),
                   threading.Thread(target=read_stream, args=(base, headers, long_started,
                                                              long_))]
        readers[0].start()
        assert short_started.wait(10)
        readers[1].start()
        assert long_started.wait(10)
        stopped_at = time.monotonic()
        server.terminate()
        server.wait(60)
        for reader in readers:
            reader.join(10)
    finally:
        stop(server)
    short_ended, long_ended = short.pop() - stopped_at, long_.pop() - stopped_at
    assert short_ended < 6 and long_ended < 6, (short_ended, long_ended)
    short_text, long_text = "".join(short), "".join(long_)
    assert "SERVER_SHUTTING_DOWN" not in short_text and "outputTokens" in short_text
    assert "SERVER_SHUTTING_DOWN" in long_text, long_text[-500:]
    services = inspector()
    with services.uow() as uow:
        events = uow.usage_events.list_for_key(key["id"])
    assert len(events) == 2, "each stream's usage is recorded once"
    spent = sorted(event.output_tokens for event in events)
    assert spent[0] == 20 and 0 < spent[1] < 400, spent
