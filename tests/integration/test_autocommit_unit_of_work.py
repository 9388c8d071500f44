"""`at_once`'s unit of work: statements on one autocommit connection, without an ORM session."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.db.uow import AutocommitUnitOfWork, UnitOfWork
from app.errors import DatabaseError
from tests.support.accounts import api_key_body, to_service


def test_a_statement_is_kept_without_a_commit_even_when_the_block_then_fails(services):
    account = services.accounts.create(to_service(api_key_body()))["id"]
    uow = services.uow.at_once()
    assert isinstance(uow, AutocommitUnitOfWork)
    with pytest.raises(RuntimeError), uow:
        assert uow.accounts.touch(account, services.scheduler.clock()) == 1
        raise RuntimeError("after the statement")
    with services.uow() as check:
        assert check.accounts.get(account).last_used_at is not None


def test_it_runs_no_orm_and_its_database_errors_are_ours(services):
    with services.uow.at_once() as uow, pytest.raises(AttributeError):
        uow.accounts.get("nobody")  # loading an ORM row needs an ordinary unit of work
    with pytest.raises(DatabaseError) as raised, services.uow.at_once() as uow:
        uow.session.execute(text("SELECT no_such_column FROM accounts"))
    # PostgreSQL's answer reads as an invalid query; SQLite's driver calls it operational.
    assert isinstance(raised.value.__cause__, SQLAlchemyError)
    assert raised.value.code in ("DB_INVALID_QUERY", "DB_CONNECTION_FAILED")


def test_a_unit_of_work_entered_again_builds_its_repositories_on_the_new_session(services):
    uow = services.uow()
    assert isinstance(uow, UnitOfWork)
    with uow:
        first = uow.accounts
        assert uow.accounts is first and first.session is uow.session
    with uow:
        assert uow.accounts is not first and uow.accounts.session is uow.session


def test_inside_a_shared_transaction_at_once_joins_it(services):
    with services.uow.shared() as shared, services.uow.at_once() as uow:
        assert uow.session is shared.session
