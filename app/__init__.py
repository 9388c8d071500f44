"""Relaygate: the app factory, the one composition root."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from flask import Flask

from app.api import init_api
from app.cache import CacheStore, connect
from app.cli import register_commands
from app.config import load_settings
from app.db.engine import build_engine, build_session_factory
from app.db.migrations import schema_heads
from app.db.uow import UnitOfWorkFactory
from app.jsonio import JSONProvider
from app.services.admins import AdminService
from app.services.auth import AuthService
from app.services.health import HealthService
from app.services.keys import KeyService
from app.services.sessions import SessionService
from app.services.usage import UsageService

log = logging.getLogger(__name__)


def create_app(config: dict | None = None) -> Flask:
    """Build the app; `config` overrides settings read from the environment (tests)."""
    settings = load_settings(config)
    app = Flask(__name__, instance_path=str(settings.instance_dir))
    app.json = JSONProvider(app)
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["MAX_CONTENT_LENGTH"] = 10 * 1024 * 1024

    engine = build_engine(settings)
    uow = UnitOfWorkFactory(build_session_factory(engine))
    cache = CacheStore(connect(settings.redis_url, socket_timeout=settings.redis_socket_timeout),
                       settings.redis_prefix)
    common = {"uow": uow, "cache": cache, "retry_policy": settings.db_retry,
              "cache_ttl": settings.cache_ttl_seconds}
    keys = KeyService(**common)
    sessions = SessionService(default_ttl=settings.session_ttl_seconds, **common)
    app.extensions["relaygate"] = SimpleNamespace(
        settings=settings, engine=engine, cache=cache, uow=uow,
        keys=keys, sessions=sessions, usage=UsageService(pricing=None, **common),
        admins=AdminService(**common), auth=AuthService(keys=keys, sessions=sessions),
        health=HealthService(uow=uow, cache=cache, schema_heads=schema_heads()),
    )
    init_api(app)
    register_commands(app)
    if settings.admin_username and settings.admin_password:
        _ensure_first_admin(app)
    return app


def _ensure_first_admin(app: Flask) -> None:
    services = app.extensions["relaygate"]
    settings = services.settings
    try:
        if services.admins.ensure_initial(settings.admin_username, settings.admin_password):
            log.warning("created the first admin %r from the environment", settings.admin_username)
    except Exception as error:  # the schema may not exist yet (before `alembic upgrade`)
        log.warning("could not create the first admin yet: %s", error)
