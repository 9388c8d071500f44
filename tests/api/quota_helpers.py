"""Calls of the usage routes shared by the quota API tests."""

from __future__ import annotations

CHECK, UPDATE = "/api/usage/check", "/api/usage/update"


def check(client, headers, model="GPT-4o", **params):
    return client.get(CHECK, query_string={"model": model, **params}, headers=headers)


def update(client, headers, model="GPT-4o", **params):
    return client.post(UPDATE, query_string={"model": model, **params}, headers=headers)


def used(client, headers, model="GPT-4o", **params) -> int:
    """The count a check reports, whether it allows (200) or refuses (429)."""
    response = check(client, headers, model, **params)
    if response.status_code == 200:
        return response.json["data"]["usage"]["used"]
    return response.json["error"]["details"]["used"]
