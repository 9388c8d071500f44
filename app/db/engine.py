"""Engine construction and the translation of driver errors into our database error codes."""

from __future__ import annotations

import logging
import time

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from app.config import Settings
from app.db.functions import register_sqlite_functions
from app.db.pool import TimedQueuePool
from app.errors import DatabaseError

log = logging.getLogger(__name__)


def build_engine(settings: Settings) -> Engine:
    """The engine; its errors never carry bound parameters (password hashes, sealed secrets)."""
    if settings.is_sqlite:
        engine = create_engine(
            settings.database_url, poolclass=TimedQueuePool, hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, object] = {"connect_timeout": 5,
                                       "prepare_threshold": prepare_threshold(settings)}
    if not settings.db_pgbouncer:
        # Behind PgBouncer's transaction pooling each transaction may run on another server
        # connection: no session state there; the timeout is set in every transaction.
        connect_args["options"] = f"-c statement_timeout={settings.db_statement_timeout_ms}"
    engine = create_engine(
        settings.database_url,
        poolclass=TimedQueuePool,
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout,
        connect_args=connect_args,
    )
    _ping_after_idle(engine)
    if settings.db_pgbouncer:
        _timeout_per_transaction(engine, settings.db_statement_timeout_ms)
    return engine


# A pooled connection idle this long is pinged before it is handed out (SQLAlchemy's
# pool_pre_ping pings every checkout: a round trip per transaction, most of a short one's cost).
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_after_idle(engine: Engine) -> None:
    """Ping a connection at checkout only when it has been idle PING_AFTER_IDLE_SECONDS: one
    the server or a proxy closed meanwhile is replaced, as pool_pre_ping would. A connection
    in steady use goes unpinged; should the server go away under it, the statement's error
    invalidates the whole pool (SQLAlchemy's disconnect handling), as with pre-ping."""

    @event.listens_for(engine, "checkin")
    def idle_from(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection, record, _proxy) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out another (up to three tries).
            raise sa_exc.DisconnectionError(str(error)) from error


def prepare_threshold(settings: Settings) -> int | None:
    """After how many runs on one connection psycopg prepares a statement on the server (parsed
    and planned once, then only bound and executed), None for never. The default: psycopg's 5
    on a direct connection; never behind PgBouncer's transaction pooling, where the next
    transaction may find another server connection that never saw the statement (PgBouncer
    1.21+ with `max_prepared_statements` tracks them: set a number to use that)."""
    chosen = settings.db_prepare_threshold
    if chosen == "auto":
        return None if settings.db_pgbouncer else 5
    return chosen if isinstance(chosen, int) else None


def _timeout_per_transaction(engine: Engine, timeout_ms: int) -> None:
    """SET LOCAL statement_timeout at the start of each transaction (PgBouncer drops the
    `options` startup parameter, and a session SET would leak to other clients)."""
    statement = f"SET LOCAL statement_timeout = {int(timeout_ms)}"

    @event.listens_for(engine, "begin")
    def set_timeout(connection):
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    register_sqlite_functions(dbapi_connection)


def build_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)


_PG_CODES = {
    "23505": "DB_DUPLICATE_KEY",
    "57014": "DB_QUERY_TIMEOUT",
    "55P03": "DB_QUERY_TIMEOUT",
    "53300": "DB_POOL_EXHAUSTED",
    "42601": "DB_INVALID_QUERY",
    # A value past its column's range (a running total that would overflow): the change is
    # refused like any other constraint, not a server fault.
    "22003": "DB_CONSTRAINT_VIOLATION",
    "40001": "DB_SERIALIZATION_FAILURE",
    "40P01": "DB_SERIALIZATION_FAILURE",
}


def translate(error: Exception) -> DatabaseError:
    """Map a SQLAlchemy/driver error to the DatabaseError codes of section 6 of
    docs/design/data-access-layer.md."""
    if isinstance(error, DatabaseError):
        return error
    orig = getattr(error, "orig", None)
    pgcode = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    text = str(orig or error).lower()
    if isinstance(error, sa_exc.TimeoutError):
        code = "DB_POOL_EXHAUSTED"
    elif pgcode in _PG_CODES:
        code = _PG_CODES[pgcode]
    elif isinstance(error, sa_exc.IntegrityError):
        code = "DB_DUPLICATE_KEY" if "unique" in text else "DB_CONSTRAINT_VIOLATION"
    elif isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
        if "timeout" in text or "timed out" in text:
            code = "DB_CONNECTION_TIMEOUT"
        elif "locked" in text:
            code = "DB_QUERY_TIMEOUT"
        else:
            code = "DB_CONNECTION_FAILED"
    elif isinstance(error, sa_exc.ProgrammingError | sa_exc.DataError):
        code = "DB_INVALID_QUERY"
    else:
        code = "DB_INVALID_QUERY"
    log.error("database error %s: %s", code, _summary(error))
    return DatabaseError(_MESSAGES[code], code=code)


def _summary(error: Exception) -> str:
    """The driver's first line and the statement: never the parameters, nor PostgreSQL's DETAIL
    line, which quotes the conflicting values (a token hash, an e-mail address)."""
    orig = getattr(error, "orig", None) or error
    lines = str(orig).strip().splitlines()
    summary = f"{type(orig).__name__}: {lines[0] if lines else ''}"
    statement = getattr(error, "statement", None)
    return f"{summary} [SQL: {statement}]" if statement else summary


_MESSAGES = {
    "DB_DUPLICATE_KEY": "A record with the same unique value already exists.",
    "DB_CONSTRAINT_VIOLATION": "The change violates a database constraint.",
    "DB_QUERY_TIMEOUT": "The database took too long to answer.",
    "DB_POOL_EXHAUSTED": "No database connection is free right now.",
    "DB_CONNECTION_TIMEOUT": "Connecting to the database timed out.",
    "DB_CONNECTION_FAILED": "The database is unreachable.",
    "DB_INVALID_QUERY": "The database rejected the query.",
    "DB_SERIALIZATION_FAILURE": "A concurrent transaction changed the same rows; retry.",
}
