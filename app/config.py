"""Settings read from the environment, in one place."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.clientaddr import TrustedProxies

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"


MIN_SECRET_BYTES = 32
# A worker's garbage collector once its app is loaded (app/collector.py): a young collection
# after 10,000 more allocations than frees, an older one every 10 of those, a full one every
# 10 of those (of what is not frozen). RELAYGATE_GC_THRESHOLD may name others.
GC_THRESHOLD = (10_000, 10, 10)


class ConfigError(RuntimeError):
    """The configuration cannot run the app; the message says what to set."""


@dataclass(frozen=True)
class RetryPolicy:
    """Section 6 of docs/design/data-access-layer.md: retries for transient database errors."""

    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 10.0


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    redis_url: str | None = None
    redis_prefix: str = "rg:"
    env: str = "development"
    secret_key: str = ""
    admin_username: str | None = None
    admin_password: str | None = None
    session_ttl_seconds: int = 24 * 3600
    session_max_lifetime_seconds: int = 30 * 24 * 3600
    cache_ttl_seconds: int = 300
    db_retry: RetryPolicy = field(default_factory=RetryPolicy)
    db_pool_size: int = 10
    db_pool_timeout: float = 5.0
    db_statement_timeout_ms: int = 30_000
    # PostgreSQL is reached through PgBouncer in transaction pooling mode (docs/deploy.md).
    db_pgbouncer: bool = False
    # psycopg prepares a statement on the server after this many runs on one connection (0:
    # at once); "off" (None) never. Unset: psycopg's 5 direct, off behind PgBouncer.
    db_prepare_threshold: int | None | str = "auto"
    redis_socket_timeout: float = 0.5
    # The garbage collector's thresholds in a worker once the app is loaded (app/collector.py);
    # None leaves Python's own.
    gc_threshold: tuple[int, int, int] | None = GC_THRESHOLD
    # Per process; above gunicorn's threads, so a thread waits for a connection only in a burst.
    redis_max_connections: int = 512
    quota_timezone: str = "UTC"
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    quota_reservation_ttl_seconds: int = 120
    key_window_hold_seconds: int = 600
    oauth_token_url_claude: str = "https://console.anthropic.com/v1/oauth/token"
    oauth_token_url_openai: str = "https://auth.openai.com/oauth/token"
    oauth_token_url_gemini: str = "https://oauth2.googleapis.com/token"
    # Public client ids of the providers' own CLIs, whose OAuth tokens accounts usually carry.
    oauth_client_id_claude: str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
    oauth_client_id_openai: str = "app_EMoamEEZ73f0CkXaXp7hrann"
    oauth_client_id_gemini: str = ""
    oauth_client_secret_gemini: str = ""
    oauth_refresh_margin_seconds: int = 300
    oauth_refresh_timeout: float = 30.0
    secret_key_previous: tuple[str, ...] = ()
    account_lease_ttl_seconds: int = 600
    account_cooldown_seconds: int = 30
    account_failure_threshold: int = 3
    rate_limit_default_reset_seconds: int = 60
    sticky_session_ttl_seconds: int = 3600
    strategy_poll_seconds: float = 0.25
    slow_query_ms: float = 200.0
    metrics_flush_seconds: float = 5.0
    metrics_token: str | None = None
    alert_window: str = "5m"
    alert_interval_seconds: float = 10.0
    allow_private_webhooks: bool = False
    webhook_timeout_seconds: float = 5.0
    webhook_max_attempts: int = 6
    usage_claim_idle_ms: int = 60_000
    # Replicas that must confirm a queued usage record (WAIT) before it counts as queued; None:
    # one behind Sentinel (a failover promotes a replica), none otherwise.
    usage_queue_replicas: int | None = None
    usage_queue_replica_wait_ms: int = 100
    # Where chat-optimized keeps its usage: "queued" for the drain as chat-fast's, or "stored"
    # before its answer ends (app/services/chat/modes.py).
    chat_optimized_usage: str = "queued"
    # Addresses (or CIDR networks) of reverse proxies whose X-Forwarded-For is believed.
    trusted_proxies: tuple[str, ...] = ()
    login_address_max_failures: int = 20
    login_address_window_seconds: int = 60
    login_lockout_seconds: int = 60
    login_lockout_max_seconds: int = 3600
    login_lockout_memory_seconds: int = 24 * 3600
    login_user_free_failures: int = 20
    login_user_window_seconds: int = 900
    login_user_delay_seconds: float = 1.0
    login_user_max_delay_seconds: float = 60.0
    password_hash_concurrency: int = 4
    password_hash_wait_seconds: float = 5.0
    # Raw usage events older than this are deleted by the cleanup; reported usage must be newer.
    usage_retention_days: int = 90
    # Upstream calls: connecting (proxy handshakes included) and the longest silence in an answer.
    upstream_connect_timeout: float = 10.0
    upstream_read_timeout: float = 600.0
    # Deeper JSON bodies are refused before any view parses them (400 INVALID_INPUT).
    max_json_depth: int = 64
    instance_dir: Path = INSTANCE_DIR

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _env_optional_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def _prepare_threshold(value: str | None) -> int | None | str:
    """RELAYGATE_DB_PREPARE_THRESHOLD: a count of runs, "off", or unset ("auto")."""
    if value is None or value.strip().lower() in ("", "auto"):
        return "auto"
    if value.strip().lower() in ("off", "none", "false", "no"):
        return None
    try:
        threshold = int(value)
    except ValueError:
        threshold = -1
    if threshold < 0:
        raise ConfigError("RELAYGATE_DB_PREPARE_THRESHOLD: a number of runs (0 or more), "
                          f"'off' or 'auto', not {value!r}")
    return threshold


def _gc_threshold(value: str | None) -> tuple[int, int, int] | None:
    """RELAYGATE_GC_THRESHOLD: `gen0,gen1,gen2` (gen0 at least 1), "python" for Python's own
    collector left as it is, or unset (GC_THRESHOLD)."""
    if value is None or not value.strip():
        return GC_THRESHOLD
    if value.strip().lower() == "python":
        return None
    parts = [part.strip() for part in value.split(",")]
    if len(parts) != 3 or not all(part.isdigit() for part in parts) or int(parts[0]) < 1:
        raise ConfigError("RELAYGATE_GC_THRESHOLD: three whole numbers gen0,gen1,gen2 (gen0 at "
                          f"least 1, e.g. 10000,10,10) or 'python', not {value!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if not value:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str) -> tuple[str, ...]:
    """A comma-separated setting as a tuple of its non-empty, stripped parts."""
    return tuple(part.strip() for part in os.environ.get(name, "").split(",") if part.strip())


@dataclass(frozen=True)
class ServerSettings:
    """What the gunicorn worker (app/serving) reads; the app itself never needs these."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_connections_per_address: int = 64
    trusted_proxies: tuple[str, ...] = ()


