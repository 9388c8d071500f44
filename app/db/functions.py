"""SQL functions that must mean the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import literal_column
from sqlalchemy.sql.functions import FunctionElement

from app import timebuckets
from app.db.types import UTCDateTime

_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class _LocalBucket(FunctionElement):
    type = UTCDateTime()
    inherit_cache = True
    name = "local_bucket"


def local_bucket(column, unit: str, tz_name: str) -> _LocalBucket:
    """The start (a UTC instant) of the hour, day or month of zone `tz_name` holding `column`.

    Unit and zone are rendered as SQL literals, not bound, so that the same expression can be
    repeated in GROUP BY and the statement cache keys on them. Both are checked here first.
    """
    if unit not in timebuckets.UNITS:
        raise ValueError(f"unknown unit {unit!r}")
    timebuckets.zone(tz_name)
    quoted = tz_name.replace("'", "''")
    return _LocalBucket(column, literal_column(f"'{unit}'"), literal_column(f"'{quoted}'"))


@compiles(_LocalBucket, "postgresql")
def _local_bucket_postgresql(element, compiler, **kw):
    column, unit, tz = element.clauses
    return (f"date_trunc({compiler.process(unit, **kw)}, {compiler.process(column, **kw)}, "
            f"{compiler.process(tz, **kw)})")


@compiles(_LocalBucket, "sqlite")
def _local_bucket_sqlite(element, compiler, **kw):
    return f"rg_local_bucket({compiler.process(element.clauses, **kw)})"


def _sqlite_local_bucket(value: str | None, unit: str, tz_name: str) -> str | None:
    if value is None:
        return None
    instant = datetime.fromisoformat(value).replace(tzinfo=UTC)
    start = timebuckets.bucket_start(instant, unit, timebuckets.zone(tz_name))
    return start.replace(tzinfo=None).strftime(_SQLITE_FORMAT)


def register_sqlite_functions(dbapi_connection) -> None:
    """SQLite has no time zones: give it ours, computed by the same code as the buckets."""
    dbapi_connection.create_function("rg_local_bucket", 3, _sqlite_local_bucket,
                                     deterministic=True)
