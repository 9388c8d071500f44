"""A key's "who and what" controls over real HTTP, on both backends, for keys made through the
API and for the same controls imported from claude-relay-service: the model lists, activation
on first use, client restrictions, and account binding (groups, dedicated accounts)."""

from __future__ import annotations

import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
import redis

from tests.api.chat_support import add_account
from tests.integration.native_support import CLAUDE, CLAUDE_UPSTREAM, serve
from tests.migration.crs_fixture import (
    ENCRYPTION_KEY,
    write_console_account,
    write_group,
    write_key,
)
from tests.migration.importing import run_import

OPUS, OPUS_UPSTREAM = "claude/claude-opus-4-1", "claude-opus-4-1-20250805"
HELLO = [{"role": "user", "content": "hello"}]
CLAUDE_CODE_AGENT = "claude-cli/2.0.14 (external, cli)"
CLAUDE_CODE_SYSTEM = [{"type": "text",
                       "text": "You are Claude Code, Anthropic's official CLI for Claude."}]

def claude_code_user(session: str) -> str:
    """Claude Code's metadata.user_id, which names its session."""
    return f"user_{'ab' * 32}_account__session_{session}"


class Origin:
    """Accounts, groups and keys with the same controls, made through the admin API ("api")
    or written into a CRS store and imported ("crs"); `ready()` imports what was written."""

    def __init__(self, kind: str, gateway, crs: redis.Redis | None):
        self.kind, self.gateway, self.crs = kind, gateway, crs
        self.pipe = crs.pipeline(transaction=False) if crs is not None else None
        self.groups: dict[str, str] = {}

    def account(self, credential: str, *, dedicated: bool = False, group: bool = False) -> None:
        """A Claude account answering on the stub with `credential` as its API key; a group
        member is dedicated (CRS's accountType `group`)."""
        if self.kind == "api":
            add_account(self.gateway.client, self.gateway.admin, self.gateway.stub, credential,
                        provider="claude", baseUrl=self.gateway.stub.url,
                        dedicated=dedicated or group)
            return
        kind = "group" if group else "dedicated" if dedicated else "shared"
        write_console_account(self.pipe, ENCRYPTION_KEY, credential, self.gateway.stub.url,
                              credential, kind)

    def group(self, name: str, members: list[str]) -> None:
        if self.kind == "crs":
            write_group(self.pipe, name, name, "claude", members)
            self.groups[name] = name
            return
        ids = self._account_ids()
        response = self.gateway.client.post("/api/account-groups", headers=self.gateway.admin,
                                            json={"name": name, "provider": "claude",
                                                  "accountIds": [ids[m] for m in members]})
        assert response.status_code == 201, response.json
        self.groups[name] = response.json["data"]["id"]

    def key(self, *, denied: list[str] = (), clients: list[str] = (),
            activation_days: int | None = None, group: str | None = None) -> dict:
        """{"id", "apiKey"} of a key with these controls."""
        if self.kind == "api":
            fields = {"deniedModels": list(denied), "allowedClients": list(clients)}
            if activation_days:
                fields["activationDays"] = activation_days
            if group:
                fields["accountBindings"] = [{"groupId": self.groups[group]}]
            created = self.gateway.new_key(**fields)
            return {"id": created["id"], "apiKey": created["apiKey"]}
        key_id, plaintext = str(uuid.uuid4()), "cr_" + secrets.token_hex(32)
        fields = {}
        if denied:
            fields |= {"enableModelRestriction": "true",
                       "restrictedModels": _json_list(denied)}
        if clients:
            fields |= {"enableClientRestriction": "true", "allowedClients": _json_list(clients)}
        if activation_days:
            fields |= {"expirationMode": "activation", "activationDays": str(activation_days),
                       "activationUnit": "days", "isActivated": "false", "expiresAt": ""}
        if group:
            fields["claudeConsoleAccountId"] = f"group:{group}"
        write_key(self.pipe, ENCRYPTION_KEY, key_id, plaintext, fields)
        return {"id": key_id, "apiKey": plaintext}

    def ready(self) -> None:
        if self.kind == "crs":
            self.pipe.execute()
            report = run_import(self.gateway.app, self.crs, ENCRYPTION_KEY,
                                phases=("keys", "accounts", "groups"))
            assert report.ok, "\n".join(report.lines())

    def _account_ids(self) -> dict[str, str]:
        listed = self.gateway.client.get("/api/accounts?limit=100", headers=self.gateway.admin)
        return {account["name"]: account["id"] for account in listed.json["data"]["accounts"]}


def _json_list(names) -> str:
    return "[" + ",".join(f'"{name}"' for name in names) + "]"


