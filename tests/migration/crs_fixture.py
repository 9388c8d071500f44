"""Write a realistic claude-relay-service keyspace into Redis, the way its Node code would."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ENCRYPTION_KEY = "crs-fixture-encryption-key-32chr"
OFFSET_HOURS = 8
CREATED = "2026-10-01T08:00:00.000Z"
# Where the imported accounts' proxy and base URL point: loopback, on a port nothing listens on
# (the discard port), so a chat after an import fails fast here and sends nothing elsewhere.
CLOSED_HOST, CLOSED_PORT = "127.0.0.1", 9
CONSOLE_URL = f"http://{CLOSED_HOST}:{CLOSED_PORT}/v1"
# The account group the team key's Console binding names (`group:` + its id).
CONSOLE_GROUP = "7d0f6b2e-console-group"


def _aes_encrypt(key: bytes, iv: bytes, plaintext: str) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def node_encrypt(plaintext: str, encryption_key: str, salt: bytes) -> str:
    """crypto.scryptSync(key, salt, 32) + createCipheriv('aes-256-cbc'), as `hex(iv):hex(ct)`."""
    key = hashlib.scrypt(encryption_key.encode(), salt=salt, n=16384, r=8, p=1, dklen=32)
    iv = os.urandom(16)
    return f"{iv.hex()}:{_aes_encrypt(key, iv, plaintext).hex()}"


def node_legacy_encrypt(plaintext: str, encryption_key: str) -> str:
    """The removed crypto.createCipher('aes-256-cbc', key): EVP_BytesToKey(MD5), hex, no IV."""
    derived, block = b"", b""
    while len(derived) < 48:
        block = hashlib.md5(block + encryption_key.encode()).digest()
        derived += block
    return _aes_encrypt(derived[:32], derived[32:48], plaintext).hex()


def node_bedrock_encrypt(value: Any, encryption_key: str) -> dict[str, str]:
    iv = os.urandom(16)
    key = hashlib.sha256(encryption_key.encode()).digest()
    return {"encrypted": _aes_encrypt(key, iv, json.dumps(value)).hex(), "iv": iv.hex()}


def key_hash(plaintext: str, encryption_key: str) -> str:
    return hashlib.sha256((plaintext + encryption_key).encode()).hexdigest()


@dataclass(frozen=True)
class Request:
    """One relayed request, counted the way CRS's incrementTokenUsage counts it."""

    at: datetime
    key: str
    model: str
    input: int
    output: int
    cache_create: int = 0
    cache_read: int = 0
    real_cost: Decimal = Decimal(0)
    rated_cost: Decimal = Decimal(0)


@dataclass(frozen=True)
class Totals:
    requests: int = 0
    all_tokens: int = 0
    cost: Decimal = Decimal(0)
    real_cost: Decimal = Decimal(0)


@dataclass
class CrsFixture:
    encryption_key: str
    key_ids: dict[str, str] = field(default_factory=dict)  # label -> id
    plaintext_keys: dict[str, str] = field(default_factory=dict)  # label -> 'cr_...'
    account_ids: dict[str, str] = field(default_factory=dict)  # label -> id
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> name -> plain
    requests: list[Request] = field(default_factory=list)
    totals: dict[str, Totals] = field(default_factory=dict)  # key id -> expected totals


