"""Serving the app over real HTTP in a test: a werkzeug server thread, or gunicorn."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from werkzeug.serving import make_server


class ServerThread:
    def __init__(self, app, port: int):
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(10)


ROOT = Path(__file__).resolve().parents[2]


def serve_with_gunicorn(env: dict, log_path: Path) -> tuple[subprocess.Popen, str]:
    """Production shape: `alembic upgrade heads`, then gunicorn with the repo's
    gunicorn.conf.py on env's RELAYGATE_BIND; answers the process (terminate it) and base URL
    once /healthz answers."""
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "heads"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=120)
    with log_path.open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                   "wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://{env['RELAYGATE_BIND']}"
    try:
        wait_until_ready(base + "/healthz", process=server)
    except BaseException:
        server.terminate()
        server.wait(20)
        raise
    return server, base


def wait_until_ready(url: str, timeout: float = 30.0, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@contextlib.contextmanager
def live_client(app):
    """An httpx client of `app` served on a free loopback port by a werkzeug thread."""
    from tests.support.servers import free_port

    with ServerThread(app, free_port()) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        yield client
