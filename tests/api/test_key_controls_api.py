"""The key controls and account groups through the admin API: shown, set, and checked."""

from __future__ import annotations

from tests.api.chat_support import add_account


def _account(client, admin_headers, stub_upstream, name: str, **fields) -> dict:
    return add_account(client, admin_headers, stub_upstream, name, provider="claude",
                       baseUrl=stub_upstream.url, **fields)


def _group(client, admin_headers, **body):
    return client.post("/api/account-groups", headers=admin_headers,
                       json={"name": "pool", "provider": "claude", **body})


def test_a_keys_controls_are_set_and_shown_to_the_admin_and_the_holder(
        client, admin_headers, make_key, stub_upstream):
    account = _account(client, admin_headers, stub_upstream, "acct-a")
    group = _group(client, admin_headers, accountIds=[account["id"]]).json["data"]
    key = make_key(allowedModels=["claude-*"], deniedModels=["claude-opus-*"],
                   allowedClients=["claude_code", "ua:my-tool/*"], activationDays=3,
                   activationUnit="hours",
                   accountBindings=[{"groupId": group["id"]}, {"accountId": account["id"]}])

    admin_view = client.get(f"/api/keys/{key['id']}", headers=admin_headers).json["data"]
    own_view = client.get("/api/keys/me", headers={"x-api-key": key["apiKey"]}).json["data"]

    for view in (admin_view, own_view):
        assert view["allowedModels"] == ["claude-*"]
        assert view["deniedModels"] == ["claude-opus-*"]
        assert view["allowedClients"] == ["claude_code", "ua:my-tool/*"]
        assert (view["activationDays"], view["activationUnit"]) == (3, "hours")
        assert (view["activatedAt"], view["expiresAt"]) == (None, None)
        assert sorted(view["accountBindings"], key=str) == sorted(
            [{"groupId": group["id"]}, {"accountId": account["id"]}], key=str)
    cleared = client.patch(f"/api/keys/{key['id']}", headers=admin_headers,
                           json={"accountBindings": [], "deniedModels": []})
    assert cleared.status_code == 200
    assert (cleared.json["data"]["accountBindings"], cleared.json["data"]["deniedModels"]) == (
        [], [])


def test_bad_controls_are_refused_and_change_nothing(client, admin_headers, make_key,
                                                     stub_upstream):
    key = make_key()
    bad = [
        {"deniedModels": ["claude-[opus"]},
        {"allowedModels": ["two words"]},
        {"allowedClients": ["cursor"]},
        {"allowedClients": ["ua:"]},
        {"accountBindings": [{"accountId": "no-such-account"}]},
        {"accountBindings": [{"groupId": "no-such-group"}]},
        {"accountBindings": [{"accountId": "a", "groupId": "b"}]},
        {"activationDays": 2, "expiresAt": "2030-01-01T00:00:00Z"},
        {"activationUnit": "weeks"},
    ]
    for body in bad:
        response = client.patch(f"/api/keys/{key['id']}", headers=admin_headers, json=body)
        assert response.status_code == 422, (body, response.json)
        assert response.json["success"] is False
    created = client.post("/api/keys", headers=admin_headers,
                          json={"name": "x", "deniedModels": ["claude-[opus"]})
    assert created.status_code == 422
    after = client.get(f"/api/keys/{key['id']}", headers=admin_headers).json["data"]
    assert (after["allowedModels"], after["deniedModels"], after["allowedClients"],
            after["accountBindings"], after["activationDays"]) == ([], [], [], [], None)


def test_a_fixed_expiry_ends_a_first_use_one(client, admin_headers, make_key):
    key = make_key(activationDays=5)
    changed = client.patch(f"/api/keys/{key['id']}", headers=admin_headers,
                           json={"expiresAt": "2030-01-01T00:00:00Z"}).json["data"]

    assert (changed["activationDays"], changed["expiresAt"]) == (None, "2030-01-01T00:00:00+00:00")


def test_account_groups_are_created_listed_changed_and_deleted(client, admin_headers,
                                                               stub_upstream):
    one = _account(client, admin_headers, stub_upstream, "acct-1")
    two = _account(client, admin_headers, stub_upstream, "acct-2")
    created = _group(client, admin_headers, accountIds=[one["id"]], description="team a")
    assert created.status_code == 201, created.json
    group = created.json["data"]
    assert (group["provider"], group["accountIds"]) == ("claude", [one["id"]])

    changed = client.patch(f"/api/account-groups/{group['id']}", headers=admin_headers,
                           json={"accountIds": [one["id"], two["id"]], "name": "pool-2"})
    assert changed.status_code == 200
    assert sorted(changed.json["data"]["accountIds"]) == sorted([one["id"], two["id"]])
    listed = client.get("/api/account-groups?provider=claude", headers=admin_headers)
    assert [g["name"] for g in listed.json["data"]] == ["pool-2"]

    assert client.delete(f"/api/account-groups/{group['id']}",
                         headers=admin_headers).status_code == 200
    assert client.get(f"/api/account-groups/{group['id']}",
                      headers=admin_headers).status_code == 404


def test_a_group_holds_only_existing_accounts_of_its_provider(client, admin_headers,
                                                              stub_upstream):
    openai = add_account(client, admin_headers, stub_upstream, "acct-openai")

    other = _group(client, admin_headers, accountIds=[openai["id"]])
    missing = _group(client, admin_headers, accountIds=["nope"])
    assert other.status_code == missing.status_code == 422
    assert _group(client, admin_headers).status_code == 201
    assert _group(client, admin_headers).status_code == 409  # the name is taken


def test_an_account_or_group_a_key_is_bound_to_cannot_be_deleted(client, admin_headers,
                                                                 make_key, stub_upstream):
    account = _account(client, admin_headers, stub_upstream, "acct-b")
    group = _group(client, admin_headers, accountIds=[account["id"]]).json["data"]
    make_key(accountBindings=[{"accountId": account["id"]}, {"groupId": group["id"]}])

    refused_account = client.delete(f"/api/accounts/{account['id']}", headers=admin_headers)
    refused_group = client.delete(f"/api/account-groups/{group['id']}", headers=admin_headers)

    assert refused_account.status_code == refused_group.status_code == 409
    assert refused_account.json["error"]["code"] == "ACCOUNT_IN_USE"
    assert refused_group.json["error"]["code"] == "GROUP_IN_USE"


def test_the_dedicated_flag_is_set_through_the_accounts_api(client, admin_headers,
                                                            stub_upstream):
    account = _account(client, admin_headers, stub_upstream, "acct-d", dedicated=True)
    shown = client.get("/api/accounts?limit=100", headers=admin_headers).json["data"]["accounts"]
    assert [a["dedicated"] for a in shown if a["id"] == account["id"]] == [True]

    changed = client.patch(f"/api/accounts/{account['id']}", headers=admin_headers,
                           json={"dedicated": False})
    assert changed.status_code == 200 and changed.json["data"]["dedicated"] is False


def test_a_deleted_key_no_longer_holds_its_account(client, admin_headers, make_key,
                                                   stub_upstream):
    account = _account(client, admin_headers, stub_upstream, "acct-c")
    key = make_key(accountBindings=[{"accountId": account["id"]}])

    assert client.delete(f"/api/keys/{key['id']}", headers=admin_headers).status_code == 200
    assert client.delete(f"/api/accounts/{account['id']}",
                         headers=admin_headers).status_code == 200
