"""Hot one-row statements run on the driver's cursor, without SQLAlchemy's per-run machinery."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import TextClause
from sqlalchemy.engine import Connection, Dialect


class CursorEventContext:
    """What the engine's cursor-event listeners receive as `context` for a driver statement:
    no SQLAlchemy execution context exists, but a listener may note its own attributes here
    between `before_cursor_execute` and `after_cursor_execute` (app/metrics times queries so)."""


class Ran(NamedTuple):
    rows: list[tuple]  # plain tuples of driver values; none unless the statement returns rows
    rowcount: int


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

    Only for statements whose parameters and results need no SQLAlchemy type processing (the
    text CASTs its parameters; results are plain driver values), and only on a connection in a
    transaction (it is committed or rolled back with it) or in autocommit."""

    statement: TextClause
    returns_rows: bool = True
    _compiled: dict[tuple[str, str, str], str] = field(default_factory=dict, repr=False)

    def sql_for(self, dialect: Dialect) -> str:
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        sql = self._compiled.get(key)
        if sql is None:
            sql = self._compiled[key] = self.statement.compile(dialect=dialect).string
        return sql

    def run(self, connection: Connection, params: dict) -> Ran:
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
                ran = Ran(list(cursor.fetchall()) if self.returns_rows else [], cursor.rowcount)
                connection.dispatch.after_cursor_execute(connection, cursor, statement, params,
                                                         context, False)
            except BaseException as error:
                # SQLAlchemy's own handling of a failed cursor execute: wraps and raises.
                connection._handle_dbapi_exception(error, statement, params, cursor, None)
                raise  # not reached: the handler always raises
        finally:
            cursor.close()
        return ran
