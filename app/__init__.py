"""Relaygate: the app factory, the one composition root."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from flask import Flask

from app.api import init_api
from app.cache import CacheStore, connect
from app.cli import register_commands
from app.config import Settings, load_settings
from app.crypto import SecretBox
from app.db.engine import build_engine, build_session_factory
from app.db.migrations import schema_heads
from app.db.uow import UnitOfWorkFactory
from app.jsonio import JSONProvider
from app.security import Passwords
from app.services.accounts import AccountService
from app.services.admins import AdminService
from app.services.auth import AuthService
from app.services.health import HealthService
from app.services.key_limits import KeyLimits
from app.services.keys import KeyService
from app.services.leases import DatabaseLeases, LeaseManager
from app.services.oauth import TokenRefresher
from app.services.refresh_lock import RefreshLock
from app.services.scheduler import AccountScheduler
from app.services.secrets import SecretRotation
from app.services.sessions import SessionService
from app.services.slots import SlotLimiter
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
    passwords = Passwords(time_cost=settings.argon2_time_cost,
                          memory_kib=settings.argon2_memory_kib)
    keys = KeyService(**common)
    sessions = SessionService(passwords=passwords, default_ttl=settings.session_ttl_seconds,
                              **common)
    usage = UsageService(timezone=settings.quota_timezone, **common)
    app.extensions["relaygate"] = SimpleNamespace(
        settings=settings, engine=engine, cache=cache, uow=uow,
        keys=keys, sessions=sessions, usage=usage,
        key_limits=KeyLimits(slots=SlotLimiter(**common), usage=usage,
                             lease_seconds=settings.account_lease_ttl_seconds),
        admins=AdminService(passwords=passwords, **common),
        auth=AuthService(keys=keys, sessions=sessions),
        health=HealthService(uow=uow, cache=cache, schema_heads=schema_heads()),
        **_account_services(settings, common),
    )
    init_api(app)
    register_commands(app)
    if settings.admin_username and settings.admin_password:
        _ensure_first_admin(app)
    return app


def _account_services(settings: Settings, common: dict) -> dict:
    """The upstream account pool: CRUD, token refresh, scheduling, secret rotation."""
    box = SecretBox(settings.secret_key, settings.secret_key_previous)
    refresher = TokenRefresher(
        box=box, lock=RefreshLock(ttl_seconds=settings.oauth_refresh_timeout + 5, **common),
        token_urls={"claude": settings.oauth_token_url_claude,
                    "openai": settings.oauth_token_url_openai,
                    "gemini": settings.oauth_token_url_gemini},
        client_ids={"claude": settings.oauth_client_id_claude,
                    "openai": settings.oauth_client_id_openai,
                    "gemini": settings.oauth_client_id_gemini},
        client_secrets={"gemini": settings.oauth_client_secret_gemini},
        margin_seconds=settings.oauth_refresh_margin_seconds,
        timeout=settings.oauth_refresh_timeout, **common)
    leases = LeaseManager(
        cache=common["cache"], ttl_seconds=settings.account_lease_ttl_seconds,
        database=DatabaseLeases(ttl_seconds=settings.account_lease_ttl_seconds, **common))
    return {
        "accounts": AccountService(
            box=box, rate_limit_default_seconds=settings.rate_limit_default_reset_seconds,
            **common),
        "token_refresher": refresher,
        "scheduler": AccountScheduler(
            leases=leases, refresher=refresher,
            rate_limit_default_seconds=settings.rate_limit_default_reset_seconds,
            cooldown_seconds=settings.account_cooldown_seconds,
            failure_threshold=settings.account_failure_threshold, **common),
        "secrets": SecretRotation(box=box, **common),
    }


def _ensure_first_admin(app: Flask) -> None:
    services = app.extensions["relaygate"]
    settings = services.settings
    try:
        if services.admins.ensure_initial(settings.admin_username, settings.admin_password):
            log.warning("created the first admin %r from the environment", settings.admin_username)
    except Exception as error:  # the schema may not exist yet (before `alembic upgrade`)
        log.warning("could not create the first admin yet: %s", error)
