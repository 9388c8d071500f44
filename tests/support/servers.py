"""Real servers for tests: per-test PostgreSQL databases and private redis-server processes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid

import psycopg
import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_admin_dsn(url: str) -> str:
    """A libpq DSN for the maintenance database of a SQLAlchemy PostgreSQL URL."""
    base = url.replace("postgresql+psycopg://", "postgresql://", 1)
    return base.rsplit("/", 1)[0] + "/postgres"


def pg_execute(admin_dsn: str, statement: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as connection:
        connection.execute(statement)


def pg_create(admin_dsn: str, name: str, template: str | None = None) -> None:
    """CREATE DATABASE for a test, its commits not waiting for the WAL's flush to disk.

    `synchronous_commit = off` on the test's own database only: what a transaction sees and
    commits is unchanged (it is durability against an operating-system crash that goes), and
    a commit costs ~1 ms instead of the ~10 ms fsync of the machine's disk, most of the
    suite's database time (every API call, login and per-test reset commits)."""
    pg_execute(admin_dsn, f'CREATE DATABASE "{name}"'
                          + (f' TEMPLATE "{template}"' if template else ""))
    pg_execute(admin_dsn, f'ALTER DATABASE "{name}" SET synchronous_commit = off')


def pg_create_from_template(admin_dsn: str, template: str, base_url: str) -> tuple[str, str]:
    name = f"rg_test_{uuid.uuid4().hex[:12]}"
    pg_create(admin_dsn, name, template)
    return name, base_url.rsplit("/", 1)[0] + "/" + name


def pg_drop(admin_dsn: str, name: str) -> None:
    pg_execute(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PgResetter:
    """Puts a migrated database back as the migrations left it: truncate, then re-seed.

    Much faster than a new database per test; the seed rows (what migrations inserted) are
    read once, right after migrating. Only what a test changed is truncated (TRUNCATE costs
    PostgreSQL new files per table, most of a reset when done to all of them): a table that
    holds rows or whose id sequence moved, a seeded table whose rows differ from the seed, and
    every table that references one of those (as CASCADE would).
    """

    def __init__(self, url: str):
        from sqlalchemy import create_engine, text

        from app.db import models  # noqa: F401  (every table on the metadata)
        from app.db.base import Base

        self.engine = create_engine(url)
        self.tables = list(Base.metadata.sorted_tables)
        with self.engine.connect() as connection:
            self.seed = {table: [dict(row._mapping) for row in connection.execute(table.select())]
                         for table in self.tables}
            owned = connection.execute(text(
                "SELECT t.relname, s.relname FROM pg_class s"
                " JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid"
                " JOIN pg_class t ON d.refobjid = t.oid"
                " WHERE s.relkind = 'S' AND d.deptype IN ('a', 'i')")).all()
        sequences = {table: sequence for table, sequence in owned}
        probes = []
        for table in self.tables:
            if self.seed[table]:
                continue
            moved = (f' OR (SELECT is_called FROM "{sequences[table.name]}")'
                     if table.name in sequences else "")
            probes.append(f"SELECT '{table.name}' WHERE EXISTS "
                          f'(SELECT 1 FROM "{table.name}"){moved}')
        self.probe = text(" UNION ALL ".join(probes))
        self.referencing = {table.name: {other.name for other in self.tables
                                         if any(fk.column.table is table
                                                for fk in other.foreign_keys)}
                            for table in self.tables}

    def reset(self) -> None:
        from sqlalchemy import text

        with self.engine.begin() as connection:
            # A leaked transaction would make TRUNCATE wait forever; fail the run instead.
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))
            changed = set(connection.execute(self.probe).scalars())
            changed |= {table.name for table, rows in self.seed.items()
                        if rows and not self._as_seeded(connection, table, rows)}
            pending = list(changed)
            while pending:  # what CASCADE truncates too: re-seed those as well
                for other in self.referencing[pending.pop()] - changed:
                    changed.add(other)
                    pending.append(other)
            if not changed:
                return
            names = ", ".join(f'"{name}"' for name in sorted(changed))
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            for table in self.tables:
                if table.name in changed and self.seed[table]:
                    connection.execute(table.insert(), self.seed[table])

    @staticmethod
    def _as_seeded(connection, table, rows) -> bool:
        now = [dict(row._mapping) for row in connection.execute(table.select())]
        return sorted(map(repr, now)) == sorted(map(repr, rows))

    def close(self) -> None:
        self.engine.dispose()


class PrivateRedis:
    """A redis-server of the test's own on a free port: a fault test may kill this one.

    With `aof_dir`, it appends every write to a log there (fsync on each write, so a kill
    loses nothing) and `restart()` brings the same data back on the same port."""

    def __init__(self, aof_dir=None):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.aof_dir = aof_dir
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        persistence = (["--appendonly", "yes", "--appendfsync", "always",
                        "--dir", str(self.aof_dir)] if self.aof_dir else ["--appendonly", "no"])
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             *persistence, "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return self
                except (redis.ConnectionError, redis.BusyLoadingError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        finally:
            client.close()

    def restart(self, down_seconds: float = 0.0) -> PrivateRedis:
        """Kill the server (SIGKILL), stay down a while, and start again on the same port."""
        self.stop()
        time.sleep(down_seconds)
        return self.start()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class PrivatePgBouncer:
    """A pgbouncer of the test's own in transaction pooling mode, in front of `pg_url`'s server.

    Any database name is passed through to that server (the `*` entry), as user postgres.
    PgBouncer refuses to run as root: run as root, it is started with `-u` (RELAYGATE_TEST_
    PGBOUNCER_USER, default 'postgres'), which must be able to write its temporary directory.
    """

    def __init__(self, pg_url: str, workdir, *, pool_size: int = 20):
        from sqlalchemy.engine import make_url

        target = make_url(pg_url)
        self.server = (target.host or "127.0.0.1", target.port or 5432)
        self.port = free_port()
        self.workdir = workdir
        self.pool_size = pool_size
        self.process: subprocess.Popen | None = None

    def route(self, url: str) -> str:
        """The same database URL, through this pgbouncer."""
        from sqlalchemy.engine import make_url

        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(
            hide_password=False)

    def start(self) -> PrivatePgBouncer:
        import os

        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not os.path.exists(binary):
            raise RuntimeError("pgbouncer is not installed (apt-get install -y pgbouncer)")
        host, port = self.server
        (self.workdir / "users.txt").write_text('"postgres" ""\n')
        config = self.workdir / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host={host} port={port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.workdir / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\nmax_client_conn = 1000\n"
            "ignore_startup_parameters = extra_float_digits\n"
            "server_check_delay = 0\n"
            f"logfile = {self.workdir / 'pgbouncer.log'}\n")
        command = [binary, str(config)]
        if os.geteuid() == 0:
            user = os.environ.get("RELAYGATE_TEST_PGBOUNCER_USER", "postgres")
            shutil.chown(self.workdir, user)
            for path in self.workdir.iterdir():
                shutil.chown(path, user)
            command[1:1] = ["-u", user]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.workdir / "pgbouncer.log"
                    raise RuntimeError("pgbouncer did not start: "
                                       + (log.read_text()[-2000:] if log.exists() else "")
                                       ) from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
