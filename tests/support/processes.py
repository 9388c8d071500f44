"""Running Relaygate's own command (`python -m app ...`) as a user would, in a clean environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.envvars import ROOT


def embedded_env(instance_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a newcomer's shell: none of Relaygate's settings, so SQLite in
    `instance_dir` and no Redis."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("RELAYGATE_") and name not in ("DATABASE_URL", "REDIS_URL")}
    env.update(RELAYGATE_INSTANCE_DIR=str(instance_dir), RELAYGATE_ACCESS_LOG="",
               PYTHONPATH=str(ROOT), **extra)
    return env


def relaygate(*args: str, env: dict, cwd: Path | None = None, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app", *args], env=env, cwd=cwd or ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **popen)


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}: {stop(process)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listened on {port} within {timeout} s")


def stop(process: subprocess.Popen) -> str:
    """SIGTERM (gunicorn and the demo stop cleanly on it), then what the process printed."""
    if process.poll() is None:
        process.terminate()
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate(timeout=10)
    return output
