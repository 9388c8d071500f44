"""A statement run on the driver's cursor keeps what SQLAlchemy's execute gives around it: the
cursor events, its transaction or autocommit, its errors and a lost connection's handling."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError

from app import services_of
from app.db.driver import DriverStatement, connection_of
from app.db.models.usage_stats import UsageRequestId
from app.db.repositories.ai_models import _MATCHING
from app.db.repositories.api_keys import _VALIDATION
from app.errors import DatabaseError
from tests.support.servers import pg_admin_dsn

_INSERT = DriverStatement(text(
    "INSERT INTO usage_request_ids (source, api_key_id, request_id, occurred_at, recorded_at)"
    " VALUES (CAST(:source AS varchar), 'k', CAST(:request AS varchar), now(), now())"
    " RETURNING request_id, 1 + 1"))
_COUNT = DriverStatement(text(
    "SELECT count(*) FROM usage_request_ids WHERE source = CAST(:source AS varchar)"))


def _count(services, source: str) -> int:
    with services.uow.at_once() as uow:
        return _COUNT.run(uow.session.connection(), {"source": source}).rows[0][0]


def test_its_rows_are_plain_tuples_and_the_engine_sees_the_statement(pg_app):
    services = services_of(pg_app)
    seen: list[tuple[str, dict]] = []
    event.listen(services.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, params, context, many:
                 seen.append((statement, params)))
    with services.uow.at_once() as uow:
        ran = _INSERT.run(uow.session.connection(), {"source": "driver", "request": "r1"})
    assert ran.rows == [("r1", 2)] and ran.rowcount == 1
    assert len(seen) == 1 and seen[0][1] == {"source": "driver", "request": "r1"}
    assert "%(source)s" in seen[0][0]  # compiled for the driver's parameter style
    assert _count(services, "driver") == 1


def test_in_a_transaction_it_is_rolled_back_unless_committed(pg_app):
    services = services_of(pg_app)
    with services.uow() as uow:
        _INSERT.run(uow.session.connection(), {"source": "undone", "request": "r1"})
    assert _count(services, "undone") == 0
    with services.uow() as uow:
        _INSERT.run(uow.session.connection(), {"source": "done", "request": "r1"})
        uow.commit()
    assert _count(services, "done") == 1


def test_in_an_orm_session_it_sees_what_the_session_holds_unflushed(pg_app):
    services = services_of(pg_app)
    now = datetime.now(UTC)
    with services.uow.shared() as uow:
        uow.session.add(UsageRequestId(source="pending", api_key_id="k", request_id="r1",
                                       occurred_at=now, recorded_at=now))
        counted = _COUNT.run(connection_of(uow.session), {"source": "pending"}).rows
    assert counted == [(1,)]


def test_a_driver_select_answers_what_sqlalchemy_answers_in_any_session_time_zone(pg_app):
    services = services_of(pg_app)
    key = services.keys.create({"name": "driver"})
    with services.uow() as uow:
        uow.session.execute(text(
            "UPDATE api_keys SET expires_at = '2030-01-02 03:04:05+02', total_cost_limit = 1.5,"
            " window_limits = '[{\"hours\": 5}]', allowed_models = '[\"gpt-*\"]'"
            " WHERE id = :id"), {"id": key.id})
        uow.commit()
    reads = [(_VALIDATION, {"hashed_key": key.hashed_key}),
             (_MATCHING, {"text": "openai/gpt-4o-mini"})]
    answers = []
    with services.uow() as uow:
        uow.session.execute(text("SET LOCAL TIME ZONE 'America/St_Johns'"))
        for read, params in reads:
            answered = read.rows(uow.session, params)
            answers.append(answered[0])
            expected = list(uow.session.execute(read.statement, params))
            assert len(answered) == len(expected) == 1
            assert answered[0]._fields == tuple(expected[0]._fields)
            # The same values, the same types, the same printed forms (UTC, 8 places).
            assert [(value, type(value), str(value)) for value in answered[0]] == [
                (value, type(value), str(value)) for value in expected[0]]
    key_row, model_row = answers
    assert key_row.expires_at == datetime(2030, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert key_row.window_limits == [{"hours": 5}] and key_row.allowed_models == ["gpt-*"]
    assert str(key_row.total_cost_limit) == "1.50000000"
    assert model_row.input_price.as_tuple().exponent == -8


def test_on_a_connection_in_neither_a_transaction_nor_autocommit_it_refuses(pg_app):
    with services_of(pg_app).engine.connect() as connection, pytest.raises(RuntimeError):
        _INSERT.run(connection, {"source": "nowhere", "request": "r1"})


def test_a_driver_error_is_sqlalchemys_then_ours_and_leaves_the_connection_usable(pg_app):
    services = services_of(pg_app)
    params = {"source": "twice", "request": "r1"}
    with services.uow.at_once() as uow:
        _INSERT.run(uow.session.connection(), params)
    with pytest.raises(DatabaseError) as raised, services.uow.at_once() as uow:
        _INSERT.run(uow.session.connection(), params)
    assert raised.value.code == "DB_DUPLICATE_KEY"
    cause = raised.value.__cause__
    assert isinstance(cause, IntegrityError)
    assert "parameters hidden" in str(cause)  # as the engine hides them
    assert _count(services, "twice") == 1


def test_a_connection_the_server_dropped_is_invalidated_and_the_next_one_works(pg_app):
    services = services_of(pg_app)
    with services.uow.at_once() as uow:
        connection = uow.session.connection()
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with psycopg.connect(pg_admin_dsn(str(services.engine.url)), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(OperationalError) as raised:
            _INSERT.run(connection, {"source": "dropped", "request": "r1"})
        assert raised.value.connection_invalidated and connection.invalidated
    assert _count(services, "dropped") == 0
