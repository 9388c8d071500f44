"""The array parameters of the batched statements read back on PostgreSQL as the values sent."""

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import create_engine, text

from app.db.repositories.arrays import arrays, unnest

COLUMNS = [("name", "varchar"), ("count", "bigint"), ("cost", "numeric"),
           ("at", "timestamptz"), ("day", "date"), ("flag", "boolean")]
AT = datetime(2026, 3, 2, 13, 4, 5, 678, tzinfo=UTC)


def test_awkward_texts_numbers_times_and_nulls_come_back_from_unnest_unchanged(postgres_url):
    sent = [
        {"name": 'quote " backslash \\ comma , braces {} ', "count": 2**62,
         "cost": Decimal("0E-8"), "at": AT, "day": date(2026, 3, 2), "flag": True},
        {"name": "NULL", "count": -7, "cost": Decimal("1E+3"), "at": AT, "day": None,
         "flag": False},
        {"name": "", "count": 0, "cost": Decimal("0.00012345"), "at": None,
         "day": date(1999, 12, 31), "flag": None},
        {"name": None, "count": None, "cost": None, "at": AT, "day": None, "flag": False},
        {"name": "naïve\ttab\nline", "count": 1, "cost": Decimal("-1.5"), "at": AT,
         "day": None, "flag": True},
    ]
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            # Run past psycopg's prepare threshold: a prepared statement reads them alike.
            answers = [connection.execute(text(unnest(COLUMNS)), arrays(sent, COLUMNS)).all()
                       for _ in range(6)]
            empty = connection.execute(text(unnest(COLUMNS)), arrays([], COLUMNS)).all()
    finally:
        engine.dispose()
    expected = [tuple(row[name] for name, _ in COLUMNS) for row in sent]
    assert all([tuple(row) for row in answer] == expected for answer in answers)
    assert empty == []