def load_server_settings() -> ServerSettings:
    """Read without the app's checks: the gunicorn master loads these before any app exists."""
    return ServerSettings(
        header_timeout=_env_float("RELAYGATE_HEADER_TIMEOUT", 10.0),
        body_timeout=_env_float("RELAYGATE_BODY_TIMEOUT", 60.0),
        max_connections_per_address=_env_int("RELAYGATE_MAX_CONNECTIONS_PER_ADDRESS", 64),
        trusted_proxies=env_list("RELAYGATE_TRUSTED_PROXIES"),
    )


def _resolve_database_url(url: str | None, instance_dir: Path) -> str:
    if not url:
        return f"sqlite:///{instance_dir / 'relaygate.db'}"
    if url.startswith(("postgres://", "postgresql://")):
        # psycopg 3 is the driver we ship; bare URLs would ask for psycopg2.
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _development_secret(instance_dir: Path) -> str:
    path = instance_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    log.warning("RELAYGATE_SECRET_KEY is not set; generated a development key in %s", path)
    return key


def load_settings(overrides: dict | None = None) -> Settings:
    """Build settings from the environment; `overrides` (tests) win over it."""
    overrides = dict(overrides or {})
    env = os.environ
    instance_dir = Path(overrides.pop("instance_dir", None) or env.get("RELAYGATE_INSTANCE_DIR")
                        or INSTANCE_DIR)
    settings = Settings(
        database_url=_resolve_database_url(env.get("DATABASE_URL"), instance_dir),
        redis_url=env.get("REDIS_URL") or None,
        redis_prefix=env.get("RELAYGATE_REDIS_PREFIX", "rg:"),
        env=env.get("RELAYGATE_ENV", "development"),
        secret_key=env.get("RELAYGATE_SECRET_KEY", ""),
        admin_username=env.get("RELAYGATE_ADMIN_USERNAME") or None,
        admin_password=env.get("RELAYGATE_ADMIN_PASSWORD") or None,
        session_ttl_seconds=_env_int("RELAYGATE_SESSION_TTL", 24 * 3600),
        session_max_lifetime_seconds=_env_int("RELAYGATE_SESSION_MAX_LIFETIME", 30 * 24 * 3600),
        cache_ttl_seconds=_env_int("RELAYGATE_CACHE_TTL", 300),
        db_retry=RetryPolicy(
            max_retries=_env_int("RELAYGATE_DB_MAX_RETRIES", 3),
            base_delay=_env_float("RELAYGATE_DB_RETRY_BASE_DELAY", 1.0),
            max_delay=_env_float("RELAYGATE_DB_RETRY_MAX_DELAY", 10.0),
        ),
        db_pool_size=_env_int("RELAYGATE_DB_POOL_SIZE", 10),
        db_pool_timeout=_env_float("RELAYGATE_DB_POOL_TIMEOUT", 5.0),
        db_statement_timeout_ms=_env_int("RELAYGATE_DB_STATEMENT_TIMEOUT_MS", 30_000),
        db_pgbouncer=_env_bool("RELAYGATE_DB_PGBOUNCER", False),
        db_prepare_threshold=_prepare_threshold(env.get("RELAYGATE_DB_PREPARE_THRESHOLD")),
        redis_socket_timeout=_env_float("RELAYGATE_REDIS_TIMEOUT", 0.5),
        gc_threshold=_gc_threshold(env.get("RELAYGATE_GC_THRESHOLD")),
        redis_max_connections=_env_int("RELAYGATE_REDIS_MAX_CONNECTIONS", 512),
        quota_timezone=env.get("RELAYGATE_QUOTA_TIMEZONE", "UTC"),
        argon2_time_cost=_env_int("RELAYGATE_ARGON2_TIME_COST", 3),
        argon2_memory_kib=_env_int("RELAYGATE_ARGON2_MEMORY_KIB", 65536),
        quota_reservation_ttl_seconds=_env_int("RELAYGATE_QUOTA_RESERVATION_TTL", 120),
        key_window_hold_seconds=_env_int("RELAYGATE_KEY_WINDOW_HOLD_SECONDS", 600),
        oauth_token_url_claude=env.get("RELAYGATE_OAUTH_TOKEN_URL_CLAUDE",
                                       Settings.oauth_token_url_claude),
        oauth_token_url_openai=env.get("RELAYGATE_OAUTH_TOKEN_URL_OPENAI",
                                       Settings.oauth_token_url_openai),
        oauth_token_url_gemini=env.get("RELAYGATE_OAUTH_TOKEN_URL_GEMINI",
                                       Settings.oauth_token_url_gemini),
        oauth_client_id_claude=env.get("RELAYGATE_OAUTH_CLIENT_ID_CLAUDE",
                                       Settings.oauth_client_id_claude),
        oauth_client_id_openai=env.get("RELAYGATE_OAUTH_CLIENT_ID_OPENAI",
                                       Settings.oauth_client_id_openai),
        oauth_client_id_gemini=env.get("RELAYGATE_OAUTH_CLIENT_ID_GEMINI", ""),
        oauth_client_secret_gemini=env.get("RELAYGATE_OAUTH_CLIENT_SECRET_GEMINI", ""),
        oauth_refresh_margin_seconds=_env_int("RELAYGATE_OAUTH_REFRESH_MARGIN", 300),
        oauth_refresh_timeout=_env_float("RELAYGATE_OAUTH_REFRESH_TIMEOUT", 30.0),
        secret_key_previous=tuple(
            part.strip() for part in env.get("RELAYGATE_SECRET_KEY_PREVIOUS", "").split(",")
            if part.strip()
        ),
        account_lease_ttl_seconds=_env_int("RELAYGATE_ACCOUNT_LEASE_TTL", 600),
        account_cooldown_seconds=_env_int("RELAYGATE_ACCOUNT_COOLDOWN", 30),
        account_failure_threshold=_env_int("RELAYGATE_ACCOUNT_FAILURE_THRESHOLD", 3),
        rate_limit_default_reset_seconds=_env_int("RELAYGATE_RATE_LIMIT_DEFAULT_RESET", 60),
        sticky_session_ttl_seconds=_env_int("RELAYGATE_STICKY_SESSION_TTL", 3600),
        strategy_poll_seconds=_env_float("RELAYGATE_STRATEGY_POLL_SECONDS", 0.25),
        slow_query_ms=_env_float("RELAYGATE_SLOW_QUERY_MS", 200.0),
        metrics_flush_seconds=_env_float("RELAYGATE_METRICS_FLUSH_SECONDS", 5.0),
        metrics_token=env.get("RELAYGATE_METRICS_TOKEN") or None,
        alert_window=env.get("RELAYGATE_ALERT_WINDOW", "5m"),
        alert_interval_seconds=_env_float("RELAYGATE_ALERT_INTERVAL", 10.0),
        allow_private_webhooks=_env_bool("RELAYGATE_ALLOW_PRIVATE_WEBHOOKS", False),
        webhook_timeout_seconds=_env_float("RELAYGATE_WEBHOOK_TIMEOUT", 5.0),
        webhook_max_attempts=_env_int("RELAYGATE_WEBHOOK_MAX_ATTEMPTS", 6),
        usage_claim_idle_ms=_env_int("RELAYGATE_USAGE_CLAIM_IDLE_MS", 60_000),
        usage_queue_replicas=_env_optional_int("RELAYGATE_USAGE_QUEUE_REPLICAS"),
        usage_queue_replica_wait_ms=_env_int("RELAYGATE_USAGE_QUEUE_REPLICA_WAIT_MS", 100),
        chat_optimized_usage=(env.get("RELAYGATE_CHAT_OPTIMIZED_USAGE", "").strip().lower()
                              or "queued"),
        trusted_proxies=env_list("RELAYGATE_TRUSTED_PROXIES"),
        login_address_max_failures=_env_int("RELAYGATE_LOGIN_ADDRESS_MAX_FAILURES", 20),
        login_address_window_seconds=_env_int("RELAYGATE_LOGIN_ADDRESS_WINDOW", 60),
        login_lockout_seconds=_env_int("RELAYGATE_LOGIN_LOCKOUT", 60),
        login_lockout_max_seconds=_env_int("RELAYGATE_LOGIN_LOCKOUT_MAX", 3600),
        login_lockout_memory_seconds=_env_int("RELAYGATE_LOGIN_LOCKOUT_MEMORY", 24 * 3600),
        login_user_free_failures=_env_int("RELAYGATE_LOGIN_USER_FREE_FAILURES", 20),
        login_user_window_seconds=_env_int("RELAYGATE_LOGIN_USER_WINDOW", 900),
        login_user_delay_seconds=_env_float("RELAYGATE_LOGIN_USER_DELAY", 1.0),
        login_user_max_delay_seconds=_env_float("RELAYGATE_LOGIN_USER_MAX_DELAY", 60.0),
        password_hash_concurrency=_env_int("RELAYGATE_PASSWORD_HASH_CONCURRENCY", 4),
        password_hash_wait_seconds=_env_float("RELAYGATE_PASSWORD_HASH_WAIT", 5.0),
        usage_retention_days=_env_int("RELAYGATE_USAGE_RETENTION_DAYS", 90),
        upstream_connect_timeout=_env_float("RELAYGATE_UPSTREAM_CONNECT_TIMEOUT", 10.0),
        upstream_read_timeout=_env_float("RELAYGATE_UPSTREAM_READ_TIMEOUT", 600.0),
        max_json_depth=_env_int("RELAYGATE_MAX_JSON_DEPTH", 64),
        instance_dir=instance_dir,
    )
    known = {f.name for f in fields(Settings)}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    if "database_url" in overrides:
        overrides["database_url"] = _resolve_database_url(overrides["database_url"], instance_dir)
    settings = replace(settings, **overrides)
    return _checked(settings)