# Keys carrying each of CRS's spend and window limits (tests/migration/crs_limits.py runs the
# enforcement tests against them once imported). One answer of the stub costs 0.0000075 USD.
CRS_LIMITED_KEYS: dict[str, dict[str, str]] = {
    "total_capped": {"totalCostLimit": "1"},
    "weekly_capped": {"weeklyOpusCostLimit": "1", "weeklyResetDay": "3",
                      "weeklyResetHour": "9"},
    "cost_windowed": {"rateLimitWindow": "300", "rateLimitCost": "0.00002"},
    "request_windowed": {"rateLimitWindow": "60", "rateLimitRequests": "10"},
}


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _write_api_keys(r: Any, fx: CrsFixture, oauth_id: str) -> None:
    specs: dict[str, dict[str, str]] = {
        "team": {
            "permissions": '["openai","claude"]',
            "tags": '["team-a","prod"]',
            "tokenLimit": "1000000",
            "concurrencyLimit": "5",
            "rateLimitWindow": "60",
            "rateLimitRequests": "100",
            "rateLimitCost": "2.5",
            "dailyCostLimit": "10",
            "weeklyOpusCostLimit": "25.5",
            "claudeAccountId": oauth_id,
            "claudeConsoleAccountId": f"group:{CONSOLE_GROUP}",
            "openaiAccountId": "responses:resp-1",
            "enableModelRestriction": "true",
            "restrictedModels": '["claude-opus-4-1"]',
            "enableClientRestriction": "true",
            "allowedClients": '["claude_code"]',
            "serviceRates": '{"claude": 2}',
            "userId": "user-1",
            "userUsername": "alice",
            "lastUsedAt": "2026-11-22T21:40:00.000Z",
        },
        "legacy_all": {"permissions": "all", "tokenLimit": "", "rateLimitCost": ""},
        "legacy_comma": {"permissions": "claude,gemini"},
        "legacy_single": {"permissions": "gemini"},
        "deleted": {
            "isActive": "false",
            "isDeleted": "true",
            "deletedAt": "2026-11-21T00:00:00.000Z",
            "deletedBy": "admin",
            "deletedByType": "admin",
        },
        "expiring": {
            "permissions": '["openai"]',
            "expirationMode": "activation",
            "activationDays": "30",
            "activationUnit": "days",
            "isActivated": "true",
            "activatedAt": "2026-11-10T00:00:00.000Z",
            "expiresAt": "2026-12-10T00:00:00.000Z",
        },
        **CRS_LIMITED_KEYS,
    }
    pipe = r.pipeline(transaction=False)
    for index, (label, extra) in enumerate(specs.items()):
        key_id, plaintext = str(uuid.uuid4()), "cr_" + secrets.token_hex(32)
        fx.key_ids[label], fx.plaintext_keys[label] = key_id, plaintext
        hashed = key_hash(plaintext, fx.encryption_key)
        data = {
            "id": key_id,
            "name": f"{label} key",
            "description": f"the {label} key",
            "apiKey": hashed,
            "tokenLimit": "0",
            "concurrencyLimit": "0",
            "rateLimitWindow": "0",
            "rateLimitRequests": "0",
            "rateLimitCost": "0",
            "dailyCostLimit": "0",
            "totalCostLimit": "0",
            "weeklyOpusCostLimit": "0",
            "weeklyResetDay": "1",
            "weeklyResetHour": "0",
            "isActive": "true",
            "permissions": "[]",
            "tags": "[]",
            "enableModelRestriction": "false",
            "restrictedModels": "[]",
            "enableClientRestriction": "false",
            "allowedClients": "[]",
            "serviceRates": "{}",
            "expirationMode": "fixed",
            "isActivated": "true",
            "activatedAt": CREATED,
            "expiresAt": "",
            "createdAt": CREATED,
            "lastUsedAt": "",
            "updatedAt": CREATED,
            "createdBy": "admin",
            "userId": "",
            "userUsername": "",
            "icon": "",
            **{f: "" for f in ("claudeAccountId", "geminiAccountId", "bedrockAccountId")},
            **extra,
        }
        pipe.hset(f"apikey:{key_id}", mapping=data)
        pipe.expire(f"apikey:{key_id}", 365 * 86400)
        score = _ms(CREATED) + index
        pipe.zadd("apikey:idx:all", {key_id: score})
        pipe.zadd("apikey:idx:createdAt", {key_id: score})
        pipe.zadd("apikey:idx:name", {f"{data['name']}\x00{key_id}": 0})
        if label == "deleted":
            pipe.sadd("apikey:set:deleted", key_id)
        else:
            pipe.hset("apikey:hash_map", hashed, key_id)
            pipe.sadd("apikey:set:active", key_id)
        for tag in json.loads(data["tags"]):
            pipe.sadd(f"apikey:tag:{tag}", key_id)
            pipe.sadd("apikey:tags:all", tag)
    pipe.set("apikey:index:version", "2")
    pipe.execute()


