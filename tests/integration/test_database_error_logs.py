"""A database error is logged with its code and statement, never with its bound parameters."""

from __future__ import annotations

import logging

import pytest

from app.db.models import Admin
from app.db.types import utcnow
from app.errors import DatabaseError

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0LXNhbHQ$never-in-a-log-line"


def _add_admin(services, username: str, password_hash: str) -> None:
    with services.uow() as uow:
        uow.admins.add(Admin(username=username, password_hash=password_hash, created_at=utcnow()))
        uow.commit()


def test_a_duplicate_admin_at_first_start_logs_no_password_hash(services, caplog):
    """Two workers creating the first admin: the loser's duplicate-key error is logged."""
    _add_admin(services, "admin", "$argon2id$the-winner")
    with caplog.at_level(logging.DEBUG), pytest.raises(DatabaseError) as raised:
        _add_admin(services, "admin", HASH)
    assert raised.value.code == "DB_DUPLICATE_KEY"
    assert "DB_DUPLICATE_KEY" in caplog.text and "INSERT INTO admins" in caplog.text
    assert "the-winner" not in caplog.text and HASH not in caplog.text
    assert HASH not in str(raised.value) and HASH not in str(raised.value.__cause__)


def test_a_conflict_on_a_unique_value_logs_the_constraint_not_the_value(services, caplog):
    _add_admin(services, "root-of-all", "$argon2id$x")
    with caplog.at_level(logging.DEBUG), pytest.raises(DatabaseError):
        _add_admin(services, "root-of-all", "$argon2id$y")
    # PostgreSQL's DETAIL line quotes the conflicting value; the log keeps only the first line.
    assert "root-of-all" not in caplog.text
