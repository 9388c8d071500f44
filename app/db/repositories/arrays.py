"""Many rows in one PostgreSQL statement whose text does not depend on how many there are.

Each column travels as one array parameter and `unnest` turns the arrays back into rows, so the
statement is parsed once (and planned once with prepared statements on) however many rows a
batch holds. A multi-row VALUES list (SQLAlchemy's "insertmanyvalues") is a new text for every
row count, with a placeholder per value that the driver splits and the server parses each time.
`unnest` yields the rows in array order, so rows given sorted are written (and locked) sorted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import TextClause, text

# A column: (its name, its PostgreSQL type, e.g. "varchar", "bigint", "timestamptz").
Column = tuple[str, str]


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


def arrays(rows: Iterable[dict], columns: Sequence[Column]) -> dict[str, list]:
    """The parameters of `unnest(columns)`: each column's values, row by row."""
    found: dict[str, list] = {name: [] for name, _ in columns}
    for row in rows:
        for name, values in found.items():
            values.append(row[name])
    return found