@pytest.fixture
def gateway(app, stub_upstream):
    for served in serve(app, stub_upstream):
        for tier in ("basic", "premium"):  # many requests per test: the plan must not refuse
            response = served.client.put(f"/api/plans/free/{tier}", headers=served.admin,
                                         json={"limit": 10_000, "period": "day"})
            assert response.status_code == 200, response.json
        yield served


@pytest.fixture(params=["api", "crs"])
def origin(request, gateway):
    if request.param == "api":
        yield Origin("api", gateway, None)
        return
    server = request.getfixturevalue("private_redis")
    client = redis.Redis(port=server.port, decode_responses=True)
    yield Origin("crs", gateway, client)
    client.close()


def messages(gateway, key: str, model: str = CLAUDE_UPSTREAM, *, headers=None, **body):
    return httpx.post(f"{gateway.url}/v1/messages", timeout=30,
                      headers={"x-api-key": key, "anthropic-version": "2023-06-01",
                               **(headers or {})},
                      json={"model": model, "max_tokens": 64, "messages": HELLO, **body})


def claude_code(gateway, key: str, model: str = CLAUDE_UPSTREAM, session: str = "s"):
    """A request in Claude Code's own shape."""
    return messages(gateway, key, model, headers={
        "User-Agent": CLAUDE_CODE_AGENT, "x-app": "cli",
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
        "x-session-id": session},
        system=CLAUDE_CODE_SYSTEM, metadata={"user_id": claude_code_user(session)})


def relay_route(gateway, key: str, route: str, model: str, prompt: str = "hello"):
    """A request on one of the /api/ai routes (the prompt names its session)."""
    return httpx.post(f"{gateway.url}/api/ai/{route}", params={"model": model}, timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"messages": [{"role": "user", "content": prompt}], "stream": False})


def key_view(gateway, key_id: str) -> dict:
    response = gateway.client.get(f"/api/keys/{key_id}", headers=gateway.admin)
    assert response.status_code == 200, response.json
    return response.json["data"]


def answered_by(gateway, since: int = 0) -> list[str]:
    return [entry["credential"] for entry in gateway.chats()[since:]]


def test_a_denied_model_is_refused_on_every_route_in_its_shape_and_never_listed(gateway,
                                                                              origin):
    origin.account("acct-claude")
    key = origin.key(denied=["claude-opus-4-1"])["apiKey"]
    origin.ready()

    refused = messages(gateway, key, OPUS_UPSTREAM)
    assert refused.status_code == 403
    assert refused.json()["type"] == "error" and "MODEL_NOT_ALLOWED" in refused.json()[
        "error"]["message"]
    counted = httpx.post(f"{gateway.url}/v1/messages/count_tokens", timeout=30,
                         headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
                         json={"model": OPUS_UPSTREAM, "messages": HELLO})
    assert counted.status_code == 403 and counted.json()["type"] == "error"
    completions = httpx.post(f"{gateway.url}/v1/chat/completions", timeout=30,
                             headers={"Authorization": f"Bearer {key}"},
                             json={"model": OPUS, "messages": HELLO})
    assert completions.status_code == 403
    assert completions.json()["error"]["code"] == "MODEL_NOT_ALLOWED"
    for route in ("chat", "chat-optimized", "chat-fast"):
        answer = relay_route(gateway, key, route, OPUS)
        assert answer.status_code == 403, (route, answer.text)
        assert answer.json()["error"]["code"] == "MODEL_NOT_ALLOWED"
    assert gateway.chats() == []  # nothing reached the upstream

    assert messages(gateway, key).status_code == 200  # another Claude model still answers
    anthropic_list = httpx.get(f"{gateway.url}/v1/models", timeout=30,
                               headers={"x-api-key": key, "anthropic-version": "2023-06-01"})
    openai_list = httpx.get(f"{gateway.url}/v1/models", timeout=30,
                            headers={"Authorization": f"Bearer {key}"})
    listed = {m["id"] for m in anthropic_list.json()["data"]}
    assert CLAUDE_UPSTREAM in listed and OPUS_UPSTREAM not in listed
    listed = {m["id"] for m in openai_list.json()["data"]}
    assert CLAUDE in listed and OPUS not in listed


def test_an_allow_list_admits_only_what_its_patterns_match(gateway):
    gateway.add_account("claude")
    key = gateway.new_key(allowedModels=["claude-sonnet-*"])["apiKey"]

    assert messages(gateway, key).status_code == 200
    assert messages(gateway, key, "claude-haiku-4-5").status_code == 403
    listed = httpx.get(f"{gateway.url}/v1/models", timeout=30,
                       headers={"Authorization": f"Bearer {key}"}).json()["data"]
    assert {m["id"] for m in listed} == {"claude/claude-sonnet-4", "claude/claude-sonnet-4-5"}