def _write_accounts(r: Any, fx: CrsFixture) -> None:
    key = fx.encryption_key
    ids = {label: str(uuid.uuid4()) for label in ("oauth", "oauth_plain", "console", "gemini")}
    ids |= {"azure": "azure-" + secrets.token_hex(4), "bedrock": "bedrock-" + secrets.token_hex(4)}
    fx.account_ids = ids
    oauth_blob = {
        "accessToken": "sk-ant-oat01-issued-at-login",
        "refreshToken": "sk-ant-ort01-refresh-1",
        "expiresAt": 1795000000000,
        "scopes": ["user:inference", "user:profile"],
    }
    fx.secrets = {
        "oauth": {
            "email": "owner@example.com",
            "access_token": "sk-ant-oat01-refreshed-later",
            "refresh_token": "sk-ant-ort01-refresh-1",
            "claudeAiOauth": oauth_blob,
        },
        "oauth_plain": {
            "refresh_token": "plain-refresh-token-never-encrypted",
            "email": "old@x.io",
        },
        "console": {"api_key": "sk-ant-api03-console-secret"},
        "gemini": {"access_token": "ya29.gemini-access", "refresh_token": "1//gemini-refresh"},
        "azure": {"api_key": "azure-plaintext-key"},
        "bedrock": {"aws": {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "s3cr3t"}},
    }
    proxy = json.dumps({"type": "socks5", "host": CLOSED_HOST, "port": CLOSED_PORT,
                        "username": "u", "password": "p"})
    common = {"description": "", "isActive": "true", "createdAt": CREATED, "lastUsedAt": ""}
    salt = b"salt"
    pipe = r.pipeline(transaction=False)
    pipe.hset(
        f"claude:account:{ids['oauth']}",
        mapping=common
        | {
            "id": ids["oauth"],
            "name": "Claude Max 1",
            "email": node_encrypt("owner@example.com", key, salt),
            "password": "",
            "claudeAiOauth": node_encrypt(json.dumps(oauth_blob), key, salt),
            "accessToken": node_encrypt("sk-ant-oat01-refreshed-later", key, salt),
            "refreshToken": node_encrypt("sk-ant-ort01-refresh-1", key, salt),
            "expiresAt": "1795000000000",
            "scopes": "user:inference user:profile",
            "proxy": proxy,
            "accountType": "shared",
            "platform": "claude",
            "priority": "10",
            "status": "active",
            "errorMessage": "",
            "schedulable": "true",
            "rateLimitedAt": "2026-11-22T20:00:00.000Z",
            "rateLimitStatus": "limited",
            "rateLimitEndAt": "2026-11-23T01:00:00.000Z",
            "subscriptionExpiresAt": "2027-01-01T00:00:00.000Z",
        },
    )
    pipe.hset(
        f"claude:account:{ids['oauth_plain']}",
        mapping=common
        | {
            "id": ids["oauth_plain"],
            "name": "Claude (before encryption)",
            "email": node_legacy_encrypt("old@x.io", key),
            "refreshToken": "plain-refresh-token-never-encrypted",
            "accessToken": "",
            "accountType": "dedicated",
            "priority": "50",
            "status": "created",
            "schedulable": "true",
        },
    )
    pipe.hset(
        f"claude_console_account:{ids['console']}",
        mapping=common
        | {
            "id": ids["console"],
            "name": "Console relay",
            "apiUrl": CONSOLE_URL,
            "apiKey": node_encrypt("sk-ant-api03-console-secret", key, b"claude-console-salt"),
            "priority": "20",
            "supportedModels": "{}",
            "userAgent": "",
            "rateLimitDuration": "60",
            "proxy": "",
            "accountType": "dedicated",
            "status": "active",
            "schedulable": "false",
            "dailyQuota": "50",
            "dailyUsage": "3.25",
            "maxConcurrency": "4",
        },
    )
    gemini_oauth = {
        "access_token": "ya29.gemini-access",
        "refresh_token": "1//gemini-refresh",
        "expiry_date": 1795000000000,
        "scope": "https://www.googleapis.com/auth/cloud-platform",
    }
    gsalt = b"gemini-account-salt"
    pipe.hset(
        f"gemini_account:{ids['gemini']}",
        mapping=common
        | {
            "id": ids["gemini"],
            "name": "Gemini CLI",
            "geminiOauth": node_encrypt(json.dumps(gemini_oauth), key, gsalt),
            "accessToken": node_encrypt("ya29.gemini-access", key, gsalt),
            "refreshToken": node_encrypt("1//gemini-refresh", key, gsalt),
            "expiresAt": "2026-11-23T01:00:00.000Z",
            "projectId": "proj-1",
            "priority": "50",
            "status": "active",
            "schedulable": "true",
            "accountType": "shared",
        },
    )
    pipe.hset(
        f"azure_openai:account:{ids['azure']}",
        mapping=common
        | {
            "id": ids["azure"],
            "name": "Azure east",
            "azureEndpoint": "https://east.openai.azure.com",
            "apiKey": "azure-plaintext-key",
            "deploymentName": "gpt-4o",
            "priority": "30",
            "status": "active",
            "schedulable": "true",
        },
    )
    bedrock = {
        "id": ids["bedrock"],
        "name": "Bedrock us-east-1",
        "region": "us-east-1",
        "awsCredentials": node_bedrock_encrypt(fx.secrets["bedrock"]["aws"], key),
        "priority": 40,
        "schedulable": True,
        "isActive": True,
        "accountType": "shared",
        "createdAt": CREATED,
    }
    pipe.set(f"bedrock_account:{ids['bedrock']}", json.dumps(bedrock))
    for prefix, labels in {
        "claude:account:": ("oauth", "oauth_plain"),
        "claude_console_account:": ("console",),
        "gemini_account:": ("gemini",),
        "azure_openai:account:": ("azure",),
        "bedrock_account:": ("bedrock",),
    }.items():
        pipe.sadd(f"{prefix}index", *(ids[label] for label in labels))
    for prefix in ("openai:account:", "openai_responses_account:", "gemini_api_account:"):
        pipe.set(f"{prefix}index:empty", "1")
    write_group(pipe, CONSOLE_GROUP, "Console pool", "claude", [ids["console"]])
    pipe.execute()


