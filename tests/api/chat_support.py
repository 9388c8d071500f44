"""Shared set-up of the chat tests: upstream accounts on the stub, a key, a chat body."""

MODEL = "openai/gpt-4o-mini"
BODY = {"messages": [{"role": "user", "content": "say something"}]}


def add_account(client, admin_headers, stub, credential: str, **fields) -> dict:
    body = {"name": credential, "provider": "openai", "apiKey": credential,
            "baseUrl": stub.url + "/v1", **fields}
    response = client.post("/api/accounts", json=body, headers=admin_headers)
    assert response.status_code == 201, response.json
    return response.json["data"]


def key_usage(client, admin_headers, key_id: str) -> dict:
    return client.get(f"/api/keys/{key_id}", headers=admin_headers).json["data"]["usage"]


def set_quota(client, admin_headers, limit: int) -> None:
    response = client.put("/api/plans/free/basic", json={"limit": limit, "period": "day"},
                          headers=admin_headers)
    assert response.status_code == 200, response.json