def test_activation_starts_at_the_first_request_and_concurrent_firsts_start_it_once(gateway,
                                                                                    origin):
    origin.account("acct-claude")
    key = origin.key(activation_days=2)
    origin.ready()
    before = key_view(gateway, key["id"])
    assert (before["activationDays"], before["activatedAt"], before["expiresAt"]) == (
        2, None, None)

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: messages(gateway, key["apiKey"]), range(6)))

    assert [answer.status_code for answer in answers] == [200] * 6, [a.text for a in answers]
    after = key_view(gateway, key["id"])
    activated = _moment(after["activatedAt"])
    assert _moment(after["expiresAt"]) - activated == timedelta(days=2)
    assert messages(gateway, key["apiKey"]).status_code == 200
    assert key_view(gateway, key["id"])["activatedAt"] == after["activatedAt"]  # set once


def _moment(text: str):
    from datetime import datetime
    return datetime.fromisoformat(text)


def test_a_claude_code_only_key_refuses_other_clients_and_admits_claude_codes_shape(gateway,
                                                                                   origin):
    origin.account("acct-claude")
    key = origin.key(clients=["claude_code"])["apiKey"]
    origin.ready()

    sdk = messages(gateway, key, headers={"User-Agent": "OpenAI/Python 1.99.0"})
    agent_only = messages(gateway, key, headers={"User-Agent": CLAUDE_CODE_AGENT})
    completions = httpx.post(f"{gateway.url}/v1/chat/completions", timeout=30,
                             headers={"Authorization": f"Bearer {key}",
                                      "User-Agent": "OpenAI/Python 1.99.0"},
                             json={"model": CLAUDE, "messages": HELLO})
    relayed = relay_route(gateway, key, "chat-fast", CLAUDE)

    assert sdk.status_code == agent_only.status_code == 403
    assert sdk.json()["type"] == "error" and "CLIENT_NOT_ALLOWED" in sdk.json()["error"][
        "message"]
    assert completions.status_code == 403
    assert completions.json()["error"]["code"] == "CLIENT_NOT_ALLOWED"
    assert relayed.status_code == 403 and relayed.json()["error"]["code"] == "CLIENT_NOT_ALLOWED"
    assert gateway.chats() == []
    assert claude_code(gateway, key).status_code == 200


def test_a_group_bound_key_uses_only_its_group_and_fails_over_only_within_it(gateway, origin):
    for credential in ("acct-g1", "acct-g2"):
        origin.account(credential, group=True)
    origin.account("acct-shared")
    origin.account("acct-dedicated", dedicated=True)
    origin.group("team-pool", ["acct-g1", "acct-g2"])
    bound = origin.key(group="team-pool")["apiKey"]
    unbound = origin.key()["apiKey"]
    origin.ready()

    for n in range(8):
        assert claude_code(gateway, bound, session=f"bound-{n}").status_code == 200
        assert relay_route(gateway, bound, "chat", CLAUDE, f"a{n}").status_code == 200
        assert relay_route(gateway, bound, "chat-fast", CLAUDE, f"b{n}").status_code == 200
    assert set(answered_by(gateway)) == {"acct-g1", "acct-g2"}

    since = len(gateway.chats())
    for n in range(8):
        assert claude_code(gateway, unbound, session=f"unbound-{n}").status_code == 200
        assert relay_route(gateway, unbound, "chat-optimized", CLAUDE,
                           f"c{n}").status_code == 200
    assert set(answered_by(gateway, since)) == {"acct-shared"}

    # Both group members refuse: the request fails rather than leave the group.
    gateway.stub.set_behaviour(credential="acct-g1", status=529, times=10)
    gateway.stub.set_behaviour(credential="acct-g2", status=529, times=10)
    since = len(gateway.chats())
    failed = claude_code(gateway, bound, session="bound-0")
    assert failed.status_code >= 500
    assert set(answered_by(gateway, since)) <= {"acct-g1", "acct-g2"}


def test_a_sticky_session_does_not_carry_a_newly_bound_key_outside_its_group(gateway, origin):
    origin.account("acct-g1", group=True)
    origin.account("acct-shared")
    origin.group("team-pool", ["acct-g1"])
    key = origin.key()
    origin.ready()
    assert claude_code(gateway, key["apiKey"], session="conversation").status_code == 200
    assert answered_by(gateway) == ["acct-shared"]

    rebound = gateway.client.patch(f"/api/keys/{key['id']}", headers=gateway.admin, json={
        "accountBindings": [{"groupId": origin.groups["team-pool"]}]})
    assert rebound.status_code == 200, rebound.json
    for _ in range(3):
        assert claude_code(gateway, key["apiKey"], session="conversation").status_code == 200

    assert answered_by(gateway, 1) == ["acct-g1"] * 3
