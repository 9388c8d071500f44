"""Relaygate: the app factory, the one composition root."""

from __future__ import annotations

import logging
import socket
from types import SimpleNamespace

from flask import Flask

from app.api import init_api, input_guard
from app.cache import CacheStore, connect
from app.cli import register_commands
from app.clientaddr import TrustedProxies
from app.config import Settings, load_settings
from app.crypto import SecretBox
from app.db.engine import build_engine, build_session_factory
from app.db.migrations import schema_heads
from app.db.pool import pool_status
from app.db.types import utcnow
from app.db.uow import UnitOfWorkFactory
from app.jsonio import JSONProvider
from app.metrics import prom
from app.metrics.collector import Collector
from app.metrics.instrument import instrument_engine, instrument_requests
from app.metrics.sinks import DatabaseSink, RedisSink
from app.security import Passwords
from app.services.accounts.connectivity import AccountProbe
from app.services.accounts.leases import DatabaseLeases, LeaseManager
from app.services.accounts.oauth import TokenRefresher
from app.services.accounts.refresh_lock import RefreshLock
from app.services.accounts.scheduler import AccountScheduler
from app.services.accounts.service import AccountService
from app.services.accounts.sticky_sessions import StickySessions
from app.services.admins import AdminService
from app.services.alerts.service import AlertService
from app.services.alerts.webhooks import WebhookSender
from app.services.auth import AuthService
from app.services.catalogue.pricing import catalogue_pricing
from app.services.catalogue.service import ModelService
from app.services.chat.relay import ProtocolRelay
from app.services.chat.service import ChatService
from app.services.console.catalogue_page import CatalogueView
from app.services.console.dashboard import Dashboard
from app.services.console.operations_page import OperationsView
from app.services.health import HealthService
from app.services.keys.legacy_hashes import LegacyKeyHashes
from app.services.keys.limits import KeyLimits
from app.services.keys.portal_report import KeyReport
from app.services.keys.service import KeyService
from app.services.login_throttle import LoginThrottle, ThrottleRules
from app.services.monitoring import MonitoringService
from app.services.plans import PlanService
from app.services.quota.gate import QuotaGate
from app.services.quota.service import QuotaService
from app.services.secrets import SecretRotation
from app.services.sessions import SessionService
from app.services.slots import SlotLimiter
from app.services.storage.health_report import StorageHealthService
from app.services.storage.policy import StoragePolicy
from app.services.storage.service import StorageService
from app.services.transactions.service import TransactionService
from app.services.transactions.tables import ModelTable, PlanTable, ServiceTable, UserTable
from app.services.usage.ledger import UsageLedger
from app.services.usage.queue import UsageQueue
from app.services.usage.reported import UsageReports
from app.services.usage.service import UsageService
from app.services.usage.settlement import Settler
from app.services.usage.writer import UsageWriter
from app.services.users import UserService
from app.web import init_web

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
    cache = CacheStore(connect(settings.redis_url, socket_timeout=settings.redis_socket_timeout,
                               max_connections=settings.redis_max_connections),
                       settings.redis_prefix)
    common = {"uow": uow, "cache": cache, "retry_policy": settings.db_retry,
              "cache_ttl": settings.cache_ttl_seconds}
    passwords = Passwords(time_cost=settings.argon2_time_cost,
                          memory_kib=settings.argon2_memory_kib,
                          concurrency=settings.password_hash_concurrency,
                          wait_seconds=settings.password_hash_wait_seconds)
    legacy_keys = LegacyKeyHashes(
        box=SecretBox(settings.secret_key, settings.secret_key_previous), **common)
    keys = KeyService(legacy=legacy_keys, **common)
    sessions = SessionService(passwords=passwords, throttle=_login_throttle(settings, common),
                              default_ttl=settings.session_ttl_seconds,
                              max_lifetime=settings.session_max_lifetime_seconds, **common)
    auth = AuthService(keys=keys, sessions=sessions)
    models, users, plans = ModelService(**common), UserService(**common), PlanService(**common)
    usage = UsageService(timezone=settings.quota_timezone, pricing=catalogue_pricing(models),
                         retention_days=settings.usage_retention_days, **common)
    quota = QuotaService(models=models, users=users, plans=plans,
                         timezone=settings.quota_timezone,
                         reservation_ttl=settings.quota_reservation_ttl_seconds, **common)
    settler = Settler(usage=usage, quota=quota)
    app.extensions["relaygate"] = SimpleNamespace(
        settings=settings, engine=engine, cache=cache, uow=uow,
        trusted_proxies=TrustedProxies(settings.trusted_proxies),
        keys=keys, sessions=sessions, usage=usage,
        key_limits=KeyLimits(slots=SlotLimiter(**common), usage=usage,
                             lease_seconds=settings.account_lease_ttl_seconds),
        admins=AdminService(passwords=passwords, **common), auth=auth,
        models=models, users=users, plans=plans, quota=quota,
        quota_gate=QuotaGate(auth=auth, quota=quota),
        **_account_services(settings, common),
        **_operations(settings, engine, cache, common, usage, settler),
    )
    found = app.extensions["relaygate"]
    found.health = HealthService(uow=uow, cache=cache, schema_heads=schema_heads(),
                                 usage_queue_status=found.monitoring.usage_queue_status)
    found.chat = ChatService(
        auth=auth, keys=keys, models=models, quota=quota, key_limits=found.key_limits,
        scheduler=found.scheduler, accounts=found.accounts, settler=settler,
        usage_writer=found.usage_writer,
        sticky=StickySessions(ttl_seconds=settings.sticky_session_ttl_seconds, **common))
    found.relay = ProtocolRelay(chat=found.chat)
    found.usage_reports = UsageReports(usage=usage, writer=found.usage_writer, models=models,
                                       retention=usage.retention, **common)
    found.dashboard = Dashboard(usage=usage, keys=keys, accounts=found.accounts,
                                monitoring=found.monitoring, clock=utcnow)
    found.key_report = KeyReport(keys=keys, usage=usage, models=models, quota=quota,
                                 clock=utcnow)
    found.account_probe = AccountProbe(accounts=found.accounts, models=models)
    found.catalogue_view = CatalogueView(users=users, plans=plans, models=models)
    found.operations_view = OperationsView(storage_health=found.storage_health,
                                           storage=found.storage, alerts=found.alerts,
                                           usage_queue=found.usage_queue)
    transactions = app.extensions["relaygate"].transactions
    transactions.register("api_keys", ServiceTable(keys))
    transactions.register("accounts", ServiceTable(app.extensions["relaygate"].accounts))
    transactions.register("users", UserTable(users))
    transactions.register("models", ModelTable(models))
    transactions.register("plans", PlanTable(plans))
    init_api(app)
    init_web(app)
    instrument_requests(app, app.extensions["relaygate"].monitoring)
    input_guard.register(app, max_depth=settings.max_json_depth)
    register_commands(app)
    if settings.admin_username and settings.admin_password:
        _ensure_first_admin(app)
    return app


