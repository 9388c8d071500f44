"""Fuzz the whole OpenAPI document with schemathesis, as an admin, against a live server.

From a checkout (`pip install -e '.[dev]'`), with PostgreSQL at 127.0.0.1:5432 as for the tests:

    python scripts/fuzz_openapi.py                          # PostgreSQL, seed 20261203, 220/op
    python scripts/fuzz_openapi.py --database sqlite        # the embedded default instead
    python scripts/fuzz_openapi.py --max-examples 5 --seed 1

It migrates a throwaway database (a new PostgreSQL database, or SQLite in a temporary
directory), serves the app under gunicorn on a free loopback port with a first admin and the
OAuth token endpoints aimed at the stub upstream (scripts/stub_upstream.py), logs in,
and runs `schemathesis run` over /openapi.json with that session (`Authorization: Bearer`) and
a fixed seed, checking that no answer is a server error and that every answer is one the
document declares (status, content type, headers and body schema). DELETE
/api/sessions/current is left out: it would end the session the run depends on. Only the
manual OAuth refresh may answer its documented 502/503/504 (see CONFIG); gunicorn runs without
its request-line limit so that the app, not gunicorn's HTML 414 page, answers long URLs. The
server
runs with scripts/fuzz_sandbox on its path, which refuses every connection off this machine
(the fuzzer creates accounts with any base URL). It removes everything it made, except the
server's log when schemathesis found something; the exit status is schemathesis's (0: nothing
found).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from scripts.stub_upstream import StubUpstream  # noqa: E402
from tests.support.http import wait_until_ready  # noqa: E402
from tests.support.servers import free_port, pg_admin_dsn, pg_drop, pg_execute  # noqa: E402

PG_URL = os.environ.get("RELAYGATE_TEST_DATABASE_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ADMIN = ("fuzz-admin", "fuzz admin password 1")
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")
# Ending its own session would leave the rest of the run unauthenticated.
EXCLUDED = ("--exclude-name", "DELETE /api/sessions/current")
# The one operation whose documented answers include an upstream's failure (502/503/504): a
# refresh goes to the provider's token endpoint through the account's proxy, and the fuzzer
# gives accounts proxies that lead nowhere. Everywhere else any 5xx is a failure.
CONFIG = """
[[operations]]
include-name = "POST /api/accounts/{account_id}/refresh"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502", "503", "504"]
"""


def schemathesis_command(base_url: str, token: str, config: Path, *, seed: int,
                         max_examples: int, workers: int = 1,
                         extra: tuple[str, ...] = ()) -> list[str]:
    """The `schemathesis run` command line for a served app and an admin session token;
    `config` is where CONFIG was written."""
    return [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(config),
            "run", f"{base_url}/openapi.json", "--header", f"Authorization: Bearer {token}",
            "--seed", str(seed), "--max-examples", str(max_examples), "--checks", CHECKS,
            "--workers", str(workers), "--request-timeout", "30", "--no-color",
            "--suppress-health-check", "all", *EXCLUDED, *extra]


def admin_token(base_url: str) -> str:
    response = httpx.post(f"{base_url}/api/sessions/login", timeout=30,
                          json={"username": ADMIN[0], "password": ADMIN[1]})
    response.raise_for_status()
    return response.json()["data"]["sessionToken"]


def serve(database_url: str, instance_dir: Path, redis_url: str | None, stub_url: str,
          log_path: Path) -> tuple[subprocess.Popen, str]:
    bind = f"127.0.0.1:{free_port()}"
    token_urls = {f"RELAYGATE_OAUTH_TOKEN_URL_{provider}": f"{stub_url}/oauth/token"
                  for provider in ("CLAUDE", "OPENAI", "GEMINI")}
    env = {**os.environ, **token_urls, "DATABASE_URL": database_url, "RELAYGATE_BIND": bind,
           "RELAYGATE_INSTANCE_DIR": str(instance_dir), "RELAYGATE_ADMIN_USERNAME": ADMIN[0],
           "RELAYGATE_ADMIN_PASSWORD": ADMIN[1], "RELAYGATE_SECRET_KEY": uuid.uuid4().hex * 2,
           "RELAYGATE_WORKERS": "2", "RELAYGATE_THREADS": "16", "RELAYGATE_ACCESS_LOG": "",
           "RELAYGATE_DRAIN_USAGE": "0", "RELAYGATE_UPSTREAM_CONNECT_TIMEOUT": "2",
           # The app, not gunicorn's HTML 414 page, answers the fuzzer's longest URLs.
           "RELAYGATE_LIMIT_REQUEST_LINE": "0",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "scripts" / "fuzz_sandbox"), str(ROOT)])}
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
        env["RELAYGATE_REDIS_PREFIX"] = f"rgfuzz:{uuid.uuid4().hex[:8]}:"
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "heads"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=120)
    with log_path.open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                   "wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=log)
    wait_until_ready(f"http://{bind}/healthz", timeout=60, process=server)
    return server, f"http://{bind}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--redis-url", help="serve with Redis too (a throwaway key prefix)")
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--max-examples", type=int, default=220,
                        help="test cases per operation and phase (schemathesis -n)")
    parser.add_argument("--workers", type=int, default=1,
                        help="schemathesis workers (more than 1 upsets Hypothesis here)")
    parser.add_argument("extra", nargs="*", help="more `schemathesis run` options, after --")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="relaygate-fuzz-"))
    pg_name = None
    if args.database == "postgres":
        pg_name = f"rg_fuzz_{uuid.uuid4().hex[:10]}"
        pg_execute(pg_admin_dsn(PG_URL), f'CREATE DATABASE "{pg_name}"')
        database_url = PG_URL.rsplit("/", 1)[0] + "/" + pg_name
    else:
        database_url = f"sqlite:///{work / 'relaygate.db'}"
    server, status = None, 1
    stub = StubUpstream(rotate_refresh_tokens=False).start()
    try:
        server, base_url = serve(database_url, work, args.redis_url, stub.url,
                                 work / "server.log")
        config = work / "schemathesis.toml"
        config.write_text(CONFIG)
        command = schemathesis_command(base_url, admin_token(base_url), config, seed=args.seed,
                                       max_examples=args.max_examples, workers=args.workers,
                                       extra=tuple(args.extra))
        print("$", " ".join(part if "Bearer" not in part else "'Authorization: Bearer …'"
                            for part in command), flush=True)
        status = subprocess.run(command, cwd=work).returncode
        if status:
            print(f"server log: {work / 'server.log'}", flush=True)
        return status
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        stub.stop()
        if pg_name:
            pg_drop(pg_admin_dsn(PG_URL), pg_name)
        if not status:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
