"""Fixtures the integration tests share."""

from __future__ import annotations

import pytest

from app import services_of
from tests.support.apps import make_app
from tests.support.http import ServerThread
from tests.support.servers import free_port


@pytest.fixture
def two_instances(postgres_url, redis_server_url, redis_prefix, tmp_path):
    """Two independently created apps on one database and one Redis, each on its own server."""
    apps = [make_app(tmp_path / name, postgres_url, redis_server_url, redis_prefix)
            for name in ("a", "b")]
    try:
        with ServerThread(apps[0], free_port()) as first, \
                ServerThread(apps[1], free_port()) as second:
            yield apps, [first.url, second.url]
    finally:
        for application in apps:
            services_of(application).engine.dispose()