def _checked(settings: Settings) -> Settings:
    if settings.env not in ("development", "production"):
        raise ConfigError("RELAYGATE_ENV must be 'development' or 'production'")
    if not settings.secret_key:
        if settings.is_production:
            raise ConfigError(
                "RELAYGATE_SECRET_KEY is not set. In production Relaygate needs a master secret "
                "to encrypt secrets at rest; set it to a long random string and keep it safe."
            )
        settings = replace(settings, secret_key=_development_secret(settings.instance_dir))
    if settings.is_production:
        _check_production(settings)
    if settings.is_sqlite:
        settings.instance_dir.mkdir(parents=True, exist_ok=True)
    if not 1 <= settings.usage_retention_days <= 36_500:
        raise ConfigError("RELAYGATE_USAGE_RETENTION_DAYS must be between 1 and 36500.")
    if settings.alert_window not in ("5m", "1h", "24h", "7d"):
        raise ConfigError("RELAYGATE_ALERT_WINDOW must be one of 5m, 1h, 24h, 7d.")
    if settings.chat_optimized_usage not in ("queued", "stored"):
        raise ConfigError("RELAYGATE_CHAT_OPTIMIZED_USAGE must be 'queued' or 'stored', not "
                          f"{settings.chat_optimized_usage!r}.")
    try:
        TrustedProxies(settings.trusted_proxies)
    except ValueError as error:
        raise ConfigError(f"RELAYGATE_TRUSTED_PROXIES: {error}") from error
    try:
        ZoneInfo(settings.quota_timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError("RELAYGATE_QUOTA_TIMEZONE must be an IANA time zone such as "
                          "'UTC' or 'Europe/Paris'.") from error
    return settings


def _check_production(settings: Settings) -> None:
    """What production must set: a strong master secret, and a token before /metrics."""
    if len(settings.secret_key.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"RELAYGATE_SECRET_KEY is shorter than {MIN_SECRET_BYTES} bytes. It seals every "
            "stored secret; set a long random string, e.g. `python3 -c \"import secrets; "
            "print(secrets.token_urlsafe(48))\"`.")
    if not settings.metrics_token:
        raise ConfigError(
            "RELAYGATE_METRICS_TOKEN is not set. In production /metrics answers only with "
            "`Authorization: Bearer <token>`; set it to a random string and give it to your "
            "Prometheus scraper.")
