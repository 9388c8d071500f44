"""Read a claude-relay-service Redis store into typed records, with SCAN and TYPE checks only."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple

from app.crs_import.crs_crypto import SALTS, CrsCipher, DecryptionFailed, WrongEncryptionKey

BUCKET_FORMATS = {"hourly": "%Y-%m-%d:%H", "daily": "%Y-%m-%d", "monthly": "%Y-%m"}


class _AccountType(NamedTuple):
    prefix: str
    provider: str
    secret_fields: tuple[str, ...]


ACCOUNT_TYPES: dict[str, _AccountType] = {
    "claude_oauth": _AccountType(
        "claude:account:",
        "claude",
        ("email", "password", "claudeAiOauth", "accessToken", "refreshToken"),
    ),
    "claude_console": _AccountType("claude_console_account:", "claude", ("apiKey",)),
    "gemini": _AccountType(
        "gemini_account:", "gemini", ("geminiOauth", "accessToken", "refreshToken")
    ),
    "gemini_api": _AccountType("gemini_api_account:", "gemini", ("apiKey",)),
    "openai": _AccountType(
        "openai:account:",
        "openai",
        ("idToken", "accessToken", "refreshToken", "openaiOauth", "email"),
    ),
    "openai_responses": _AccountType("openai_responses_account:", "openai", ("apiKey",)),
    "azure_openai": _AccountType("azure_openai:account:", "openai", ("apiKey",)),
    "bedrock": _AccountType("bedrock_account:", "claude", ("awsCredentials", "bearerToken")),
}
# Names after the prefix that are index sets, never account ids; ':' rules out markers.
_ACCOUNT_KEY = re.compile(
    "^(?P<prefix>" + "|".join(re.escape(t.prefix) for t in ACCOUNT_TYPES.values()) + ")"
    r"(?!index$)(?P<id>[^:]+)$"
)
_TYPE_BY_PREFIX = {spec.prefix: name for name, spec in ACCOUNT_TYPES.items()}
_API_KEY = re.compile(r"^apikey:(?!hash_map$)(?P<id>[^:]+)$")
_BINDINGS = {
    "claudeAccountId": "claude",
    "claudeConsoleAccountId": "claude_console",
    "geminiAccountId": "gemini",
    "openaiAccountId": "openai",
    "azureOpenaiAccountId": "azure_openai",
    "bedrockAccountId": "bedrock",
    "droidAccountId": "droid",
}

_BUCKET_RE = {
    "hourly": r"\d{4}-\d{2}-\d{2}:\d{2}",
    "daily": r"\d{4}-\d{2}-\d{2}",
    "monthly": r"\d{4}-\d{2}",
}
# Anchored at both ends so a model containing ':' (even a date) is taken whole from the right.
_USAGE_PATTERNS = [
    *(
        re.compile(rf"^usage:(?P<g>{g}):(?P<key>[^:]+):(?P<bucket>{b})$")
        for g, b in _BUCKET_RE.items()
    ),
    *(
        re.compile(rf"^usage:(?P<key>[^:]+):model:(?P<g>{g}):(?P<model>.+):(?P<bucket>{b})$")
        for g, b in _BUCKET_RE.items()
    ),
    re.compile(r"^usage:(?P<key>[^:]+):model:(?P<g>alltime):(?P<model>.+)$"),
    re.compile(r"^usage:(?P<key>[^:]+)$"),
]
_COST_PATTERNS = [
    *(
        re.compile(rf"^usage:cost:(?:(?P<real>real):)?(?P<g>{g}):(?P<key>[^:]+):(?P<bucket>{b})$")
        for g, b in _BUCKET_RE.items()
    ),
    re.compile(r"^usage:cost:(?:(?P<real>real):)?(?P<g>total):(?P<key>[^:]+)$"),
]
# Period hashes say `requests`/`inputTokens`; the all-time hash says `totalRequests`/...
_COUNTERS = ("requests", "inputTokens", "outputTokens", "cacheCreateTokens", "cacheReadTokens")


@dataclass(frozen=True, slots=True)
class CrsApiKey:
    """One `apikey:{id}` hash. Limits are None where CRS stores 0 or '' (both mean no limit)."""

    id: str
    name: str
    description: str
    key_hash: str  # sha256_hex(plaintext + ENCRYPTION_KEY); the plaintext is not recoverable
    permissions: list[str]  # sorted providers; [] means every provider
    token_limit: int | None
    concurrency_limit: int | None
    rate_limit_window_minutes: int | None
    rate_limit_requests: int | None
    rate_limit_cost: Decimal | None
    daily_cost_limit: Decimal | None
    total_cost_limit: Decimal | None
    weekly_opus_cost_limit: Decimal | None
    weekly_reset_day: int | None  # 1 Monday .. 7 Sunday
    weekly_reset_hour: int | None
    is_active: bool
    is_deleted: bool
    deleted_at: datetime | None
    deleted_by: str | None
    created_at: datetime | None
    last_used_at: datetime | None
    updated_at: datetime | None
    expires_at: datetime | None
    expiration_mode: str  # 'fixed' or 'activation' (the clock starts at first use)
    activation_days: int | None
    activation_unit: str | None
    is_activated: bool
    activated_at: datetime | None
    tags: list[str]
    user_id: str | None
    user_username: str | None
    created_by: str | None
    account_bindings: dict[str, str]  # our account type -> id as stored, maybe 'group:'-prefixed
    enable_model_restriction: bool
    restricted_models: list[str]  # a blacklist
    enable_client_restriction: bool
    allowed_clients: list[str]
    service_rates: dict[str, Any]
    raw: dict[str, str]


@dataclass(frozen=True, slots=True)
class CrsAccount:
    """One upstream account with its secrets decrypted; `raw` keeps the stored (encrypted) form."""

    id: str
    type: str  # a key of ACCOUNT_TYPES
    provider: str  # claude | gemini | openai
    name: str
    description: str
    status: str
    is_active: bool
    schedulable: bool
    priority: int  # 1-100, lower wins
    account_type: str  # shared | dedicated | group
    email: str | None
    password: str | None
    access_token: str | None
    refresh_token: str | None
    id_token: str | None
    scopes: list[str]
    token_expires_at: datetime | None
    subscription_expires_at: datetime | None
    api_key: str | None
    api_url: str | None
    aws_credentials: dict[str, Any] | None
    proxy: dict[str, Any] | None
    rate_limited_at: datetime | None
    rate_limit_status: str | None
    rate_limit_end_at: datetime | None
    max_concurrency: int | None
    daily_quota: Decimal | None
    created_at: datetime | None
    last_used_at: datetime | None
    decrypted_fields: list[str]  # fields that were encrypted and decrypted
    undecryptable: list[str]  # fields that looked encrypted but did not decrypt
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CrsAccountGroup:
    """`account_group:{id}` (hash: id, name, platform, description) and its members
    (`account_group_members:{id}`, a set of account ids of any of the platform's types)."""

    id: str
    name: str
    platform: str  # claude | gemini | openai | droid ...
    description: str
    member_ids: list[str]
    raw: dict[str, str]


@dataclass(frozen=True, slots=True)
class CrsUsageBucket:
    """A per-key (model None) or per-key+model counter hash for one period, or all time."""

    key_id: str
    model: str | None
    granularity: str  # hourly | daily | monthly | alltime
    bucket: str | None  # the source's LOCAL label: '2026-11-23:05', '2026-11-23', '2026-11'
    start_utc: datetime | None
    requests: int
    input_tokens: int
    output_tokens: int
    cache_create_tokens: int
    cache_read_tokens: int
    all_tokens: int
    real_cost_micro: int | None
    rated_cost_micro: int | None
    source_key: str


@dataclass(frozen=True, slots=True)
class CrsCost:
    """A `usage:cost:*` string in USD: rated (after multipliers) or real."""

    key_id: str
    kind: str  # rated | real
    granularity: str  # hourly | daily | monthly | total
    bucket: str | None
    start_utc: datetime | None
    usd: Decimal
    source_key: str


@dataclass(frozen=True, slots=True)
class CrsKeyTotals:
    key_id: str
    requests: int
    input_tokens: int
    output_tokens: int
    cache_create_tokens: int
    cache_read_tokens: int
    all_tokens: int
    cost_usd: Decimal
    real_cost_usd: Decimal


@dataclass(frozen=True, slots=True)
class CrsAdmin:
    username: str
    password_hash: str | None  # bcrypt, from session:admin_credentials
    password: str | None = None  # plaintext, only from data/init.json
    created_at: datetime | None = None
    source: str = "redis"


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _json(value: Any, default: Any) -> Any:
    if not isinstance(value, str):
        return default if value is None else value
    try:
        return json.loads(value) if value.strip() else default
    except ValueError:
        return default


def _bool(value: Any, default: bool = False) -> bool:
    return default if value in (None, "") else str(value).lower() == "true"


def _int(value: Any) -> int:
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, ValueError, OverflowError):
        return 0


