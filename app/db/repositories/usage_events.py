"""Raw usage events, the request ids that make them idempotent, and their monthly partitions."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import delete, func, insert, select, text, tuple_

from app import timebuckets
from app.db.models import UsageEvent, UsageRequestId
from app.db.repositories.arrays import arrays, insert_rows
from app.db.repositories.base import Repository
from app.db.repositories.upsert import insert_for

PARTITION_NAME = re.compile(r"^usage_events_(\d{4})_(\d{2})$")
# One advisory lock id for "changing the partitions of usage_events" (arbitrary, fixed).
_PARTITION_LOCK = 7_310_004
# A partition drop waits at most this long for its lock, so inserts never queue behind it for
# longer; on a timeout the service retries.
_DDL_LOCK_TIMEOUT = "50ms"


_CLAIM_COLUMNS = [("source", "varchar"), ("api_key_id", "varchar"), ("request_id", "varchar"),
                  ("occurred_at", "timestamptz"), ("recorded_at", "timestamptz")]
_CLAIM = insert_rows("usage_request_ids", _CLAIM_COLUMNS,
                     "ON CONFLICT (source, api_key_id, request_id) DO NOTHING "
                     "RETURNING source, api_key_id, request_id")
# A usage event's columns and their PostgreSQL types (also the drain's batch statement's).
EVENT_COLUMNS = [
    ("api_key_id", "varchar"), ("account_id", "varchar"), ("account_type", "varchar"),
    ("model", "varchar"), ("input_tokens", "bigint"), ("output_tokens", "bigint"),
    ("cache_write_tokens", "bigint"), ("cache_read_tokens", "bigint"),
    ("total_tokens", "bigint"), ("cost", "numeric"), ("request_count", "integer"),
    ("request_id", "varchar"), ("occurred_at", "timestamptz"), ("recorded_at", "timestamptz"),
    ("source", "varchar"), ("estimated", "boolean")]
_ADD_EVENTS = insert_rows("usage_events", EVENT_COLUMNS)


def partition_name(month: datetime) -> str:
    # Not strftime's %Y: it writes year 999 as '999', a name the cleanup would not recognise.
    return f"usage_events_{month.year:04d}_{month.month:02d}"


class UsageEventRepository(Repository[UsageEvent]):
    model = UsageEvent

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def cost_since(self, api_key_id: str, since: datetime) -> Decimal:
        # SUM keeps the column's Money type, so the result comes back an exact Decimal.
        total = self.session.scalar(
            select(func.sum(UsageEvent.cost))
            .where(UsageEvent.api_key_id == api_key_id, UsageEvent.occurred_at >= since))
        return total if total is not None else Decimal(0)

    def cost_by_model_since(self, api_key_id: str, since: datetime) -> dict[str, Decimal]:
        rows = self.session.execute(
            select(UsageEvent.model, func.sum(UsageEvent.cost))
            .where(UsageEvent.api_key_id == api_key_id, UsageEvent.occurred_at >= since)
            .group_by(UsageEvent.model))
        return {model: cost for model, cost in rows if cost is not None}

    def window_entries(self, api_key_id: str, since: datetime) -> list[tuple]:
        """(entry id, occurred at, total tokens, cost) of the key's events after `since`,
        oldest first; the entry id is the request id (what a settlement charges under)."""
        rows = self.session.execute(
            select(UsageEvent.id, UsageEvent.request_id, UsageEvent.occurred_at,
                   UsageEvent.total_tokens, UsageEvent.cost)
            .where(UsageEvent.api_key_id == api_key_id, UsageEvent.occurred_at > since)
            .order_by(UsageEvent.occurred_at))
        return [(request_id or f"e:{event_id}", at, tokens, cost)
                for event_id, request_id, at, tokens, cost in rows]

    def list_for_key(self, api_key_id: str, limit: int = 100) -> list[UsageEvent]:
        query = (
            select(UsageEvent)
            .where(UsageEvent.api_key_id == api_key_id)
            .order_by(UsageEvent.occurred_at.desc())
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def claim_request_id(self, request_id: str, *, source: str, api_key_id: str,
                         occurred_at: datetime, recorded_at: datetime) -> bool:
        """Remember a request id of one source and key; False when it was already recorded.

        A concurrent claim of the same id waits for the first to commit, then finds it taken.
        """
        statement = insert_for(self.session, UsageRequestId).values(
            source=source, api_key_id=api_key_id, request_id=request_id,
            occurred_at=occurred_at, recorded_at=recorded_at,
        ).on_conflict_do_nothing(index_elements=["source", "api_key_id", "request_id"])
        return self.session.scalar(statement.returning(UsageRequestId.request_id)) is not None

    def claim_request_ids(self, claims: list[dict]) -> set[tuple[str, str, str]]:
        """`claim_request_id` for many ids in one statement (each a dict of source,
        api_key_id, request_id, occurred_at, recorded_at; no id twice): the (source, api key
        id, request id) of those claimed now."""
        if not claims:
            return set()
        if self._dialect == "postgresql":
            found = self.session.execute(_CLAIM, arrays(claims, _CLAIM_COLUMNS))
            return {cast(tuple[str, str, str], tuple(row)) for row in found}
        statement = insert_for(self.session, UsageRequestId).on_conflict_do_nothing(
            index_elements=["source", "api_key_id", "request_id"])
        columns = (UsageRequestId.source, UsageRequestId.api_key_id, UsageRequestId.request_id)
        # Many parameter sets with RETURNING: SQLAlchemy sends one multi-row INSERT built from
        # the cached one-row statement ("insertmanyvalues").
        return {(source, api_key_id, request_id) for source, api_key_id, request_id
                in self.session.execute(statement.returning(*columns), claims)}

    def add_many(self, events: list[dict]) -> None:
        """Insert events (column values by name, all with the same columns) in one statement."""
        if not events:
            return
        if self._dialect == "postgresql":
            self.session.execute(_ADD_EVENTS, arrays(events, EVENT_COLUMNS))
        else:
            # RETURNING makes it one multi-row INSERT from a cached statement (see above).
            self.session.execute(insert(UsageEvent).returning(UsageEvent.id), events)

    def count(self) -> int:
        if self._dialect == "postgresql":
            # Counting millions of rows in parallel would take every core from the recorders.
            self.session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        return self.session.execute(select(func.count()).select_from(UsageEvent)).scalar_one()

    # Partitions (PostgreSQL only; elsewhere the table is a plain table and these do nothing).

    @property
    def partitioned(self) -> bool:
        return self._dialect == "postgresql"

    def ensure_partition(self, month: datetime) -> bool:
        """Create the partition of the UTC month starting at `month` unless it exists.

        CREATE ... LIKE then ATTACH takes a lighter lock on the parent than CREATE ... PARTITION
        OF, so inserts into other months go on meanwhile. True when it was created.
        """
        if not self.partitioned:
            return False
        name = partition_name(month)
        self.session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PARTITION_LOCK})
        if self.session.scalar(text("SELECT to_regclass(:name)"), {"name": name}) is not None:
            return False
        upper = timebuckets.next_start(month, "month", UTC)
        self.session.execute(text(
            f'CREATE TABLE "{name}" (LIKE usage_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
        ))
        self.session.execute(text(
            f'ALTER TABLE usage_events ATTACH PARTITION "{name}" '
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{upper.isoformat()}')"
        ))
        return True

    def partitions(self) -> list[tuple[str, datetime]]:
        """(name, first instant) of every monthly partition, oldest first."""
        if not self.partitioned:
            return []
        names = self.session.scalars(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'usage_events'::regclass"
        ))
        found: list[tuple[str, datetime]] = []
        for name in names:
            match = PARTITION_NAME.match(name)
            if match:
                found.append((name, datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)))
        return sorted(found, key=lambda item: item[1])

    def drop_partition(self, name: str) -> int:
        """Drop one whole monthly partition; returns how many events it held."""
        if not PARTITION_NAME.match(name):
            raise ValueError(f"not a usage_events partition: {name!r}")
        self.session.execute(text(f"SET LOCAL lock_timeout = '{_DDL_LOCK_TIMEOUT}'"))
        # Lock the month first so that the count is exactly what the drop removes.
        self.session.execute(text(f'LOCK TABLE "{name}" IN ACCESS EXCLUSIVE MODE'))
        held = self.session.scalar(text(f'SELECT count(*) FROM "{name}"'))
        self.session.execute(text(f'DROP TABLE "{name}"'))
        return held

    # Batched deletes: each call removes at most `limit` rows, for one short transaction.

    def delete_before(self, cutoff: datetime, limit: int) -> int:
        if self.partitioned:
            # Per-partition TID lists: no scan of the months that stay.
            deleted = 0
            for name, month in self.partitions():
                if month >= cutoff or deleted >= limit:
                    break
                deleted += self._delete_by_ctid(name, "occurred_at", cutoff, limit - deleted)
            return deleted
        doomed = select(UsageEvent.id).where(UsageEvent.occurred_at < cutoff).limit(limit)
        return self._execute(delete(UsageEvent).where(UsageEvent.id.in_(doomed))).rowcount

    def forget_request_ids_before(self, cutoff: datetime, limit: int) -> int:
        if self.partitioned:
            return self._delete_by_ctid("usage_request_ids", "occurred_at", cutoff, limit)
        claim = tuple_(UsageRequestId.source, UsageRequestId.api_key_id,
                       UsageRequestId.request_id)
        doomed = (select(UsageRequestId.source, UsageRequestId.api_key_id,
                         UsageRequestId.request_id)
                  .where(UsageRequestId.occurred_at < cutoff).limit(limit))
        return self._execute(delete(UsageRequestId).where(claim.in_(doomed))).rowcount

    def _delete_by_ctid(self, table: str, column: str, cutoff: datetime, limit: int) -> int:
        result = self._execute(text(
            f'DELETE FROM "{table}" WHERE ctid = ANY(ARRAY('
            f'SELECT ctid FROM "{table}" WHERE {column} < :cutoff LIMIT :limit))'
        ), {"cutoff": cutoff, "limit": limit})
        return result.rowcount