def write_group(pipe: Any, group_id: str, name: str, platform: str, members: list[str]) -> None:
    """An account group as CRS's accountGroupService keeps it."""
    pipe.sadd("account_groups", group_id)
    pipe.hset(f"account_group:{group_id}", mapping={
        "id": group_id, "name": name, "platform": platform, "description": f"the {name}",
        "createdAt": CREATED, "updatedAt": CREATED})
    if members:
        pipe.sadd(f"account_group_members:{group_id}", *members)


def _record(pipe: Any, fx: CrsFixture, req: Request, offset_hours: float) -> None:
    key_id = fx.key_ids[req.key]
    local = req.at + timedelta(hours=offset_hours)
    date, month = local.strftime("%Y-%m-%d"), local.strftime("%Y-%m")
    hour = f"{date}:{local:%H}"
    core = req.input + req.output
    every = core + req.cache_create + req.cache_read
    period = {
        "inputTokens": req.input,
        "outputTokens": req.output,
        "cacheCreateTokens": req.cache_create,
        "cacheReadTokens": req.cache_read,
        "allTokens": every,
        "requests": 1,
    }
    costs = {}
    if req.real_cost > 0:
        costs = {
            "realCostMicro": int(req.real_cost * 1_000_000),
            "ratedCostMicro": int(req.rated_cost * 1_000_000),
        }
    totals = {f"total{k[0].upper()}{k[1:]}": v for k, v in period.items()} | {"totalTokens": core}
    for name, value in totals.items():
        pipe.hincrby(f"usage:{key_id}", name, value)
    for key, ttl in (
        (f"usage:daily:{key_id}:{date}", 32),
        (f"usage:monthly:{key_id}:{month}", 365),
        (f"usage:hourly:{key_id}:{hour}", 7),
    ):
        for name, value in (period | {"tokens": core}).items():
            pipe.hincrby(key, name, value)
        pipe.expire(key, ttl * 86400)
    for bucket_key in (
        f"model:daily:{req.model}:{date}",
        f"model:monthly:{req.model}:{month}",
        f"model:hourly:{req.model}:{hour}",
    ):
        for name, value in period.items():
            pipe.hincrby(f"usage:{bucket_key}", name, value)
            pipe.hincrby(f"usage:{key_id}:{bucket_key}", name, value)
        for name, value in costs.items():
            pipe.hincrby(f"usage:{key_id}:{bucket_key}", name, value)
    alltime = f"usage:{key_id}:model:alltime:{req.model}"
    for name, value in ({k: v for k, v in period.items() if k != "allTokens"} | costs).items():
        pipe.hincrby(alltime, name, value)
    pipe.sadd(f"usage:daily:index:{date}", key_id)
    pipe.sadd(f"usage:hourly:index:{hour}", key_id)
    pipe.sadd(f"usage:model:daily:index:{date}", req.model)
    pipe.sadd(f"usage:model:hourly:index:{hour}", req.model)
    pipe.sadd(f"usage:model:monthly:index:{month}", req.model)
    pipe.sadd("usage:model:monthly:months", month)
    pipe.sadd(f"usage:keymodel:daily:index:{date}", f"{key_id}:{req.model}")
    pipe.hincrby(f"usage:global:daily:{date}", "requests", 1)
    for name, amount in (
        (f"daily:{key_id}:{date}", req.rated_cost),
        (f"monthly:{key_id}:{month}", req.rated_cost),
        (f"hourly:{key_id}:{hour}", req.rated_cost),
        (f"total:{key_id}", req.rated_cost),
        (f"real:daily:{key_id}:{date}", req.real_cost),
        (f"real:total:{key_id}", req.real_cost),
    ):
        if amount > 0:
            pipe.incrbyfloat(f"usage:cost:{name}", float(amount))
    record = {"timestamp": req.at.isoformat(), "model": req.model, "cost": float(req.rated_cost)}
    pipe.lpush(f"usage:records:{key_id}", json.dumps(record))
    before = fx.totals.get(key_id, Totals())
    fx.totals[key_id] = Totals(
        before.requests + 1,
        before.all_tokens + every,
        before.cost + req.rated_cost,
        before.real_cost + req.real_cost,
    )