def _login_throttle(settings: Settings, common: dict) -> LoginThrottle:
    return LoginThrottle(rules=ThrottleRules(
        address_max_failures=settings.login_address_max_failures,
        address_window=settings.login_address_window_seconds,
        lockout=settings.login_lockout_seconds, max_lockout=settings.login_lockout_max_seconds,
        lockout_memory=settings.login_lockout_memory_seconds,
        user_free_failures=settings.login_user_free_failures,
        user_window=settings.login_user_window_seconds,
        user_delay=settings.login_user_delay_seconds,
        user_max_delay=settings.login_user_max_delay_seconds), **common)


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
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_read_timeout, **common),
        "token_refresher": refresher,
        "scheduler": AccountScheduler(
            leases=leases, refresher=refresher,
            rate_limit_default_seconds=settings.rate_limit_default_reset_seconds,
            cooldown_seconds=settings.account_cooldown_seconds,
            failure_threshold=settings.account_failure_threshold, **common),
        "secrets": SecretRotation(box=box, **common),
    }


def _operations(settings, engine, cache, common, usage, settler) -> dict:
    """Storage strategies, monitoring and the usage queue (the operations feature)."""
    uow = common["uow"]
    # Set before any service call: the read-through cache asks it on every call.
    cache.policy = StoragePolicy(uow=uow, cache=cache, default_ttl=settings.cache_ttl_seconds,
                                 interval=settings.strategy_poll_seconds)
    collector = Collector()
    instrument_engine(engine, collector, slow_query_ms=settings.slow_query_ms)
    queue = (UsageQueue(cache=cache, usage=usage, settler=settler,
                        ledger=UsageLedger(instance=socket.gethostname(), **common),
                        claim_idle_ms=settings.usage_claim_idle_ms,
                        replicas=_queue_replicas(settings),
                        # WAIT holds the connection: it must end before the socket times out.
                        replica_wait_ms=min(settings.usage_queue_replica_wait_ms,
                                            int(settings.redis_socket_timeout * 800)))
             if cache.enabled else None)
    monitoring = MonitoringService(
        collector=collector, sink=RedisSink(cache) if cache.enabled else DatabaseSink(uow),
        cache=cache, pool_status=lambda: pool_status(engine),
        flush_interval=settings.metrics_flush_seconds, slow_query_ms=settings.slow_query_ms,
        usage_queue=queue)
    sender = WebhookSender(allow_private=settings.allow_private_webhooks,
                           timeout=settings.webhook_timeout_seconds)
    return {
        "storage": StorageService(policy=cache.policy, redis_configured=cache.enabled, **common),
        "storage_health": StorageHealthService(uow=uow, redis_client=cache.client,
                                               pool_status=lambda: pool_status(engine),
                                               dialect=engine.dialect.name),
        "usage_queue": queue,
        "usage_writer": UsageWriter(usage=usage, settler=settler, queue=queue,
                                    policy=cache.policy, on_accepted=prom.usage_accepted,
                                    **common),
        "monitoring": monitoring,
        "transactions": TransactionService(
            dialect=engine.dialect.name,
            box=SecretBox(settings.secret_key, settings.secret_key_previous), **common),
        "alerts": AlertService(metrics=monitoring.performance_metrics, sender=sender,
                               secret_key=settings.secret_key, window=settings.alert_window,
                               max_attempts=settings.webhook_max_attempts, **common),
    }


def _queue_replicas(settings: Settings) -> int:
    """How many replicas must confirm a queued usage record: by default one behind Sentinel,
    whose failover promotes a replica, and none for a single server or a cluster."""
    if settings.usage_queue_replicas is not None:
        return settings.usage_queue_replicas
    return 1 if (settings.redis_url or "").startswith("redis+sentinel://") else 0


def _ensure_first_admin(app: Flask) -> None:
    services = app.extensions["relaygate"]
    settings = services.settings
    try:
        if services.admins.ensure_initial(settings.admin_username, settings.admin_password):
            log.warning("created the first admin %r from the environment", settings.admin_username)
    except Exception as error:  # the schema may not exist yet (before `alembic upgrade`)
        log.warning("could not create the first admin yet: %s", error)
