"""Builders for account tests: request bodies and the settings that aim refresh at the stub."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta


def oauth_body(provider: str = "claude", *, expires_in: float = 3600, **fields) -> dict:
    """A create body with an OAuth credential; tokens are unique per call."""
    tag = uuid.uuid4().hex
    expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
    body = {
        "name": f"acct-{tag[:6]}", "provider": provider,
        "oauthData": {"accessToken": f"at-plain-{tag}", "refreshToken": f"rt-plain-{tag}",
                      "scopes": ["user:inference"], "expiresAt": expires_at.isoformat()},
    }
    body.update(fields)
    return body


def api_key_body(provider: str = "openai", **fields) -> dict:
    tag = uuid.uuid4().hex
    body = {"name": f"acct-{tag[:6]}", "provider": provider, "apiKey": f"sk-plain-{tag}"}
    body.update(fields)
    return body


def stub_token_urls(stub) -> dict:
    """Settings overrides that send every provider's refresh grant to the stub."""
    url = f"{stub.url}/oauth/token"
    return {"oauth_token_url_claude": url, "oauth_token_url_openai": url,
            "oauth_token_url_gemini": url}


def stub_base_url(provider: str, stub) -> str:
    # OpenAI's base URL carries its API version; Anthropic's and Gemini's clients add theirs.
    return f"{stub.url}/v1" if provider == "openai" else stub.url


def to_service(body: dict) -> dict:
    """A create body as the service takes it (what the schema would have loaded)."""
    data = {"name": body["name"], "provider": body["provider"]}
    if "apiKey" in body:
        data["api_key"] = body["apiKey"]
    if "oauthData" in body:
        oauth = body["oauthData"]
        data["oauth_data"] = {"access_token": oauth["accessToken"],
                              "refresh_token": oauth["refreshToken"],
                              "scopes": oauth["scopes"],
                              "expires_at": datetime.fromisoformat(oauth["expiresAt"])}
    renames = {"baseUrl": "base_url", "maxConcurrency": "max_concurrency",
               "priority": "priority", "description": "description"}
    for wire, name in renames.items():
        if wire in body:
            data[name] = body[wire]
    if "proxyConfig" in body:
        data["proxy_config"] = body["proxyConfig"]
    return data


def quick_admin_headers(services) -> dict:
    """An admin session without argon2 (a hash costs ~0.4 s): the admin row has no usable
    password, and the session is created directly, as SessionService.create allows."""
    from app.db.models import Admin

    with services.uow() as uow:
        admin = uow.admins.add(Admin(username=f"admin-{uuid.uuid4().hex[:8]}",
                                     password_hash="!unusable", created_at=datetime.now(UTC)))
        uow.commit()
    token = services.sessions.create(user_id=admin.id, user_type="admin")["session_token"]
    return {"Authorization": f"Bearer {token}"}