def _limit(value: Any) -> int | None:
    return _int(value) or None


def _within(value: Any, low: int, high: int) -> int | None:
    """A number in [low, high] CRS stored (as text); None when missing or out of range."""
    if value is None or str(value).strip() == "":
        return None
    number = _int(value)
    return number if low <= number <= high else None


def _money(value: Any) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount > 0 else None


def _dt(value: Any) -> datetime | None:
    """ISO-8601 or epoch milliseconds to an aware UTC datetime; anything else to None."""
    text = str(value or "").strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _counters(raw: dict[str, Any],
              prefix: str = "") -> tuple[int, int, int, int, int, int]:
    """requests, input, output, cache create, cache read and all tokens of a counter hash."""
    name = (lambda c: prefix + c[0].upper() + c[1:]) if prefix else (lambda c: c)
    requests, inputs, outputs, creates, reads = (_int(raw.get(name(c))) for c in _COUNTERS)
    return (requests, inputs, outputs, creates, reads,
            _int(raw.get(name("allTokens"))) or inputs + outputs + creates + reads)


def _list(value: Any) -> list[str]:
    parsed = _json(value, None)
    if isinstance(parsed, list):
        return [str(item) for item in parsed]
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def normalise_permissions(value: str | None) -> list[str]:
    """Every CRS form (JSON array, 'all', one name, comma list) to sorted names; [] means all.

    Unknown names are kept rather than dropped, so a restriction is never widened to "all".
    """
    parsed = _json(value, None)
    items = [parsed] if isinstance(parsed, str) else _list(value)
    names = {item.strip().lower() for item in items} - {""}
    return [] if not names or "all" in names else sorted(names)


