"""Usage a caller reports (POST /api/usage/records) over real HTTP, on SQLite and PostgreSQL with
Redis: it never erases or deduplicates the relay's own records, one key's request ids are not
another's, a key holder's report is checked against the catalogue and its own key, and
timestamps stay within the retention."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import text

from app import services_of
from tests.api.chat_support import BODY, MODEL, add_account
from tests.support.apps import login_headers, make_app
from tests.support.http import ServerThread
from tests.support.quota import key_counter
from tests.support.servers import free_port


class Gateway:
    """The app served over HTTP, with an admin's headers and its services for the drain."""

    def __init__(self, application, server: ServerThread):
        self.app, self.url = application, server.url
        self.services = services_of(application)
        self.admin = login_headers(application)
        self.http = httpx.Client(base_url=server.url, timeout=30)

    def key(self) -> dict:
        answer = self.http.post("/api/keys", json={"name": "reporter"}, headers=self.admin)
        assert answer.status_code == 201, answer.json()
        return answer.json()["data"]

    def chat_fast(self, key: dict) -> dict:
        answer = self.http.post(f"/api/ai/chat-fast?model={MODEL}",
                                json={**BODY, "stream": False},
                                headers={"x-api-key": key["apiKey"]})
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]["usage"]

    def report(self, headers: dict, **record):
        return self.http.post("/api/usage/records",
                              json={"accountType": "openai", "model": MODEL, **record},
                              headers=headers)

    def drain(self) -> None:
        self.services.usage_queue.drain_once("tests")

    def key_usage(self, key_id: str) -> dict:
        return self.http.get(f"/api/keys/{key_id}", headers=self.admin).json()["data"]["usage"]

    def account_usage(self, account_id: str) -> dict:
        answer = self.http.get(f"/api/accounts/{account_id}", headers=self.admin)
        return answer.json()["data"]["usageStats"]

    def events(self, key_id: str) -> list[tuple]:
        with self.services.uow() as uow:
            return sorted((e.source, e.request_id, e.total_tokens, e.cost, e.account_id)
                          for e in uow.usage_events.list_for_key(key_id))

    def plan_units(self, key: dict) -> tuple[int, int]:
        """(used as the key holder sees it, used in the database's counter)."""
        check = self.http.get(f"/api/usage/check?model={MODEL}",
                              headers={"x-api-key": key["apiKey"]})
        quota = self.services.quota
        stored = quota._stored(key_counter(quota, key, MODEL))
        return check.json()["data"]["usage"]["used"], stored.used

    def partitions(self) -> list[str]:
        with self.services.engine.connect() as connection:
            if connection.dialect.name != "postgresql":
                return []
            return sorted(connection.scalars(text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'usage_events'::regclass")))

    def close(self) -> None:
        self.http.close()


@pytest.fixture(params=["sqlite", "postgres"])
def gateway(request, redis_server_url, redis_prefix, tmp_path, stub_upstream):
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    application = make_app(tmp_path, url, redis_server_url, redis_prefix)
    try:
        with ServerThread(application, free_port()) as server:
            served = Gateway(application, server)
            served.stub_account = add_account(application.test_client(), served.admin,
                                              stub_upstream, "acct-a")
            yield served
            served.close()
    finally:
        services_of(application).engine.dispose()


def holder(key: dict) -> dict:
    return {"x-api-key": key["apiKey"]}


def assert_billed_in_full(gateway: Gateway, key: dict, usage: dict) -> None:
    """The chat's own record and its whole settlement are stored, once."""
    relay = [e for e in gateway.events(key["id"]) if e[0] == "relay"]
    cost = Decimal(str(usage["cost"]))
    assert relay == [("relay", usage["requestId"], usage["totalTokens"], cost,
                      gateway.stub_account["id"])]
    totals = gateway.key_usage(key["id"])
    assert totals["totalTokens"] == usage["totalTokens"] > 0
    assert Decimal(str(totals["totalCost"])) == cost > 0
    assert gateway.plan_units(key) == (1, 1)
    account = gateway.account_usage(gateway.stub_account["id"])
    assert (account["totalRequests"], account["totalTokens"]) == (1, usage["totalTokens"])
    assert Decimal(str(account["totalCost"])) == cost


def test_a_key_holder_cannot_erase_a_chat_fast_charge_by_claiming_its_request_id_first(gateway):
    key = gateway.key()
    usage = gateway.chat_fast(key)
    claimed = gateway.report(holder(key), requestId=usage["requestId"], cost="0")
    assert claimed.status_code == 201, claimed.json()
    gateway.drain()
    gateway.drain()
    assert_billed_in_full(gateway, key, usage)
    assert ("client", usage["requestId"], 0, Decimal(0), None) in gateway.events(key["id"])
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    report = gateway.http.get("/api/usage/stats", headers=holder(key), params={
        "startDate": iso(hour - timedelta(hours=1)), "endDate": iso(hour + timedelta(hours=1)),
        "granularity": "hour"}).json()["data"]["summary"]
    assert (report["totalRequests"], report["totalTokens"], report["totalCost"]) == (
        2, usage["totalTokens"], usage["cost"])


def test_a_report_after_the_drain_is_the_key_holders_own_and_leaves_the_charge(gateway):
    key = gateway.key()
    usage = gateway.chat_fast(key)
    gateway.drain()
    claimed = gateway.report(holder(key), requestId=usage["requestId"])
    assert claimed.status_code == 201, claimed.json()
    assert gateway.report(holder(key), requestId=usage["requestId"]).status_code == 200
    assert_billed_in_full(gateway, key, usage)
    assert gateway.key_usage(key["id"])["totalRequests"] == 2


def test_one_key_cannot_pre_claim_another_keys_request_id(gateway):
    first, second = gateway.key(), gateway.key()
    for key in (first, second):
        answer = gateway.report(holder(key), requestId="shared-id", inputTokens=1000)
        assert answer.status_code == 201, answer.json()
    admin = gateway.report(gateway.admin, apiKeyId=first["id"], requestId="shared-id",
                           inputTokens=5)
    assert admin.status_code == 201, admin.json()
    for key in (first, second):
        assert [e[:3] for e in gateway.events(key["id"]) if e[0] == "client"] == [
            ("client", "shared-id", 1000)]
    assert gateway.key_usage(first["id"])["totalTokens"] == 1005
    assert gateway.key_usage(second["id"])["totalTokens"] == 1000


def test_a_key_holders_cost_comes_from_the_catalogue_and_never_below_it(gateway):
    key = gateway.key()
    cheap = gateway.report(holder(key), inputTokens=1_000_000, cost="0.01")
    assert cheap.status_code == 422
    assert "cost" in cheap.json()["error"]["details"]
    assert gateway.report(holder(key), inputTokens=1_000_000).status_code == 201
    assert gateway.report(holder(key), model="GPT-4o mini", outputTokens=1_000_000,
                          cost="5").status_code == 201
    totals = gateway.key_usage(key["id"])
    assert (totals["totalRequests"], Decimal(str(totals["totalCost"]))) == (
        2, Decimal("0.15") + Decimal("5"))
    assert {e[0] for e in gateway.events(key["id"])} == {"client"}
    assert {e[1] for e in gateway.events(key["id"])} == {None}


REFUSED_FROM_A_KEY_HOLDER = [
    ({"model": "made-up-model"}, "model"),
    ({"accountId": "acct-anything"}, "accountId"),
    ({"inputTokens": -5}, "inputTokens"),
    ({"cost": "-1"}, "cost"),
    ({"inputTokens": 10, "totalTokens": 0}, "totalTokens"),
]


def test_a_key_holders_bad_report_is_422_and_changes_nothing(gateway):
    key = gateway.key()
    for change, field in REFUSED_FROM_A_KEY_HOLDER:
        answer = gateway.report(holder(key), **change)
        assert answer.status_code == 422, (change, answer.json())
        assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
        assert field in answer.json()["error"]["details"], answer.json()
    unknown_account = gateway.report(gateway.admin, apiKeyId=key["id"], accountId="no-such")
    assert unknown_account.status_code == 422
    assert "accountId" in unknown_account.json()["error"]["details"]
    assert gateway.events(key["id"]) == []
    assert gateway.key_usage(key["id"])["totalRequests"] == 0
    named = gateway.report(gateway.admin, apiKeyId=key["id"], inputTokens=3,
                           accountId=gateway.stub_account["id"])
    assert named.status_code == 201, named.json()
    assert gateway.events(key["id"]) == [
        ("admin", None, 3, Decimal("0.00000045"), gateway.stub_account["id"])]


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def test_timestamps_outside_the_retention_or_in_the_future_are_422_and_make_no_partition(
        gateway):
    key = gateway.key()
    now = datetime.now(UTC)
    before = gateway.partitions()
    refused = [now - timedelta(days=91), now + timedelta(minutes=6),
               datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)]
    for instant in refused:
        for headers, extra in ((holder(key), {}), (gateway.admin, {"apiKeyId": key["id"]})):
            answer = gateway.report(headers, timestamp=iso(instant), **extra)
            assert answer.status_code == 422, (instant, answer.json())
            assert "timestamp" in answer.json()["error"]["details"]
        keyed = gateway.http.post(f"/api/keys/{key['id']}/usage", headers=gateway.admin,
                                  json={"model": "m", "timestamp": iso(instant)})
        assert keyed.status_code == 422, (instant, keyed.json())
    assert gateway.partitions() == before
    assert gateway.events(key["id"]) == []
    for instant in (now - timedelta(days=89), now + timedelta(minutes=4)):
        assert gateway.report(holder(key), timestamp=iso(instant)).status_code == 201
    assert all(name[len("usage_events_"):][:4].isdigit() for name in gateway.partitions())