REQUESTS = [
    Request(datetime(2026, 11, 21, 3, 15, tzinfo=UTC), "team", "claude-sonnet-4:20250514",
            1000, 500, 200, 3000, Decimal("0.25"), Decimal("0.5")),
    # 21:06Z on 11-22 is 05:06 on 11-23 at UTC+8: the bucket crosses the UTC day.
    Request(datetime(2026, 11, 22, 21, 6, tzinfo=UTC), "team", "claude-sonnet-4:20250514",
            2000, 800, 0, 1000, Decimal("0.5"), Decimal(1)),
    Request(datetime(2026, 11, 22, 21, 40, tzinfo=UTC), "team", "claude-sonnet-4:20250514",
            100, 50, 0, 0, Decimal("0.0625"), Decimal("0.125")),
    Request(datetime(2026, 11, 22, 15, 59, tzinfo=UTC), "team", "us.anthropic.claude-3-5-sonnet:v1",
            300, 100, 0, 0, Decimal("0.125"), Decimal("0.25")),
    # 17:30Z on 11-30 is 01:30 on 12-01 locally: next day and next month.
    Request(datetime(2026, 11, 30, 17, 30, tzinfo=UTC), "legacy_comma", "gemini-2.5-pro",
            400, 300, 0, 0, Decimal("0.75"), Decimal("0.75")),
    Request(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), "expiring", "gpt-5:2025-08-07",
            500, 250, 0, 0, Decimal("0.375"), Decimal("0.375")),
    Request(datetime(2026, 11, 20, 8, 0, tzinfo=UTC), "deleted", "claude-3-5-haiku-20241022",
            50, 25, 0, 0, Decimal("0.03125"), Decimal("0.03125")),
    Request(datetime(2026, 11, 22, 1, 0, tzinfo=UTC), "legacy_single", "gemini-2.5-flash", 10, 5),
]  # fmt: skip


