"""GET /v1/models over real HTTP: both SDKs' models.list(), key permissions, client error shapes."""

import anthropic
import httpx
import openai
import pytest

from tests.support.http import ServerThread
from tests.support.servers import free_port

CLAUDE_UPSTREAM = {"claude-opus-4-1-20250805", "claude-sonnet-4-5-20250929",
                   "claude-sonnet-4-20250514", "claude-3-7-sonnet-20250219",
                   "claude-haiku-4-5-20251001", "claude-3-5-haiku-20241022"}


@pytest.fixture
def server(app):
    with ServerThread(app, free_port()) as running:
        yield running


def test_the_openai_sdk_lists_every_active_model_by_catalogue_id(server, make_key):
    key = make_key()
    sdk = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key["apiKey"], max_retries=0)
    models = list(sdk.models.list())
    ids = {model.id for model in models}
    assert {"openai/gpt-4o", "claude/claude-sonnet-4-5", "gemini/gemini-2.5-pro"} <= ids
    assert len(ids) == 19
    sonnet = next(model for model in models if model.id == "claude/claude-sonnet-4-5")
    assert sonnet.object == "model" and sonnet.owned_by == "anthropic" and sonnet.created > 0


def test_the_anthropic_sdk_lists_upstream_names_page_by_page_on_every_prefix(server, make_key):
    key = make_key(permissions="claude")
    for base_url in (server.url, f"{server.url}/api", f"{server.url}/claude"):
        sdk = anthropic.Anthropic(base_url=base_url, api_key=key["apiKey"], max_retries=0)
        first = sdk.models.list(limit=4)
        assert len(first.data) == 4 and first.has_more is True
        assert first.first_id == first.data[0].id and first.last_id == first.data[-1].id
        models = list(sdk.models.list(limit=4))  # the SDK follows has_more / last_id
        assert {model.id for model in models} == CLAUDE_UPSTREAM
        sonnet = next(m for m in models if m.id == "claude-sonnet-4-5-20250929")
        assert sonnet.type == "model" and sonnet.display_name == "Claude Sonnet 4.5"
        assert sonnet.created_at.year >= 2026


def test_a_key_limited_to_claude_lists_only_claude_models(server, make_key):
    key = make_key(permissions=["claude"])
    sdk = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key["apiKey"], max_retries=0)
    ids = {model.id for model in sdk.models.list()}
    assert ids and all(model_id.startswith("claude/") for model_id in ids)
    assert len(ids) == 6


def test_a_bearer_token_and_an_api_key_header_authenticate_too(server, make_key):
    key = make_key(permissions="gemini")
    for headers, expected in (
            ({"Authorization": f"Bearer {key['apiKey']}"}, "gemini/gemini-2.5-pro"),
            ({"api-key": key["apiKey"]}, "gemini/gemini-2.5-pro"),
            ({"x-api-key": key["apiKey"], "anthropic-version": "2023-06-01"}, "gemini-2.5-pro")):
        answer = httpx.get(f"{server.url}/api/v1/models", headers=headers)
        assert answer.status_code == 200, answer.text
        ids = {model["id"] for model in answer.json()["data"]}
        assert expected in ids and len(ids) == 4


def test_a_deactivated_model_is_no_longer_listed(server, client, admin_headers, make_key):
    key = make_key(permissions="claude")
    sdk = anthropic.Anthropic(base_url=server.url, api_key=key["apiKey"], max_retries=0)
    assert "claude-3-5-haiku-20241022" in {m.id for m in sdk.models.list(limit=100)}
    response = client.delete("/api/models/claude/claude-3-5-haiku", headers=admin_headers)
    assert response.status_code == 200
    assert {m.id for m in sdk.models.list(limit=100)} == CLAUDE_UPSTREAM - {
        "claude-3-5-haiku-20241022"}


def test_a_wrong_key_is_refused_in_the_shape_of_the_clients_protocol(server):
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=server.url, api_key="rg_wrong", max_retries=0
                            ).models.list()
    with pytest.raises(openai.AuthenticationError):
        list(openai.OpenAI(base_url=f"{server.url}/v1", api_key="rg_wrong", max_retries=0
                           ).models.list())
    as_anthropic = httpx.get(f"{server.url}/v1/models", headers={
        "x-api-key": "rg_wrong", "anthropic-version": "2023-06-01"})
    assert as_anthropic.status_code == 401
    assert as_anthropic.json()["type"] == "error"
    assert as_anthropic.json()["error"]["type"] == "authentication_error"
    as_openai = httpx.get(f"{server.url}/claude/v1/models")
    assert as_openai.status_code == 401
    assert as_openai.json()["error"]["type"] == "authentication_error"
    assert as_openai.json()["error"]["code"] == "MISSING_API_KEY"
