"""A PostgreSQL cluster of the benchmark's own (initdb in a temporary directory, a free port), so
that the CPU of its whole process tree is the database work the app caused, and nothing else."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def _bindir() -> Path | None:
    """The directory of `initdb` and `postgres`: Debian keeps them off PATH."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda path: int(path.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


class PrivatePostgres:
    """`start()` answers the cluster's SQLAlchemy URL for database `postgres`; `root_pid` is
    the process whose tree holds every backend; `stop()` shuts it down and removes its files."""

    def __init__(self, port: int):
        self.port = port
        self.directory = Path(tempfile.mkdtemp(prefix="relaygate-bench-pg-"))
        self.process: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return _bindir() is not None

    def start(self, settings: list[str] | tuple[str, ...] = ()) -> str:
        """`settings`: more server settings, each `name=value` (`jit=off`)."""
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError("initdb not found (Debian: apt-get install postgresql)")
        data, as_user = self.directory / "data", []
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                        "-A", "trust", "-E", "UTF8", "--no-sync"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.process = subprocess.Popen(
            [*as_user, str(bindir / "postgres"), "-D", str(data), "-p", str(self.port),
             "-k", str(self.directory), "-c", "listen_addresses=127.0.0.1",
             "-c", "max_connections=300",
             *(part for setting in settings for part in ("-c", setting))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(dsn, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def root_pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            try:
                postmaster = int((self.directory / "data" / "postmaster.pid").read_text()
                                 .split()[0])
                os.kill(postmaster, signal.SIGINT)  # fast shutdown
            except (OSError, ValueError, IndexError):
                self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)
