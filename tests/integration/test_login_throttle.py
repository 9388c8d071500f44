"""Login throttling over real HTTP: with Redis, and with the database fallback (Redis not
configured, or configured but down) on SQLite and PostgreSQL."""

import threading

import httpx
import pytest
from sqlalchemy import func, select

from app import services_of
from app.db.models import LoginFailure
from app.errors import LimitExceeded
from app.security import Passwords
from tests.support.apps import ADMIN, make_app
from tests.support.http import ServerThread
from tests.support.servers import free_port

ATTACKER, BYSTANDER, OTHER = "203.0.113.7", "198.51.100.9", "192.0.2.44"
WRONG = {**ADMIN, "password": "not the password"}


@pytest.fixture(params=["sqlite", "postgres+redis", "postgres", "postgres+redis-down"])
def store(request):
    return request.param


@pytest.fixture
def login_app(store, request, tmp_path):
    """The app behind a trusted proxy on 127.0.0.1, so X-Forwarded-For names the client."""
    datahttp = request.getfixturevalue("sqlite_url" if store == "sqlite" else "postgres_url")
    redis_url, prefix = None, "rg:"
    if store == "postgres+redis":
        redis_url, prefix = (request.getfixturevalue("redis_server_url"),
                             request.getfixturevalue("redis_prefix"))
    elif store == "postgres+redis-down":
        redis_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    application = make_app(tmp_path, datahttp, redis_url, prefix,
                           trusted_proxies=("127.0.0.1",))
    services_of(application).admins.ensure_initial(ADMIN["username"],
                                                   ADMIN["password"])
    yield application
    services_of(application).engine.dispose()


@pytest.fixture
def http(login_app):
    with ServerThread(login_app, free_port()) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def login(http: httpx.Client, body: dict, address: str) -> httpx.Response:
    return http.post("/api/sessions/login", json=body, headers={"X-Forwarded-For": address})


def rows_in_database(app) -> int:
    with services_of(app).uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(LoginFailure))


def test_the_21st_bad_login_in_a_minute_gets_429_while_another_address_logs_in(
        login_app, http, store):
    for _ in range(20):
        assert login(http, WRONG, ATTACKER).status_code == 401
    refused = login(http, WRONG, ATTACKER)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "TOO_MANY_LOGIN_FAILURES"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Locked out: even the right password is not tried from there.
    assert login(http, ADMIN, ATTACKER).status_code == 429
    welcome = login(http, ADMIN, BYSTANDER)
    assert welcome.status_code == 200, welcome.text
    assert welcome.json()["data"]["sessionToken"].startswith("rgs_")
    # The counters live where the store says: Redis when it is up, else the database.
    assert (rows_in_database(login_app) == 0) == (store == "postgres+redis")


def test_an_attacked_username_slows_addresses_that_failed_but_not_the_others(http):
    for _ in range(19):  # one short of both the address's and the username's limits
        assert login(http, WRONG, ATTACKER).status_code == 401
    # The 20th failure of the username: tried, since this address had not failed.
    assert login(http, WRONG, OTHER).status_code == 401
    slowed = login(http, ADMIN, OTHER)
    assert slowed.status_code == 429
    assert int(slowed.headers["Retry-After"]) >= 1
    assert login(http, ADMIN, BYSTANDER).status_code == 200


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(sqlite_url, tmp_path):
    application = make_app(tmp_path, sqlite_url)  # no trusted proxies: the default
    services_of(application).admins.ensure_initial(ADMIN["username"],
                                                   ADMIN["password"])
    with ServerThread(application, free_port()) as server, \
            httpx.Client(base_url=server.url, timeout=30) as http:
        for number in range(20):
            assert login(http, WRONG, f"10.0.0.{number}").status_code == 401
        assert login(http, ADMIN, "10.0.1.1").status_code == 429
    services_of(application).engine.dispose()


def test_lockouts_grow_for_an_address_that_keeps_failing(login_app):
    services = services_of(login_app)
    throttle = services.sessions.throttle
    now = [1_900_000_000_000]
    throttle.now_ms = lambda: now[0]
    waits = []
    for _ in range(3):
        for _ in range(20):
            throttle.record_failure(ATTACKER, "someone")
        with pytest.raises(LimitExceeded) as refused:
            throttle.check(ATTACKER, "someone-else")
        waits.append(refused.value.retry_after)
        now[0] += int(refused.value.retry_after * 1000)
        throttle.check(ATTACKER, "someone-else")  # the lockout is over
    assert waits == [60, 120, 240]


class GatedPasswords(Passwords):
    """Verification waits for the test's signal, to look at the pool while it hashes."""

    def __init__(self):
        super().__init__(time_cost=1, memory_kib=64)
        self.hashing, self.finish = threading.Event(), threading.Event()

    def verify(self, password_hash, password):
        self.hashing.set()
        assert self.finish.wait(10)
        return super().verify(password_hash, password)


def test_no_database_connection_is_held_while_the_password_hashes(login_app):
    services = services_of(login_app)
    gated = GatedPasswords()
    services.sessions.passwords = gated
    answer = {}
    worker = threading.Thread(target=lambda: answer.update(
        services.sessions.login(ADMIN["username"], ADMIN["password"], ip_address=BYSTANDER)))
    worker.start()
    try:
        assert gated.hashing.wait(10)
        assert services.engine.pool.checkedout() == 0
    finally:
        gated.finish.set()
        worker.join(10)
    assert answer["session_token"].startswith("rgs_")


def test_a_login_beyond_the_hash_cap_gets_503_with_retry_after(sqlite_url, tmp_path):
    application = make_app(tmp_path, sqlite_url, password_hash_concurrency=1,
                           password_hash_wait_seconds=0.05)
    services = services_of(application)
    services.admins.ensure_initial(ADMIN["username"], ADMIN["password"])
    with ServerThread(application, free_port()) as server, \
            httpx.Client(base_url=server.url, timeout=30) as http:
        with services.sessions.passwords._turn():  # another login is hashing
            busy = login(http, ADMIN, BYSTANDER)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert busy.json()["error"]["code"] == "LOGIN_BUSY"
        assert login(http, ADMIN, BYSTANDER).status_code == 200
    services.engine.dispose()
