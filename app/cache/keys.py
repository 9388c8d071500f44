"""Every Redis key Relaygate writes, one method per pattern: the Redis schema.

All keys start with the deployment's prefix (`RELAYGATE_REDIS_PREFIX`, default `rg:`), shown
below as `<p>`. Names and value formats are a contract with running instances (a rolling
deploy reads the old ones): change one only with a new name. `{...}` is a Redis Cluster hash
tag: keys that one script or transaction touches together share it. Lua scripts are in
`scripts/` (lua.py); the stores that use each key are named in its method's docstring.
"""

from __future__ import annotations

import hashlib
from datetime import datetime


def slot_tag(ident: str) -> str:
    """`{ident}`: a value, its generation and its lock share one Redis Cluster hash slot, so
    the fill script and the invalidation touch one slot. An ident that is empty or holds a
    brace would end the tag early: it is hashed instead."""
    if not ident or "{" in ident or "}" in ident:
        ident = hashlib.sha256(ident.encode()).hexdigest()[:32]
    return "{" + ident + "}"


def period_stamp(start: datetime) -> str:
    """A quota period's start as it appears in counter keys: whole seconds since the epoch."""
    return str(int(start.timestamp()))


class RedisKeys:
    def __init__(self, prefix: str):
        self.prefix = prefix

    def join(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # The read-through cache (app/cache/__init__.py, store.py): `tagged` is slot_tag(ident).
    def cached_value(self, namespace: str, version: int, tagged: str) -> str:
        """`<p>c:<namespace>:v<version>:{ident}`, string: a service read's answer as JSON
        (codec.py). TTL: the namespace's (storage strategy or the service's cache TTL), with up
        to 10 % jitter. Written only by the fill script if the generation did not move. A new
        value format takes a new version (the key record is `apikey` v3, the session record
        `session` v2, both snake_case); an invalidation also deletes the older versions'
        entries, which instances not yet upgraded still read."""
        return self.join("c", namespace, f"v{version}", tagged)

    def cache_generation(self, namespace: str, tagged: str) -> str:
        """`<p>g:<namespace>:{ident}`, integer: raised by every invalidation, so a fill that
        raced one is dropped. TTL 7 days."""
        return self.join("g", namespace, tagged)

    def cache_fill_lock(self, namespace: str, tagged: str) -> str:
        """`<p>l:<namespace>:{ident}`, string "1": one process recomputes a missing value.
        TTL 2 s (SET NX PX); deleted by its holder."""
        return self.join("l", namespace, tagged)

    # Quota (counters.py, holds.py).
    def quota_counters(self) -> str:
        """`<p>q:`, the prefix of every quota counter (the probe script builds names on it)."""
        return self.join("q", "")

    def quota_counter(self, subject: str, model_type: str, period: str,
                      period_start: datetime) -> str:
        """`<p>q:<subject>:<modelType>:<day|month>:<period start, epoch s>`, hash: the database's
        count mirrored (`n` used, `v` its version, `r` the run id of the server that filled it),
        `p` units held not yet in the database, `h:<hold id>` each hold's expiry (ms), `s`/`g`
        the stale mark and its counter. TTL: the cache TTL, or twice a hold's lifetime.
        Written by QuotaService (mirror writes, holds) and the usage drain (settlements)."""
        return self.join("q", subject, model_type, period, period_stamp(period_start))

    # Per-key limits and account concurrency (slots.py).
    def slot_bucket(self, bucket: str) -> str:
        """`<p>slots:<rpm|concurrency>:<api key id>`, sorted set: member a slot id, score its
        expiry (ms, Redis's clock). TTL: at least the longest slot's (taken with a hold or with
        slot_acquire_all: up to twice it, renewed once a life). KeyLimits takes (or the quota hold's
        script, holds.py, with the hold) and releases."""
        return self.join("slots", bucket)

    def account_leases(self, account_id: str) -> str:
        """`<p>lease:account:<account id>`, sorted set as slot_bucket: one member per request
        holding one of the account's maxConcurrency slots. The scheduler's leases."""
        return self.join("lease", "account", account_id)

    # Per-key window limits (key_windows.py): `tagged` is slot_tag(api key id).
    def key_windows(self, tagged: str) -> list[str]:
        """`<p>kw:{key id}:log` (sorted set: stored uses by request id, score when used, ms),
        `<p>kw:{key id}:amounts` (hash: each use's tokens and cost, 1e-8 USD) and
        `<p>kw:{key id}:state` (hash: the holds in flight and when the log was filled). TTL:
        the longest window plus twice a hold's life. KeyWindows takes holds and charges uses."""
        return [self.join("kw", tagged, part) for part in ("log", "amounts", "state")]

    # Locks (locks.py).
    def oauth_refresh_lock(self, account_id: str) -> str:
        """`<p>lock:oauth-refresh:<account id>`, string: the refreshing worker's token.
        TTL: the refresh timeout + 5 s. TokenRefresher (RefreshLock)."""
        return self.join("lock", "oauth-refresh", account_id)

    def alert_evaluator_lock(self) -> str:
        """`<p>alerts:evaluator`, string: the token of the instance evaluating alerts, extended
        every tick. TTL: a few ticks. The alert scheduler."""
        return self.join("alerts", "evaluator")

    # Storage strategies (signals.py).
    def strategy_version(self) -> str:
        """`<p>strategy:version`, integer: raised by every storage-strategy switch, polled by
        every process (StoragePolicy). No TTL."""
        return self.join("strategy", "version")

    # Sessions and login (sticky.py, login_failures.py).
    def sticky_session(self, api_key_id: str, session_hash: str) -> str:
        """`<p>sticky:<api key id>:<session hash>`, string: the bound account's id. TTL: the
        sticky-session TTL, renewed on every read (GETEX). StickySessions."""
        return self.join("sticky", api_key_id, session_hash)

    def login_failures(self, subject: str) -> str:
        """`<p>login:<address:...|user:<sha256 of the username>>`, hash: failures,
        window_ends_ms, last_failure_ms, locked_until_ms, next_lockout_ms. TTL: the longest of
        the window, the lockout and the lockout memory. LoginThrottle."""
        return self.join("login", subject)

    # The usage queue (usage_stream.py).
    def usage_stream(self) -> str:
        """`<p>usage:stream`, stream (consumer group `usage-writers`): usage records waiting to
        be stored, fields `record` and optional `settle` (JSON). Entries are deleted once
        stored. UsageQueue appends, the drain-usage worker reads."""
        return self.join("usage", "stream")

    def usage_dead_letters(self) -> str:
        """`<p>usage:dead`, stream: records the database refused for good. No TTL."""
        return self.join("usage", "dead")

    def usage_drains(self) -> str:
        """`<p>usage:drains`, sorted set: each drain worker's name, scored by its last
        heartbeat (epoch s); beats older than a day are dropped."""
        return self.join("usage", "drains")

    # Metrics (metrics.py).
    def metrics_bucket(self, resolution: int, start: int) -> str:
        """`<p>m:<resolution s>:<bucket start, epoch s>`, hash: figure name -> sum across
        workers (`<gauge>.first`/`.last` for sampled ones). TTL: twice its time range."""
        return self.join("m", str(resolution), str(start))

    def query_stats(self, part: str) -> str:
        """`<p>qs:{stats}:<calls|total|max|last|text>`, hashes by statement fingerprint (text:
        the statement without literals). One hash slot; TTL 7 days. MonitoringService."""
        return self.join("qs", "{stats}", part)
