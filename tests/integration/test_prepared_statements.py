"""psycopg's server-side prepared statements (RELAYGATE_DB_PREPARE_THRESHOLD): on by default for a
direct PostgreSQL connection, off behind PgBouncer's transaction pooling (test_pgbouncer.py runs
the apps that way), and off or sooner when the setting says so."""

import pytest
from sqlalchemy import select

from app import services_of
from app.config import ConfigError, load_settings
from app.db.models import ApiKey
from tests.support.apps import THROUGH_PGBOUNCER, make_app

pytestmark = pytest.mark.skipif(THROUGH_PGBOUNCER, reason="needs a direct PostgreSQL connection")


def _prepared_after(application, runs: int) -> int:
    """How many statements the server holds prepared on a connection that ran one `runs` times."""
    engine = services_of(application).engine
    try:
        with engine.connect() as connection:
            for _ in range(runs):
                connection.execute(select(ApiKey.id).where(ApiKey.name == "none")).all()
            return connection.exec_driver_sql(
                "SELECT count(*) FROM pg_prepared_statements").scalar_one()
    finally:
        engine.dispose()


def test_a_statement_run_often_is_prepared_on_a_direct_connection(postgres_url, tmp_path):
    assert _prepared_after(make_app(tmp_path, postgres_url), 6) >= 1


def test_no_statement_is_prepared_when_the_setting_is_off(postgres_url, tmp_path):
    assert _prepared_after(make_app(tmp_path, postgres_url, db_prepare_threshold=None), 6) == 0


def test_behind_pgbouncer_nothing_is_prepared_unless_a_threshold_is_set(postgres_url, tmp_path):
    # The PgBouncer setting alone turns preparing off (here on a direct connection, to see it).
    assert _prepared_after(make_app(tmp_path, postgres_url, db_pgbouncer=True), 6) == 0
    assert _prepared_after(make_app(tmp_path, postgres_url, db_pgbouncer=True,
                                    db_prepare_threshold=0), 1) >= 1


def test_the_setting_reads_a_count_off_or_auto(monkeypatch, tmp_path):
    for given, read in (("0", 0), ("3", 3), ("off", None), ("auto", "auto"), ("", "auto")):
        monkeypatch.setenv("RELAYGATE_DB_PREPARE_THRESHOLD", given)
        assert load_settings({"instance_dir": tmp_path}).db_prepare_threshold == read
    monkeypatch.setenv("RELAYGATE_DB_PREPARE_THRESHOLD", "sometimes")
    with pytest.raises(ConfigError, match="RELAYGATE_DB_PREPARE_THRESHOLD"):
        load_settings({"instance_dir": tmp_path})


def test_a_pooled_connection_the_server_closed_while_it_was_idle_is_replaced_unseen(
        postgres_url, tmp_path, monkeypatch):
    from sqlalchemy import text

    from app.db import engine as engines
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", 0.0)
    engine = services_of(make_app(tmp_path, postgres_url)).engine
    try:
        with engine.connect() as admin:
            with engine.connect() as connection:
                closed = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": closed})
        with engine.connect() as connection:  # the idle one is pinged, found dead, replaced
            assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != closed
    finally:
        engine.dispose()


def test_behind_pgbouncer_the_one_statement_writes_commit_in_a_transaction_of_their_own(
        postgres_url, tmp_path):
    from sqlalchemy import text

    from app.services.usage.service import UsageRecord
    from app.services.usage.settlement import Settlement
    services = services_of(make_app(tmp_path, postgres_url, db_pgbouncer=True))
    try:
        assert not services.uow.autocommit
        subject = services.quota.subject_of_user(services.users.create(email="b@x.org").id)
        reservation = services.quota.reserve(subject, "GPT-4o")
        key_id = services.keys.create({"name": "bouncer"}).id
        record = UsageRecord(api_key_id=key_id, model="GPT-4o", input_tokens=2,
                             output_tokens=3, request_id="through-bouncer")
        assert services.usage_writer.settler.store(record, Settlement(), (subject, reservation.id))
        with services.engine.connect() as connection:
            assert connection.execute(text(
                "SELECT state FROM usage_reservations WHERE id = :id"),
                {"id": reservation.id}).scalar_one() == "committed"
            assert connection.execute(text(
                "SELECT total_requests, total_tokens FROM api_keys WHERE id = :id"),
                {"id": key_id}).one() == (1, 5)
    finally:
        services.engine.dispose()
