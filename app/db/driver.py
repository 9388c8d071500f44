"""Hot statements run on the driver's cursor, without SQLAlchemy's per-run machinery."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Select, TextClause, TextualSelect
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session


class CursorEventContext:
    """What the engine's cursor-event listeners receive as `context` for a driver statement:
    no SQLAlchemy execution context exists, but a listener may note its own attributes here
    between `before_cursor_execute` and `after_cursor_execute` (app/metrics times queries so)."""


class Ran(NamedTuple):
    rows: list[tuple]  # plain tuples of driver values; none unless the statement returns rows
    rowcount: int
    # The driver's type code of each column, when asked for (describe=True).
    type_codes: Sequence[Any] = ()


@dataclass
class DriverStatement:
    """A text statement run on the pooled connection's driver cursor. SQLAlchemy's execute
    builds, for every run, an execution context, a cursor result and its metadata from the
    driver's column descriptions: for a statement that writes a request's books and returns one
    short row, several times the driver's own CPU. Here the text is compiled once per dialect
    and each run is the driver's execute and fetch, plus what SQLAlchemy itself does around a
    cursor execute: the engine's before/after_cursor_execute events fire (metrics, statement
    counts), and a driver error is raised as SQLAlchemy raises it (a DBAPIError subclass, its
    parameters hidden as the engine hides them, a lost connection invalidating the pool).

    Only for statements whose parameters need no SQLAlchemy type processing (the text CASTs
    them); its rows are the driver's plain values (DriverSelect adds the columns' result
    processing). Only on a connection in a transaction (it is committed or rolled back with
    it) or in autocommit."""

    statement: TextClause | Select | TextualSelect
    returns_rows: bool = True
    _compiled: dict[tuple[str, str, str], str] = field(default_factory=dict, repr=False)

    def sql_for(self, dialect: Dialect) -> str:
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        sql = self._compiled.get(key)
        if sql is None:
            sql = self._compiled[key] = self.statement.compile(dialect=dialect).string
        return sql

    def run(self, connection: Connection, params: dict, *, describe: bool = False) -> Ran:
        if not (connection.in_transaction()
                or connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"):
            # The driver would open a transaction SQLAlchemy knows nothing of (never committed).
            raise RuntimeError("a driver statement needs a transaction or autocommit")
        statement = self.sql_for(connection.dialect)
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        context = CursorEventContext()
        try:
            try:
                # As Connection._cursor_execute: a listener made with retval may rewrite them.
                for before in connection.dispatch.before_cursor_execute:
                    statement, params = before(connection, cursor, statement, params, context,
                                               False)
                cursor.execute(statement, params)
                ran = Ran(list(cursor.fetchall()) if self.returns_rows else [], cursor.rowcount,
                          [column[1] for column in cursor.description or ()] if describe else ())
                connection.dispatch.after_cursor_execute(connection, cursor, statement, params,
                                                         context, False)
            except BaseException as error:
                # SQLAlchemy's own handling of a failed cursor execute: wraps and raises.
                connection._handle_dbapi_exception(error, statement, params, cursor, None)
                raise  # not reached: the handler always raises
        finally:
            cursor.close()
        return ran


_Processor = Callable[[Any], Any] | None


class DriverSelect:
    """A Core SELECT (or a text statement with its typed `.columns()`) read on every
    synchronous chat request, run as a DriverStatement on psycopg. Its rows are named tuples
    of the selected columns' names (attributes, as SQLAlchemy's rows have), each value passed
    through its column type's result processing as SQLAlchemy would (UTC datetimes, Money),
    the processors found on the first run from the driver's column types. Its parameters must
    need no bind processing (strings, numbers: it refuses others when first compiled). With
    another driver (SQLite) SQLAlchemy runs it."""

    def __init__(self, statement: Select | TextualSelect):
        self.statement = statement
        self._driver = DriverStatement(statement)
        self._row: Any = namedtuple(  # type: ignore[misc]
            "Row", [str(column.key) for column in statement.selected_columns])
        self._processors: dict[tuple[str, str], list[_Processor]] = {}

    def rows(self, session, params: dict) -> list:
        dialect = session.get_bind().dialect
        if dialect.driver != "psycopg":
            return list(session.execute(self.statement, params))
        key = (dialect.name, dialect.driver)
        processors = self._processors.get(key)
        if processors is None:
            self._check_binds(dialect)
        ran = self._driver.run(connection_of(session), params, describe=processors is None)
        if processors is None:
            processors = self._processors[key] = [
                column.type.dialect_impl(dialect).result_processor(dialect, type_code)
                for column, type_code in zip(self.statement.selected_columns, ran.type_codes,
                                             strict=True)]
        make = self._row._make
        if not any(processors):
            return [make(row) for row in ran.rows]
        return [make([value if process is None else process(value)
                      for value, process in zip(row, processors, strict=True)])
                for row in ran.rows]

    def _check_binds(self, dialect: Dialect) -> None:
        for name, bind in self.statement.compile(dialect=dialect).binds.items():
            if bind.expanding or bind.type.dialect_impl(dialect).bind_processor(dialect):
                raise TypeError(f"{name}: a parameter SQLAlchemy would process or expand")


def connection_of(session: Session | StatementSessionLike) -> Connection:
    """The connection a repository's session runs its statements on. An ORM session first
    flushes what it holds, as its own execute would (autoflush): a driver statement in a
    shared transaction sees the rows written before it."""
    if isinstance(session, Session) and session.autoflush:
        session.flush()
    return session.connection()


class StatementSessionLike(Protocol):
    def connection(self) -> Connection: ...
