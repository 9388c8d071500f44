"""The composition root without Flask: every service built once, in dependency order, from Settings.

`bootstrap(settings)` answers a frozen `Services`; `create_app` keeps it on the app, views reach
it through `app.api.deps.services()`, the CLI, scripts and tests through `services_of(app)` or by
calling `bootstrap` themselves. Nothing here connects at import time.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from app.cache import CacheStore, RedisConnection, connect
from app.cache.probe import RedisServer
from app.cache.signals import StrategySignal
from app.clientaddr import TrustedProxies
from app.config import Settings
from app.crypto import SecretBox
from app.db.engine import build_engine, build_session_factory
from app.db.migrations import schema_heads
from app.db.pool import pool_status
from app.db.types import utcnow
from app.db.uow import UnitOfWorkFactory
from app.metrics import prom
from app.metrics.collector import Collector
from app.metrics.instrument import instrument_engine
from app.metrics.sinks import DatabaseSink, RedisSink
from app.security import Passwords
from app.services.accounts.connectivity import AccountProbe
from app.services.accounts.groups import AccountGroupService
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
from app.services.base import ServiceDeps
from app.services.catalogue.pricing import catalogue_pricing
from app.services.catalogue.service import ModelService
from app.services.chat.modes import modes
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
from app.services.keys.windows import KeyWindows
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
from app.services.usage.group_store import GroupStore
from app.services.usage.ledger import UsageLedger
from app.services.usage.queue import UsageQueue
from app.services.usage.reported import UsageReports
from app.services.usage.service import UsageService
from app.services.usage.settlement import Settler
from app.services.usage.writer import UsageWriter
from app.services.users import UserService

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

# Where create_app keeps the Services on the Flask app.
EXTENSION = "relaygate"


@dataclass(frozen=True)
class Services:
    """Everything the gateway is made of, built once per process (per app in tests)."""

    settings: Settings
    engine: Engine
    uow: UnitOfWorkFactory
    cache: CacheStore
    trusted_proxies: TrustedProxies
    # Keys, sessions and who may call.
    keys: KeyService
    sessions: SessionService
    admins: AdminService
    auth: AuthService
    # The catalogue, users, plans and their quotas.
    models: ModelService
    users: UserService
    plans: PlanService
    quota: QuotaService
    quota_gate: QuotaGate
    key_limits: KeyLimits
    key_windows: KeyWindows
    # Usage and money.
    usage: UsageService
    usage_queue: UsageQueue | None  # None without Redis
    usage_writer: UsageWriter
    usage_reports: UsageReports
    # The upstream account pool.
    accounts: AccountService
    token_refresher: TokenRefresher
    scheduler: AccountScheduler
    secrets: SecretRotation
    account_probe: AccountProbe
    account_groups: AccountGroupService
    # Chat.
    chat: ChatService
    relay: ProtocolRelay
    # Operations.
    storage: StorageService
    storage_health: StorageHealthService
    monitoring: MonitoringService
    transactions: TransactionService
    alerts: AlertService
    health: HealthService
    # Read models for the console and the portal.
    dashboard: Dashboard
    key_report: KeyReport
    catalogue_view: CatalogueView
    operations_view: OperationsView


def bootstrap(settings: Settings) -> Services:
    """Build every service from `settings`, each after what it needs."""
    engine = build_engine(settings)
    # Behind PgBouncer the statement timeout is set per transaction (SET LOCAL): no autocommit.
    uow = UnitOfWorkFactory(build_session_factory(engine),
                            autocommit=not settings.db_pgbouncer)
    redis_connection = RedisConnection(
        connect(settings.redis_url, socket_timeout=settings.redis_socket_timeout,
                max_connections=settings.redis_max_connections), settings.redis_prefix)
    # The read-through cache asks the storage strategies on every call.
    policy = StoragePolicy(uow=uow, signal=StrategySignal(redis_connection),
                           default_ttl=settings.cache_ttl_seconds,
                           interval=settings.strategy_poll_seconds)
    cache = CacheStore(redis_connection, policy=policy)
    common: ServiceDeps = {"uow": uow, "cache": cache, "retry_policy": settings.db_retry,
                           "cache_ttl": settings.cache_ttl_seconds}
    box = SecretBox(settings.secret_key, settings.secret_key_previous)
    passwords = Passwords(time_cost=settings.argon2_time_cost,
                          memory_kib=settings.argon2_memory_kib,
                          concurrency=settings.password_hash_concurrency,
                          wait_seconds=settings.password_hash_wait_seconds)

    keys = KeyService(legacy=LegacyKeyHashes(box=box, **common), **common)
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
    key_windows = KeyWindows(hold_seconds=settings.key_window_hold_seconds, **common)
    settler = Settler(usage=usage, quota=quota, windows=key_windows)
    key_limits = KeyLimits(slots=SlotLimiter(**common), usage=usage,
                           lease_seconds=settings.account_lease_ttl_seconds)

    accounts = AccountService(
        box=box, rate_limit_default_seconds=settings.rate_limit_default_reset_seconds,
        connect_timeout=settings.upstream_connect_timeout,
        read_timeout=settings.upstream_read_timeout, **common)
    refresher = _token_refresher(settings, box, common)
    scheduler = AccountScheduler(
        leases=LeaseManager(
            cache=cache, ttl_seconds=settings.account_lease_ttl_seconds,
            database=DatabaseLeases(ttl_seconds=settings.account_lease_ttl_seconds, **common)),
        refresher=refresher,
        rate_limit_default_seconds=settings.rate_limit_default_reset_seconds,
        cooldown_seconds=settings.account_cooldown_seconds,
        failure_threshold=settings.account_failure_threshold, **common)

    collector = Collector()
    instrument_engine(engine, collector, slow_query_ms=settings.slow_query_ms)
    usage_queue = _usage_queue(settings, usage, settler, common) if cache.enabled else None
    monitoring = MonitoringService(
        collector=collector, sink=RedisSink(cache) if cache.enabled else DatabaseSink(uow),
        cache=cache, pool_status=lambda: pool_status(engine),
        flush_interval=settings.metrics_flush_seconds, slow_query_ms=settings.slow_query_ms,
        usage_queue=usage_queue)
    usage_writer = UsageWriter(usage=usage, settler=settler, queue=usage_queue, policy=policy,
                               on_accepted=prom.usage_accepted, **common)
    storage = StorageService(policy=policy, redis_configured=cache.enabled, **common)
    storage_health = StorageHealthService(uow=uow, redis=RedisServer(cache),
                                          pool_status=lambda: pool_status(engine),
                                          dialect=engine.dialect.name)
    alerts = AlertService(
        metrics=monitoring.performance_metrics,
        sender=WebhookSender(allow_private=settings.allow_private_webhooks,
                             timeout=settings.webhook_timeout_seconds),
        secret_key=settings.secret_key, window=settings.alert_window,
        max_attempts=settings.webhook_max_attempts, **common)

    account_groups = AccountGroupService(**common)
    chat = ChatService(
        auth=auth, keys=keys, models=models, quota=quota, key_limits=key_limits,
        scheduler=scheduler, accounts=accounts,
        group_store=GroupStore(settler), usage_writer=usage_writer, groups=account_groups,
        sticky=StickySessions(ttl_seconds=settings.sticky_session_ttl_seconds, **common),
        key_windows=key_windows,
        modes=modes(optimized_stores=settings.chat_optimized_usage == "stored"))
    return Services(
        settings=settings, engine=engine, uow=uow, cache=cache,
        trusted_proxies=TrustedProxies(settings.trusted_proxies),
        keys=keys, sessions=sessions, admins=AdminService(passwords=passwords, **common),
        auth=auth, models=models, users=users, plans=plans, quota=quota,
        quota_gate=QuotaGate(auth=auth, quota=quota), key_limits=key_limits,
        key_windows=key_windows,
        usage=usage, usage_queue=usage_queue, usage_writer=usage_writer,
        usage_reports=UsageReports(usage=usage, writer=usage_writer, models=models,
                                   retention=usage.retention, **common),
        accounts=accounts, token_refresher=refresher, scheduler=scheduler,
        secrets=SecretRotation(box=box, **common),
        account_probe=AccountProbe(accounts=accounts, models=models),
        account_groups=account_groups,
        chat=chat, relay=ProtocolRelay(chat=chat),
        storage=storage, storage_health=storage_health, monitoring=monitoring,
        transactions=TransactionService(
            dialect=engine.dialect.name, box=box,
            tables={"api_keys": ServiceTable(keys), "accounts": ServiceTable(accounts),
                    "users": UserTable(users), "models": ModelTable(models),
                    "plans": PlanTable(plans)},
            **common),
        alerts=alerts,
        health=HealthService(uow=uow, cache=cache, schema_heads=schema_heads(),
                             usage_queue_status=monitoring.usage_queue_status),
        dashboard=Dashboard(usage=usage, keys=keys, accounts=accounts, monitoring=monitoring,
                            clock=utcnow),
        key_report=KeyReport(keys=keys, usage=usage, models=models, quota=quota, clock=utcnow,
                             key_limits=key_limits, key_windows=key_windows),
        catalogue_view=CatalogueView(users=users, plans=plans, models=models),
        operations_view=OperationsView(storage_health=storage_health, storage=storage,
                                       alerts=alerts, usage_queue=usage_queue),
    )


def services_of(app: Flask) -> Services:
    """The Services that create_app built for `app` (for the CLI, scripts and tests)."""
    services = app.extensions[EXTENSION]
    if not isinstance(services, Services):
        raise TypeError(f"app.extensions[{EXTENSION!r}] is not Services: {services!r}")
    return services


def ensure_first_admin(services: Services) -> None:
    """Create the admin named in the settings when there is none yet (at start-up)."""
    settings = services.settings
    if not (settings.admin_username and settings.admin_password):
        return
    try:
        if services.admins.ensure_initial(settings.admin_username, settings.admin_password):
            log.warning("created the first admin %r from the environment", settings.admin_username)
    except Exception as error:  # the schema may not exist yet (before `alembic upgrade`)
        log.warning("could not create the first admin yet: %s", error)


def _login_throttle(settings: Settings, common: ServiceDeps) -> LoginThrottle:
    return LoginThrottle(rules=ThrottleRules(
        address_max_failures=settings.login_address_max_failures,
        address_window=settings.login_address_window_seconds,
        lockout=settings.login_lockout_seconds, max_lockout=settings.login_lockout_max_seconds,
        lockout_memory=settings.login_lockout_memory_seconds,
        user_free_failures=settings.login_user_free_failures,
        user_window=settings.login_user_window_seconds,
        user_delay=settings.login_user_delay_seconds,
        user_max_delay=settings.login_user_max_delay_seconds), **common)


def _token_refresher(settings: Settings, box: SecretBox, common: ServiceDeps) -> TokenRefresher:
    return TokenRefresher(
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


def _usage_queue(settings: Settings, usage: UsageService, settler: Settler,
                 common: ServiceDeps) -> UsageQueue:
    """The write-behind usage queue (Redis only)."""
    # How many replicas must confirm a queued usage record: by default one behind Sentinel,
    # whose failover promotes a replica, and none for a single server or a cluster.
    replicas = settings.usage_queue_replicas
    if replicas is None:
        replicas = 1 if (settings.redis_url or "").startswith("redis+sentinel://") else 0
    cache = common["cache"]
    assert cache is not None
    return UsageQueue(cache=cache, usage=usage, settler=settler,
                      ledger=UsageLedger(instance=socket.gethostname(), **common),
                      claim_idle_ms=settings.usage_claim_idle_ms, replicas=replicas,
                      # WAIT holds the connection: it must end before the socket times out.
                      replica_wait_ms=min(settings.usage_queue_replica_wait_ms,
                                          int(settings.redis_socket_timeout * 800)))