def _write_runtime_state(r: Any, fx: CrsFixture) -> None:
    team = fx.key_ids["team"]
    pipe = r.pipeline(transaction=False)
    pipe.zadd(f"concurrency:{team}", {"req-1": 1795000000000})
    pipe.set(f"rate_limit:requests:{team}", "3")
    pipe.set(f"rate_limit:window_start:{team}", "1795000000000")
    pipe.hset(
        f"session:{secrets.token_hex(32)}", mapping={"username": "admin", "loginTime": CREATED}
    )
    pipe.hset(
        "session:admin_credentials",
        mapping={
            "username": "admin",
            "passwordHash": "$2a$10$" + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
            "createdAt": CREATED,
            "lastLogin": "",
            "updatedAt": "",
        },
    )
    pipe.set(f"unified_claude_session_mapping:{secrets.token_hex(8)}", fx.account_ids["oauth"])
    pipe.set(f"temp_unavailable:claude:{fx.account_ids['console']}", "1")
    pipe.set(f"token_refresh_lock:claude:{fx.account_ids['oauth']}", "1")
    pipe.hset(f"oauth:{secrets.token_hex(8)}", mapping={"codeVerifier": "x", "state": "y"})
    pipe.execute()


def build_crs_store(
    r: Any, encryption_key: str = ENCRYPTION_KEY, offset_hours: float = OFFSET_HOURS
) -> CrsFixture:
    """Fill the database `r` is connected to; the caller owns flushing it."""
    fx = CrsFixture(encryption_key=encryption_key, requests=list(REQUESTS))
    _write_accounts(r, fx)
    _write_api_keys(r, fx, fx.account_ids["oauth"])
    pipe = r.pipeline(transaction=False)
    for req in fx.requests:
        _record(pipe, fx, req, offset_hours)
    pipe.execute()
    _write_runtime_state(r, fx)
    return fx


def write_key(pipe: Any, encryption_key: str, key_id: str, plaintext: str,
              fields: dict[str, str]) -> None:
    """One more active API key, with CRS's defaults under `fields`."""
    hashed = key_hash(plaintext, encryption_key)
    pipe.hset(f"apikey:{key_id}", mapping={
        "id": key_id, "name": f"key {key_id[:8]}", "description": "", "apiKey": hashed,
        "isActive": "true", "permissions": "[]", "tags": "[]", "expirationMode": "fixed",
        "isActivated": "true", "createdAt": CREATED, "updatedAt": CREATED, **fields})
    pipe.hset("apikey:hash_map", hashed, key_id)


def write_console_account(pipe: Any, encryption_key: str, account_id: str, api_url: str,
                          secret: str, account_type: str = "shared") -> None:
    """A Claude Console account (an API key on a relay URL) that CRS would schedule."""
    pipe.hset(f"claude_console_account:{account_id}", mapping={
        "id": account_id, "name": f"console {account_id}", "description": "",
        "apiUrl": api_url, "apiKey": node_encrypt(secret, encryption_key, b"claude-console-salt"),
        "priority": "50", "accountType": account_type, "status": "active",
        "schedulable": "true", "isActive": "true", "createdAt": CREATED, "proxy": ""})
    pipe.sadd("claude_console_account:index", account_id)
