"""Model names as clients send them, on /v1/chat/completions over real HTTP with the openai SDK:
catalogue id, name, upstream model name or alias; the lowest id wins a shared upstream name;
a name nothing routes is openai.NotFoundError. /api/usage/check keeps the seed's rule."""

from datetime import UTC, datetime, timedelta

import openai
import pytest

from app import services_of
from tests.api.chat_support import add_account
from tests.support.apps import login_headers, make_app
from tests.support.http import ServerThread
from tests.support.servers import free_port

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def served(app, client, admin_headers, stub_upstream, make_key):
    add_account(client, admin_headers, stub_upstream, "acct-names")
    key = make_key()
    with ServerThread(app, free_port()) as server:
        sdk = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key["apiKey"], max_retries=0)
        yield sdk, key


def requests_by_model(client, admin_headers) -> dict:
    """Requests per model in the stats report, after storing what chat-fast queued."""
    queue = services_of(client.application).usage_queue
    if queue is not None:
        queue.drain_once("tests")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    answer = client.get("/api/usage/stats", headers=admin_headers, query_string={
        "startDate": (now - timedelta(hours=1)).isoformat(),
        "endDate": (now + timedelta(hours=2)).isoformat(), "groupBy": "model"})
    assert answer.status_code == 200, answer.json
    totals: dict[str, int] = {}
    for row in answer.json["data"]["stats"]:
        for model, sums in row["models"].items():
            totals[model] = totals.get(model, 0) + sums["requests"]
    return totals


def test_a_model_answers_to_its_id_name_upstream_name_and_aliases(served, client, admin_headers,
                                                                  stub_upstream):
    sdk, _ = served
    patched = client.patch("/api/models/openai/gpt-4o-mini", json={"aliases": ["mini", "small"]},
                           headers=admin_headers)
    assert patched.status_code == 200 and patched.json["data"]["aliases"] == ["mini", "small"]
    for name in ("openai/gpt-4o-mini", "GPT-4o mini", "gpt-4o-mini", "mini", "small"):
        answer = sdk.chat.completions.create(model=name, messages=HELLO)
        assert answer.choices[0].message.content
    assert [r["model"] for r in stub_upstream.requests()] == ["gpt-4o-mini"] * 5
    assert requests_by_model(client, admin_headers) == {"openai/gpt-4o-mini": 5}


def test_the_lowest_id_answers_an_upstream_name_that_several_entries_share(
        served, client, admin_headers):
    sdk, _ = served
    for model_id in ("openai/tie-b", "openai/tie-a"):
        created = client.post("/api/models", headers=admin_headers, json={
            "id": model_id, "name": model_id.upper(), "provider": "openai",
            "modelType": "basic", "upstreamModel": "tie-upstream"})
        assert created.status_code == 201, created.json
    sdk.chat.completions.create(model="tie-upstream", messages=HELLO)
    assert requests_by_model(client, admin_headers) == {"openai/tie-a": 1}
    client.delete("/api/models/openai/tie-a", headers=admin_headers)  # deactivates
    sdk.chat.completions.create(model="tie-upstream", messages=HELLO)
    assert requests_by_model(client, admin_headers) == {"openai/tie-a": 1, "openai/tie-b": 1}


def test_a_name_no_active_entry_routes_is_not_found_in_openais_shape(served, client,
                                                                    admin_headers):
    sdk, _ = served
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="no-such-model", messages=HELLO)
    client.delete("/api/models/openai/gpt-4o-mini", headers=admin_headers)
    for name in ("openai/gpt-4o-mini", "gpt-4o-mini"):
        with pytest.raises(openai.NotFoundError):
            sdk.chat.completions.create(model=name, messages=HELLO)


def test_the_usage_check_keeps_the_seeds_rule_for_names_it_does_not_know(served, client):
    _, key = served
    for name, tier in (("no-such-model", "basic"), ("claude-sonnet-4-5", "basic"),
                       ("Claude Sonnet 4.5", "premium")):
        answer = client.get("/api/usage/check", query_string={"model": name},
                            headers={"x-api-key": key["apiKey"]})
        assert answer.status_code == 200, answer.json
        assert answer.json["data"]["usage"]["modelType"] == tier


def test_claude_codes_names_resolve_to_the_catalogue_entry(services):
    for name in ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "Claude Sonnet 4.5",
                 "claude/claude-sonnet-4-5"):
        found = services.models.resolve_for_client(name)
        assert found["id"] == "claude/claude-sonnet-4-5"
        assert found["model_type"] == "premium"
    assert services.models.resolve_for_client("claude-sonnet-4-5-2099") is None


def test_an_id_outranks_a_name_an_upstream_name_and_an_alias(services, client, admin_headers):
    client.patch("/api/models/openai/gpt-4o-mini", headers=admin_headers,
                 json={"aliases": ["openai/gpt-4o", "GPT-4o", "gpt-4o", "only-mini"]})
    for name in ("openai/gpt-4o", "GPT-4o", "gpt-4o"):
        assert services.models.resolve_for_client(name)["id"] == "openai/gpt-4o"
    assert services.models.resolve_for_client("only-mini")["id"] == "openai/gpt-4o-mini"


def test_every_listed_model_id_routes_back_to_the_entry_listed(services, client, admin_headers,
                                                               make_key):
    client.post("/api/models", headers=admin_headers, json={
        "id": "claude/zz-copy", "name": "ZZ copy", "provider": "claude", "modelType": "basic",
        "upstreamModel": "claude-sonnet-4-5-20250929"})
    key = services.keys.authenticate(make_key()["apiKey"])
    for listed_as in ("id", "upstream"):
        listed = services.models.offered_to(key, listed_as=listed_as)["models"]
        for model in listed:
            assert services.models.resolve_for_client(model["listed_id"])["id"] == model["id"]
        assert len({m["listed_id"] for m in listed}) == len(listed)
    upstream = services.models.offered_to(key, listed_as="upstream")["models"]
    assert "claude/zz-copy" not in {m["id"] for m in upstream}  # the lowest id answers it


def test_a_catalogue_change_on_one_instance_routes_at_once_on_another(
        postgres_url, redis_server_url, redis_prefix, tmp_path, stub_upstream):
    one, other = (make_app(tmp_path, postgres_url, redis_server_url, redis_prefix)
                  for _ in range(2))
    headers = login_headers(one)
    editor, relay = one.test_client(), other.test_client()
    add_account(editor, headers, stub_upstream, "acct-instances")
    key = {"x-api-key": editor.post("/api/keys", json={"name": "instances"},
                                    headers=headers).json["data"]["apiKey"]}

    def status(name: str) -> int:
        return relay.post("/v1/chat/completions", headers=key, json={
            "model": name, "messages": HELLO}).status_code

    assert (status("gpt-4o-mini"), status("pocket")) == (200, 404)  # the table is warm
    editor.patch("/api/models/openai/gpt-4o-mini", json={"aliases": ["pocket"]},
                 headers=headers)
    assert status("pocket") == 200
    editor.delete("/api/models/openai/gpt-4o-mini", headers=headers)  # deactivates
    assert (status("gpt-4o-mini"), status("pocket")) == (404, 404)
    for application in (one, other):
        services_of(application).engine.dispose()
