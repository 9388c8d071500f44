"""Fixtures that run the stub upstream, and build clients pointed at it, over real local HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.providers import ProviderClient, client_for, close_shared_http_clients
from scripts.stub_upstream import StubUpstream
from tests.providers.helpers import base_url_for


@pytest.fixture(autouse=True)
def fresh_connection_pools() -> Iterator[None]:
    # Pools would otherwise outlive a test's stub and leak their sockets into later tests.
    yield
    close_shared_http_clients()


@pytest.fixture
def make_client(stub_upstream: StubUpstream) -> Callable[..., ProviderClient]:
    """Build a client for a provider name, aimed at the stub, with a given credential."""

    def make(provider: str, api_key: str = "test-key", **account_fields: Any) -> ProviderClient:
        account_fields.setdefault("base_url", base_url_for(provider, stub_upstream))
        return client_for(provider, api_key=api_key, **account_fields)

    return make
