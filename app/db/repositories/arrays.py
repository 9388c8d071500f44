"""Many rows in one PostgreSQL statement whose text does not depend on how many there are.

Each column travels as one array parameter and `unnest` turns the arrays back into rows, so the
statement is parsed once (and planned once with prepared statements on) however many rows a
batch holds. A multi-row VALUES list (SQLAlchemy's "insertmanyvalues") is a new text for every
row count, with a placeholder per value that the driver splits and the server parses each time.
`unnest` yields the rows in array order, so rows given sorted are written (and locked) sorted.

A column's array is sent as the text of an array literal, built here with one string join:
psycopg would adapt a list item by item in Python, several times slower for a batch's columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from sqlalchemy import TextClause, text

# A column: (its name, its PostgreSQL type, e.g. "varchar", "bigint", "timestamptz").
Column = tuple[str, str]

_NUMBERS = frozenset({"smallint", "integer", "bigint", "numeric"})
_TIMES = frozenset({"timestamptz", "timestamp", "date"})


def unnest(columns: Sequence[Column]) -> str:
    """`SELECT * FROM unnest(...)` of one array parameter per column, named as the column."""
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in columns)
    return f"SELECT * FROM unnest({arrays})"


def unnest_as(alias: str, columns: Sequence[Column]) -> str:
    """`unnest(...) AS alias(names)`: the rows as a table to join in an UPDATE ... FROM."""
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in columns)
    return f"unnest({arrays}) AS {alias} ({', '.join(name for name, _ in columns)})"


def insert_rows(table: str, columns: Sequence[Column], tail: str = "") -> TextClause:
    """INSERT INTO `table` the rows of `arrays(...)`, then `tail` (ON CONFLICT, RETURNING)."""
    names = ", ".join(name for name, _ in columns)
    return text(f"INSERT INTO {table} ({names}) {unnest(columns)} {tail}".rstrip())


def arrays(rows: Iterable[dict], columns: Sequence[Column]) -> dict[str, str]:
    """The parameters of `unnest(columns)`: each column's values, row by row, as the text of
    a PostgreSQL array of the column's type (None is NULL)."""
    rows = rows if isinstance(rows, list) else list(rows)
    return {name: array_literal([row[name] for row in rows], kind) for name, kind in columns}


def array_literal(values: list, kind: str) -> str:
    """`values` as a PostgreSQL array literal of `kind` (what `CAST(... AS kind[])` reads)."""
    if kind in _NUMBERS:
        items = (_number(value) for value in values) if None in values else map(str, values)
    elif kind == "boolean":
        items = ("NULL" if value is None else "t" if value else "f" for value in values)
    elif kind in _TIMES:
        seen: dict = {}  # a batch's timestamps repeat (its recorded_at, its hours)
        items = (seen[value] if value in seen else seen.setdefault(value, _time(value))
                 for value in values)
    else:
        items = (_quoted(value) for value in values)
    return "{" + ",".join(items) + "}"


def _number(value) -> str:
    return "NULL" if value is None else str(value)


def _time(value: datetime | date | None) -> str:
    return "NULL" if value is None else f'"{value.isoformat()}"'


def _quoted(value) -> str:
    """An element in double quotes, its quotes and backslashes escaped (so any text, even
    "NULL" or one with commas and braces, reads back as itself)."""
    if value is None:
        return "NULL"
    found = str(value)
    if "\\" in found or '"' in found:
        found = found.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{found}"'
