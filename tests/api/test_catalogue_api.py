"""/api/models: the catalogue ships seeded, and admins change it without a deploy."""

from __future__ import annotations

NEW = {"id": "openai/gpt-9", "name": "GPT-9", "provider": "openai", "modelType": "premium",
       "upstreamModel": "gpt-9", "inputPrice": "1.5", "outputPrice": 6,
       "cacheWritePrice": "1.5", "cacheReadPrice": "0.15", "contextWindow": 500000}


def test_the_catalogue_is_seeded_with_the_documents_example_and_a_dozen_more(client,
                                                                             admin_headers):
    models = client.get("/api/models", headers=admin_headers).json["data"]
    assert len(models) >= 12
    assert {m["provider"] for m in models} == {"openai", "claude", "gemini"}
    gpt4o = next(m for m in models if m["id"] == "openai/gpt-4o")
    assert gpt4o == {**gpt4o, "name": "GPT-4o", "modelType": "premium",
                     "upstreamModel": "gpt-4o", "inputPrice": 2.5, "outputPrice": 10.0,
                     "isActive": True}
    basic = client.get("/api/models?modelType=basic&provider=claude",
                       headers=admin_headers).json["data"]
    assert basic and all(m["modelType"] == "basic" and m["provider"] == "claude" for m in basic)


def test_an_admin_adds_changes_and_deactivates_a_model(client, admin_headers):
    created = client.post("/api/models", json=NEW, headers=admin_headers)
    assert created.status_code == 201, created.json
    assert created.json["data"]["outputPrice"] == 6.0
    assert client.get("/api/models/openai/gpt-9",
                      headers=admin_headers).json["data"]["name"] == "GPT-9"

    changed = client.patch("/api/models/openai/gpt-9",
                           json={"inputPrice": "0.12345678", "name": "GPT-9 Turbo"},
                           headers=admin_headers)
    assert changed.json["data"]["inputPrice"] == 0.12345678
    deactivated = client.delete("/api/models/openai/gpt-9", headers=admin_headers)
    assert deactivated.json["data"]["isActive"] is False
    active = client.get("/api/models?isActive=true", headers=admin_headers).json["data"]
    assert "openai/gpt-9" not in {m["id"] for m in active}


def test_a_new_model_is_known_to_usage_checks_by_id_and_name_at_once(client, admin_headers,
                                                                     make_user, user_session):
    headers = user_session(make_user()["id"])
    assert client.get("/api/usage/check?model=GPT-9",
                      headers=headers).json["data"]["usage"]["modelType"] == "basic"
    client.post("/api/models", json=NEW, headers=admin_headers)
    for model in ("GPT-9", "openai/gpt-9"):
        usage = client.get(f"/api/usage/check?model={model}", headers=headers).json["data"]
        assert usage["usage"]["modelType"] == "premium"
    client.patch("/api/models/openai/gpt-9", json={"name": "GPT-9 Turbo"},
                 headers=admin_headers)
    assert client.get("/api/usage/check?model=GPT-9",
                      headers=headers).json["data"]["usage"]["modelType"] == "basic"


def test_taken_ids_or_names_are_409_unknown_ids_404_and_bad_fields_422(client, admin_headers):
    assert client.post("/api/models", json={**NEW, "id": "openai/gpt-4o"},
                       headers=admin_headers).status_code == 409
    assert client.post("/api/models", json={**NEW, "name": "GPT-4o"},
                       headers=admin_headers).status_code == 409
    assert client.patch("/api/models/openai/gpt-4o-mini", json={"name": "GPT-4o"},
                        headers=admin_headers).status_code == 409
    assert client.get("/api/models/acme/none", headers=admin_headers).status_code == 404
    assert client.delete("/api/models/acme/none", headers=admin_headers).status_code == 404
    for bad in ({"provider": "acme"}, {"modelType": "gold"}, {"inputPrice": -1},
                {"inputPrice": "NaN"}, {"id": "bad id"}, {"surprise": 1}):
        response = client.post("/api/models", json={**NEW, **bad}, headers=admin_headers)
        assert response.status_code == 422, bad
    assert client.get("/api/models/openai/gpt-9", headers=admin_headers).status_code == 404


def test_the_catalogue_routes_are_for_admins_only(client):
    assert client.get("/api/models").status_code == 401
    assert client.post("/api/models", json=NEW).status_code == 401


def test_the_seeded_claude_models_carry_their_anthropic_aliases(client, admin_headers):
    sonnet = client.get("/api/models/claude/claude-sonnet-4-5", headers=admin_headers)
    assert sonnet.json["data"]["aliases"] == ["claude-sonnet-4-5"]
    assert client.get("/api/models/openai/gpt-4o",
                      headers=admin_headers).json["data"]["aliases"] == []


def test_an_admin_sets_a_models_aliases_once_each(client, admin_headers):
    created = client.post("/api/models", json={**NEW, "aliases": ["g9", "g9", "nine"]},
                          headers=admin_headers)
    assert created.status_code == 201, created.json
    assert created.json["data"]["aliases"] == ["g9", "nine"]
    changed = client.patch("/api/models/openai/gpt-9", json={"aliases": []},
                           headers=admin_headers)
    assert changed.json["data"]["aliases"] == []
    refused = client.patch("/api/models/openai/gpt-9", json={"aliases": [""]},
                           headers=admin_headers)
    assert refused.status_code == 422
    assert "aliases" in refused.json["error"]["details"]


def test_an_hours_cache_write_costs_twice_the_input_for_claude_unless_an_admin_sets_it(
        client, admin_headers):
    models = client.get("/api/models", headers=admin_headers).json["data"]
    sonnet = next(m for m in models if m["id"] == "claude/claude-sonnet-4-5")
    assert (sonnet["inputPrice"], sonnet["cacheWrite1hPrice"]) == (3.0, 6.0)
    gpt4o = next(m for m in models if m["id"] == "openai/gpt-4o")
    assert gpt4o["cacheWrite1hPrice"] == gpt4o["cacheWritePrice"]
    claude = {**NEW, "id": "claude/new", "name": "New", "provider": "claude",
              "upstreamModel": "claude-new"}
    created = client.post("/api/models", json=claude, headers=admin_headers).json["data"]
    assert created["cacheWrite1hPrice"] == 3.0
    changed = client.patch("/api/models/claude/new", json={"cacheWrite1hPrice": "4.5"},
                           headers=admin_headers).json["data"]
    assert changed["cacheWrite1hPrice"] == 4.5
