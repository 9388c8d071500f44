"""Every request body in the OpenAPI document has an example that succeeds when tried as Swagger
UI's "Try it out" sends it, against a fresh `relaygate demo` (seeded by app.demo.prepare).

The ids an example names (a user, an API key, a key's hash) are created first with those ids
(a Swagger UI user puts ids of their own there); path parameters are filled from objects
created for the operation, so updates and status changes touch nothing the demo relies on.
Admin operations are sent with the session of the admin the demo creates, the others with
the demo's API key.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import services_of
from app.db.models import User
from app.demo import DEMO_ADMIN, prepare
from app.main import demo as demo_command
from scripts.stub_upstream import StubUpstream
from tests.support.accounts import api_key_body, stub_base_url
from tests.support.apps import make_app

DEMO_PASSWORD = next(p.default for p in demo_command.params if p.name == "admin_password")
CLIENT_PROTOCOL_PATHS = {"/v1/chat/completions", "/v1/messages", "/v1/messages/count_tokens",
                         "/v1beta/models/{model}:generateContent",
                         "/v1beta/models/{model}:streamGenerateContent"}
API_KEY_SCHEMES = {"apiKeyBearer", "apiKeyHeader"}


@dataclass
class Demo:
    app: Flask
    client: FlaskClient
    stub: StubUpstream
    api_key: str
    admin: dict

    def post(self, path: str, body: dict) -> dict:
        response = self.client.post(path, json=body, headers=self.admin)
        assert response.status_code == 201, (path, response.json)
        return response.json["data"]


@pytest.fixture
def demo(tmp_path, sqlite_url):
    """The app in the state `relaygate demo` leaves it: the admin, stub accounts, the key."""
    app = make_app(tmp_path, sqlite_url)
    services = services_of(app)
    with StubUpstream() as stub:
        setup = prepare(services, stub_url=stub.url, admin_password=DEMO_PASSWORD,
                        key_file=tmp_path / "demo-api-key")
        client = app.test_client()
        login = client.post("/api/sessions/login",
                            json={"username": DEMO_ADMIN, "password": DEMO_PASSWORD})
        assert login.status_code == 200, login.json
        admin = {"Authorization": f"Bearer {login.json['data']['sessionToken']}"}
        yield Demo(app, client, stub, setup.api_key, admin)
    services.engine.dispose()


def body_operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [(method, path, operation) for path, item in spec["paths"].items()
            for method, operation in item.items()
            if isinstance(operation, dict) and "requestBody" in operation]


def example_of(operation: dict):
    """What Swagger UI fills the body with: the example, or the first of several."""
    media_type = operation["requestBody"]["content"]["application/json"]
    if "examples" in media_type:
        return next(iter(media_type["examples"].values()))["value"]
    return media_type.get("example")


def caller_headers(demo: Demo, operation: dict) -> dict:
    """The credential the operation's security names: an admin's session when it takes one
    (what Swagger UI's Authorize holds after /api/sessions/login), else the demo's API key."""
    schemes = {name for option in operation.get("security", []) for name in option}
    if "adminSession" in schemes or not schemes & API_KEY_SCHEMES:
        return demo.admin
    return {"Authorization": f"Bearer {demo.api_key}"}


# What an example's ids refer to, created with that id before the example is sent.
def _user(demo: Demo, user_id: str) -> None:
    with services_of(demo.app).uow() as uow:
        if uow.users.get(user_id) is None:
            uow.users.add(User(id=user_id, email=f"{user_id}@example.com"))
            uow.commit()


def _api_key(demo: Demo, key_id: str) -> None:
    if demo.client.get(f"/api/keys/{key_id}", headers=demo.admin).status_code == 404:
        demo.post("/api/keys", {"id": key_id, "name": "referenced-by-an-example"})


def _key_with_hash(demo: Demo, hashed_key: str) -> None:
    # No route takes a chosen hash (keys are generated), so the new key's hash is set after.
    key_id = demo.post("/api/keys", {"name": "hash-referenced-by-an-example"})["id"]
    with services_of(demo.app).uow() as uow:
        uow.api_keys.get(key_id).hashed_key = hashed_key
        uow.commit()


REFERENCES = {"userId": _user, "apiKeyId": _api_key, "hashedKey": _key_with_hash}


def create_references(demo: Demo, example) -> None:
    if isinstance(example, list):
        for item in example:
            create_references(demo, item)
    elif isinstance(example, dict):
        for name, value in example.items():
            if name in REFERENCES and isinstance(value, str):
                REFERENCES[name](demo, value)
            create_references(demo, value)


# Path parameters: an object made for the operation, or a value every instance has.
PATH_VALUES = {
    "key_id": lambda demo: demo.post("/api/keys", {"name": f"key-{uuid.uuid4().hex[:6]}"})["id"],
    "user_id": lambda demo: demo.post(
        "/api/users", {"email": f"user-{uuid.uuid4().hex[:8]}@example.com"})["id"],
    "account_id": lambda demo: demo.post(
        "/api/accounts", api_key_body(baseUrl=stub_base_url("openai", demo.stub)))["id"],
    "model_id": lambda demo: demo.post("/api/models", {
        "id": f"openai/example-{uuid.uuid4().hex[:6]}", "name": "Example", "provider": "openai",
        "modelType": "basic", "upstreamModel": "gpt-4o-mini"})["id"],
    "group_id": lambda demo: demo.post("/api/account-groups", {
        "name": f"group-{uuid.uuid4().hex[:6]}", "provider": "claude"})["id"],
    "transaction_id": lambda demo: demo.post("/api/admin/transactions", {})["transactionId"],
    "plan": lambda demo: "free",
    "model_type": lambda demo: "basic",
    "data_type": lambda demo: "usage",
    "model": lambda demo: "gemini-2.5-flash",  # the Gemini routes' (the demo has an account)
}


def fill_path(demo: Demo, path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda name: PATH_VALUES[name[1]](demo), path)


def required_query(operation: dict) -> dict:
    """The required query parameters, as Swagger UI fills them in: their examples."""
    return {parameter["name"]: parameter.get("example", parameter["schema"].get("example"))
            for parameter in operation.get("parameters", [])
            if parameter["in"] == "query" and parameter.get("required")}


def test_every_request_body_has_an_example_that_succeeds_on_a_fresh_demo(demo):
    spec = demo.client.get("/openapi.json").json
    operations = body_operations(spec)
    assert len(operations) >= 36
    assert {path for _, path, _ in operations} >= CLIENT_PROTOCOL_PATHS
    missing = [f"{method.upper()} {path}" for method, path, operation in operations
               if example_of(operation) is None]
    assert not missing, f"request bodies without an example: {missing}"

    failures = []
    for method, path, operation in operations:
        example = example_of(operation)
        create_references(demo, example)
        url = fill_path(demo, path)
        response = demo.client.open(url, method=method.upper(), json=example,
                                    query_string=required_query(operation),
                                    headers=caller_headers(demo, operation))
        answer = response.get_data(as_text=True)  # a stream is read to its end
        if not 200 <= response.status_code < 300:
            failures.append(f"{method.upper()} {url} -> {response.status_code}: {answer[:300]}")
    assert not failures, "\n".join(failures)