def bucket_start_utc(granularity: str, bucket: str, offset_hours: float) -> datetime:
    """Start of a LOCAL bucket in UTC: '2026-11-23' at +8 starts at 2026-11-22T16:00Z."""
    local = datetime.strptime(bucket, BUCKET_FORMATS[granularity])
    return local.replace(tzinfo=timezone(timedelta(hours=offset_hours))).astimezone(UTC)


def load_init_json(path: str | Path) -> CrsAdmin:
    """The source's `data/init.json`, which holds the admin password in plaintext."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return CrsAdmin(
        username=data["adminUsername"],
        password_hash=None,
        password=data.get("adminPassword"),
        created_at=_dt(data.get("initializedAt")),
        source="init.json",
    )


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _first_match(patterns: list[re.Pattern[str]], key: str) -> re.Match[str] | None:
    return next((m for p in patterns if (m := p.match(key))), None)


class CrsSource:
    """Walks a CRS store read-only: SCAN with MATCH, TYPE before every read, pipelined."""

    def __init__(
        self,
        redis_client: Any,
        encryption_key: str,
        timezone_offset_hours: float = 8,
        *,
        scan_count: int = 500,
    ) -> None:
        self._redis = redis_client
        self.encryption_key = encryption_key
        self._cipher = CrsCipher(encryption_key)
        self.offset_hours = timezone_offset_hours
        self._count = scan_count

    def _fetch(self, keys: list[str]) -> dict[str, Any]:
        """Read hashes and strings among `keys`; sets, zsets, lists and missing keys are left."""
        if not keys:
            return {}
        types_pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            types_pipe.type(key)
        read_pipe, kept = self._redis.pipeline(transaction=False), []
        for key, kind in zip(keys, types_pipe.execute(), strict=True):
            kind = _text(kind)
            if kind in ("hash", "string"):
                (read_pipe.hgetall if kind == "hash" else read_pipe.get)(key)
                kept.append(key)
        values = read_pipe.execute() if kept else []
        return {
            key: {_text(f): _text(v) for f, v in value.items()}
            if isinstance(value, dict)
            else _text(value)
            for key, value in zip(kept, values, strict=True)
            if value
        }

    def _scan(
        self, match: str, parse: Callable[[str], re.Match[str] | None], want: type
    ) -> Iterator[tuple[re.Match[str], str, Any]]:
        for chunk in _chunks(self._redis.scan_iter(match=match, count=self._count), self._count):
            parsed = {key: m for key in map(_text, chunk) if (m := parse(key))}
            for key, value in self._fetch(list(parsed)).items():
                if isinstance(value, want):
                    yield parsed[key], key, value

    def api_keys(self) -> Iterator[CrsApiKey]:
        for m, _, raw in self._scan("apikey:*", _API_KEY.match, dict):
            if "apiKey" in raw:
                yield self._api_key(m["id"], raw)

    def _api_key(self, key_id: str, raw: dict[str, str]) -> CrsApiKey:
        mode = raw.get("expirationMode") or "fixed"
        return CrsApiKey(
            id=raw.get("id") or key_id,
            name=raw.get("name", ""),
            description=raw.get("description", ""),
            key_hash=raw.get("apiKey", ""),
            permissions=normalise_permissions(raw.get("permissions")),
            token_limit=_limit(raw.get("tokenLimit")),
            concurrency_limit=_limit(raw.get("concurrencyLimit")),
            rate_limit_window_minutes=_limit(raw.get("rateLimitWindow")),
            rate_limit_requests=_limit(raw.get("rateLimitRequests")),
            rate_limit_cost=_money(raw.get("rateLimitCost")),
            daily_cost_limit=_money(raw.get("dailyCostLimit")),
            total_cost_limit=_money(raw.get("totalCostLimit")),
            weekly_opus_cost_limit=_money(raw.get("weeklyOpusCostLimit")),
            weekly_reset_day=_within(raw.get("weeklyResetDay"), 1, 7),
            weekly_reset_hour=_within(raw.get("weeklyResetHour"), 0, 23),
            is_active=_bool(raw.get("isActive")),
            is_deleted=_bool(raw.get("isDeleted")),
            deleted_at=_dt(raw.get("deletedAt")),
            deleted_by=raw.get("deletedBy") or None,
            created_at=_dt(raw.get("createdAt")),
            last_used_at=_dt(raw.get("lastUsedAt")),
            updated_at=_dt(raw.get("updatedAt")),
            expires_at=_dt(raw.get("expiresAt")),
            expiration_mode=mode,
            activation_days=_limit(raw.get("activationDays")),
            activation_unit=raw.get("activationUnit") or None,
            is_activated=_bool(raw.get("isActivated"), default=mode != "activation"),
            activated_at=_dt(raw.get("activatedAt")),
            tags=_list(raw.get("tags")),
            user_id=raw.get("userId") or None,
            user_username=raw.get("userUsername") or None,
            created_by=raw.get("createdBy") or None,
            account_bindings={ours: raw[f] for f, ours in _BINDINGS.items() if raw.get(f)},
            enable_model_restriction=_bool(raw.get("enableModelRestriction")),
            restricted_models=_list(raw.get("restrictedModels")),
            enable_client_restriction=_bool(raw.get("enableClientRestriction")),
            allowed_clients=_list(raw.get("allowedClients")),
            service_rates=_json(raw.get("serviceRates"), {}) or {},
            raw=raw,
        )

    def accounts(self) -> Iterator[CrsAccount]:
        for m, _, value in self._scan("*account:*", _ACCOUNT_KEY.match, object):
            kind = _TYPE_BY_PREFIX[m["prefix"]]
            raw = _json(value, None) if kind == "bedrock" else value
            if isinstance(raw, dict):
                yield self._account(kind, m["id"], raw)

    def _decrypt_secrets(self, kind: str, raw: dict[str, Any]) -> tuple[dict[str, Any], list, list]:
        secrets: dict[str, Any] = {}
        decrypted, failed = [], []
        for name in ACCOUNT_TYPES[kind].secret_fields:
            value = raw.get(name)
            try:
                if kind == "bedrock":
                    secrets[name] = self._cipher.decrypt_bedrock(value)
                else:
                    plain = self._cipher.decrypt(
                        value or "", SALTS[kind], legacy=kind == "claude_oauth"
                    )
                    secrets[name] = plain or None
            except DecryptionFailed:
                failed.append(name)
                continue
            if secrets[name] is not None and secrets[name] != value:
                decrypted.append(name)
        return secrets, decrypted, failed

    def _account(self, kind: str, account_id: str, raw: dict[str, Any]) -> CrsAccount:
        secrets, decrypted, failed = self._decrypt_secrets(kind, raw)
        oauth: dict[str, Any] = next(
            (
                _json(secrets.get(f), {})
                for f in ("claudeAiOauth", "geminiOauth", "openaiOauth")
                if secrets.get(f)
            ),
            {},
        )
        oauth = oauth if isinstance(oauth, dict) else {}

        # Refreshes rewrite the plain fields but not the OAuth JSON, so the fields win.
        def secret(name: str, *oauth_names: str) -> str | None:
            return secrets.get(name) or next((oauth[n] for n in oauth_names if oauth.get(n)), None)

        scopes = raw.get("scopes") or oauth.get("scopes") or oauth.get("scope") or []
        bearer = secrets.get("bearerToken")
        return CrsAccount(
            id=str(raw.get("id") or account_id),
            type=kind,
            provider=ACCOUNT_TYPES[kind].provider,
            name=str(raw.get("name", "")),
            description=str(raw.get("description", "")),
            status=str(raw.get("status") or "active"),
            is_active=_bool(raw.get("isActive"), default=True),
            schedulable=_bool(raw.get("schedulable"), default=True),
            priority=_int(raw.get("priority")) or 50,
            account_type=str(raw.get("accountType") or "shared"),
            email=secrets.get("email") or None,
            password=secrets.get("password") or None,
            access_token=secret("accessToken", "accessToken", "access_token"),
            refresh_token=secret("refreshToken", "refreshToken", "refresh_token"),
            id_token=secret("idToken", "idToken", "id_token"),
            scopes=scopes.split() if isinstance(scopes, str) else list(scopes),
            token_expires_at=_dt(
                raw.get("expiresAt") or oauth.get("expiresAt") or oauth.get("expiry_date")
            ),
            subscription_expires_at=_dt(raw.get("subscriptionExpiresAt")),
            api_key=secrets.get("apiKey") or (bearer if isinstance(bearer, str) else None),
            api_url=raw.get("apiUrl") or raw.get("baseUrl") or raw.get("azureEndpoint") or None,
            aws_credentials=secrets.get("awsCredentials") or None,
            proxy=_json(raw.get("proxy"), None) or None,
            rate_limited_at=_dt(raw.get("rateLimitedAt")),
            rate_limit_status=raw.get("rateLimitStatus") or None,
            rate_limit_end_at=_dt(raw.get("rateLimitEndAt")),
            max_concurrency=_limit(raw.get("maxConcurrency")),
            daily_quota=_money(raw.get("dailyQuota")),
            created_at=_dt(raw.get("createdAt")),
            last_used_at=_dt(raw.get("lastUsedAt")),
            decrypted_fields=decrypted,
            undecryptable=failed,
            raw=raw,
        )

    def _start(self, granularity: str, bucket: str | None) -> datetime | None:
        return bucket_start_utc(granularity, bucket, self.offset_hours) if bucket else None

    def usage_buckets(self) -> Iterator[CrsUsageBucket]:
        """Per-key and per-key+model counters; global per-model keys are derivable and skipped."""
        for m, key, raw in self._scan("usage:*", lambda k: _first_match(_USAGE_PATTERNS, k), dict):
            groups = m.groupdict()
            granularity = groups.get("g") or "alltime"
            prefix = "total" if granularity == "alltime" and not groups.get("model") else ""
            real, rated = raw.get("realCostMicro"), raw.get("ratedCostMicro")
            yield CrsUsageBucket(
                m["key"],
                groups.get("model"),
                granularity,
                groups.get("bucket"),
                self._start(granularity, groups.get("bucket")),
                *_counters(raw, prefix),
                None if real is None else _int(real),
                None if rated is None else _int(rated),
                key,
            )

    def costs(self) -> Iterator[CrsCost]:
        for m, key, value in self._scan(
            "usage:cost:*", lambda k: _first_match(_COST_PATTERNS, k), str
        ):
            try:
                usd = Decimal(value)
            except InvalidOperation:
                continue
            granularity, bucket = m["g"], m.groupdict().get("bucket")
            yield CrsCost(
                m["key"],
                "real" if m["real"] else "rated",
                granularity,
                bucket,
                self._start(granularity, bucket),
                usd,
                key,
            )

    def key_totals(self, key_ids: Iterable[str]) -> dict[str, CrsKeyTotals]:
        """The authoritative per-key totals for the verification report.

        Requests and tokens come from the all-time `usage:{keyId}` hash and cost from
        `usage:cost:total:{keyId}` (rated) and `usage:cost:real:total:{keyId}` (real). These
        counters never expire, whereas daily, hourly and monthly buckets are dropped after 32
        days, 7 days and a year, so summing buckets undercounts any key older than that.
        Tokens are `totalAllTokens` (input + output + cache), summed from the parts when an
        old store lacks it; `totalTokens` in the source excludes cache tokens.
        """
        totals = {}
        for key_id in key_ids:
            names = [
                f"usage:{key_id}",
                f"usage:cost:total:{key_id}",
                f"usage:cost:real:total:{key_id}",
            ]
            found = self._fetch(names)
            usage = found.get(names[0])
            if not isinstance(usage, dict):
                usage = {}
            totals[key_id] = CrsKeyTotals(
                key_id,
                *_counters(usage, "total"),
                _money(found.get(names[1])) or Decimal(0),
                _money(found.get(names[2])) or Decimal(0),
            )
        return totals

    def account_groups(self) -> Iterator[CrsAccountGroup]:
        """The groups listed in `account_groups`, each with its members (sorted)."""
        if _text(self._redis.type("account_groups")) != "set":
            return
        ids = sorted(_text(member) for member in self._redis.smembers("account_groups"))
        found = self._fetch([f"account_group:{group_id}" for group_id in ids])
        for group_id in ids:
            raw = found.get(f"account_group:{group_id}")
            if not isinstance(raw, dict):
                continue
            members_key = f"account_group_members:{group_id}"
            members = (sorted(_text(m) for m in self._redis.smembers(members_key))
                       if _text(self._redis.type(members_key)) == "set" else [])
            yield CrsAccountGroup(
                id=raw.get("id") or group_id, name=raw.get("name") or "",
                platform=(raw.get("platform") or "").lower(),
                description=raw.get("description") or "", member_ids=members, raw=raw)

    def admin_credentials(self) -> CrsAdmin | None:
        raw = self._fetch(["session:admin_credentials"]).get("session:admin_credentials")
        if not isinstance(raw, dict) or not raw.get("username"):
            return None
        return CrsAdmin(
            raw["username"], raw.get("passwordHash") or None, None, _dt(raw.get("createdAt"))
        )

    def counts(self) -> Counter[str]:
        """How many records of each kind the source holds, for the verification report."""
        counts: Counter[str] = Counter()
        for api_key in self.api_keys():
            counts["api_keys"] += 1
            counts["api_keys_deleted"] += api_key.is_deleted
        for account in self.accounts():
            counts[f"accounts:{account.type}"] += 1
        for bucket in self.usage_buckets():
            counts[f"usage:{'key_model' if bucket.model else 'key'}:{bucket.granularity}"] += 1
        for cost in self.costs():
            counts[f"cost:{cost.kind}:{cost.granularity}"] += 1
        return counts


def check_encryption_key(source: CrsSource, sample: int = 20) -> int:
    """Decrypt up to `sample` encrypted account values; call it before writing anything.

    Raises WrongEncryptionKey when values in the encrypted form exist and none of them
    decrypts. A few failures beside successes mean damaged rows, not a wrong key: those
    accounts carry the field names in `undecryptable`. Returns how many values decrypted
    (0 when the store holds nothing encrypted, so there was nothing to check).
    """
    decrypted, failed = 0, []
    for account in source.accounts():
        decrypted += len(account.decrypted_fields)
        failed += [f"{account.type} {account.id} {name}" for name in account.undecryptable]
        if decrypted + len(failed) >= sample:
            break
    if failed and not decrypted:
        raise WrongEncryptionKey(
            f"The CRS encryption key does not match the source: none of {len(failed)} encrypted "
            f"values decrypted (first: {failed[0]}). Pass the source's ENCRYPTION_KEY exactly."
        )
    return decrypted
