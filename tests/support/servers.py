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


def pg_create_from_template(admin_dsn: str, template: str, base_url: str) -> tuple[str, str]:
    name = f"rg_test_{uuid.uuid4().hex[:12]}"
    pg_execute(admin_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name, base_url.rsplit("/", 1)[0] + "/" + name


def pg_drop(admin_dsn: str, name: str) -> None:
    pg_execute(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PgResetter:
    """Puts a migrated database back as the migrations left it: truncate, then re-seed.

    Much faster than a new database per test; the seed rows (what migrations inserted) are
    read once, right after migrating.
    """

    def __init__(self, url: str):
        from sqlalchemy import create_engine

        from app.db import models  # noqa: F401  (every table on the metadata)
        from app.db.base import Base

        self.engine = create_engine(url)
        self.tables = list(Base.metadata.sorted_tables)
        with self.engine.connect() as connection:
            self.seed = {table: [dict(row._mapping) for row in connection.execute(table.select())]
                         for table in self.tables}

    def reset(self) -> None:
        from sqlalchemy import text

        names = ", ".join(f'"{table.name}"' for table in self.tables)
        with self.engine.begin() as connection:
            # A leaked transaction would make TRUNCATE wait forever; fail the run instead.
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            for table in self.tables:
                if self.seed[table]:
                    connection.execute(table.insert(), self.seed[table])

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
