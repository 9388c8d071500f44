"""The `relaygate` command: its commands, `serve` on the embedded default, and `GET /`."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.support.processes import embedded_env, relaygate, stop, wait_for_port
from tests.support.servers import free_port

COMMANDS = ("serve", "demo", "create-admin", "drain-usage", "run-alerts", "import-crs",
            "rotate-secrets")


def test_relaygate_lists_every_operator_command_each_with_help(tmp_path):
    env = embedded_env(tmp_path / "instance")
    listing = subprocess.run([sys.executable, "-m", "app", "--help"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    for command in COMMANDS:
        assert f"  {command} " in listing.stdout
        helped = subprocess.run([sys.executable, "-m", "app", command, "--help"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert helped.returncode == 0 and "Usage: relaygate " + command in helped.stdout


def _serve_once(tmp_path) -> str:
    """`relaygate serve` until it answers; what it printed. Checks `/` leads to the console."""
    port = free_port()
    env = embedded_env(tmp_path / "instance", RELAYGATE_WORKERS="1", RELAYGATE_THREADS="4")
    server = relaygate("serve", "--bind", f"127.0.0.1:{port}", env=env)
    try:
        wait_for_port(port, server)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        home = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert home.status_code == 302 and home.headers["location"].endswith("/console")
    finally:
        output = stop(server)
    return output


def test_serve_migrates_and_mentions_the_missing_admin_only_while_there_is_none(tmp_path):
    first = _serve_once(tmp_path)
    assert "Relaygate on http://127.0.0.1:" in first
    assert "No admin yet?" in first
    assert "/console" in first and "/portal" in first

    created = subprocess.run(
        [sys.executable, "-m", "app", "create-admin", "--username", "root", "--password",
         "long enough pw"], env=embedded_env(tmp_path / "instance"), capture_output=True,
        text=True, timeout=60)
    assert created.returncode == 0, created.stdout + created.stderr
    assert "created admin root" in created.stdout

    assert "No admin yet?" not in _serve_once(tmp_path)
