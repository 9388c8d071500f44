"""`relaygate demo`: Relaygate and the local stub upstream, set up for a first streamed answer.

The stub (scripts/stub_upstream.py) answers as OpenAI, Anthropic and Gemini would, from this
machine; the demo's accounts point at it, so nothing reaches a real provider. What the demo
creates is ordinary data (an admin, two accounts, an API key), kept between runs: the key's
plaintext, shown once by the API, is kept in instance/demo-api-key so a second run can print it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from app.bootstrap import bootstrap
from app.config import PROJECT_ROOT, load_settings
from app.errors import DomainError

DEMO_ADMIN = "admin"
DEMO_KEY_NAME = "demo"
DEMO_MODEL = "openai/gpt-4o-mini"
STUB_ACCOUNTS = (("demo-stub-openai", "openai", "/v1"), ("demo-stub-claude", "claude", ""),
                 ("demo-stub-gemini", "gemini", ""))


@dataclass(frozen=True)
class DemoSetup:
    admin_created: bool
    api_key: str


def prepare(services, *, stub_url: str, admin_password: str, key_file: Path) -> DemoSetup:
    """Create what is missing: the admin, accounts on the stub, the demo key."""
    admin_created = False
    if not services.admins.exists():
        services.admins.create(DEMO_ADMIN, admin_password)
        admin_created = True
    for name, provider, path in STUB_ACCOUNTS:
        base_url = stub_url + path
        found = [a for a in services.accounts.list(provider=provider, limit=100)["accounts"]
                 if a["name"] == name]
        if not found:
            services.accounts.create({"name": name, "provider": provider,
                                      "api_key": f"sk-demo-{provider}", "base_url": base_url})
        elif found[0].get("baseUrl") != base_url:  # the stub may listen on another port now
            services.accounts.update(found[0]["id"], {"base_url": base_url})
    return DemoSetup(admin_created, _demo_key(services, key_file))


def _demo_key(services, key_file: Path) -> str:
    if key_file.exists():
        plaintext = key_file.read_text().strip()
        with contextlib.suppress(DomainError):
            services.keys.authenticate(plaintext, fresh=True)
            return plaintext
    issued = services.keys.create({"name": DEMO_KEY_NAME, "tags": ["demo"],
                                   "description": "Created by `relaygate demo`."})
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(issued.api_key + "\n")
    key_file.chmod(0o600)
    return issued.api_key


def instructions(base: str, api_key: str) -> list[str]:
    """What a newcomer pastes next, one client a paragraph."""
    body = ('{"model": "' + DEMO_MODEL + '", "stream": true, '
            '"messages": [{"role": "user", "content": "Hello!"}]}')
    return [
        f"Relaygate demo on {base} (Swagger UI: {base}/docs); the upstream is a local stub.",
        f"Console: {base}/console (user {DEMO_ADMIN!r}); your key's usage: "
        f"{base}/portal",
        "",
        f"Your API key: {api_key}",
        "",
        "A streamed answer with curl:",
        f"  curl -N {base}/v1/chat/completions -H 'Authorization: Bearer {api_key}' \\",
        f"       -H 'Content-Type: application/json' -d '{body}'",
        "",
        # One logical line of Python (bash joins the continuations), so that pasting it with
        # the indentation shown still runs; the checkout's venv, since a newcomer's shell has
        # no `python` with openai on PATH.
        "With the openai package (first: .venv/bin/pip install openai):",
        f"  .venv/bin/python -c \"from openai import OpenAI; c = OpenAI(base_url='{base}/v1', "
        f"api_key='{api_key}'); \\",
        f"       s = c.chat.completions.create(model='{DEMO_MODEL}', stream=True, "
        "messages=[{'role': 'user', 'content': 'Hello!'}]); \\",
        "       [print(e.choices[0].delta.content or '', end='', flush=True) for e in s "
        "if e.choices]; print()\"",
        "",
        "Claude Code (its Claude models are answered by the stub's Claude account):",
        f"  ANTHROPIC_BASE_URL={base} ANTHROPIC_AUTH_TOKEN={api_key} claude",
        "",
        "Gemini CLI (its Gemini models are answered by the stub's Gemini account):",
        f"  GOOGLE_GEMINI_BASE_URL={base} GEMINI_API_KEY={api_key} gemini",
        "",
        "Ctrl-C stops Relaygate and the stub.",
    ]


def run_demo(*, port: int, stub_port: int, admin_password: str) -> None:
    sys.path.insert(0, str(PROJECT_ROOT))
    from app.main import migrate
    from scripts.stub_upstream import StubUpstream

    migrate()
    settings = load_settings()
    signal.signal(signal.SIGTERM, _interrupt)  # stop both servers as Ctrl-C does
    stub = StubUpstream(port=stub_port, tokens=24, token_delay=0.05).start()
    try:
        services = bootstrap(settings)
        setup = prepare(services, stub_url=stub.url, admin_password=admin_password,
                        key_file=settings.instance_dir / "demo-api-key")
        base = f"http://127.0.0.1:{port}"
        if setup.admin_created:
            click.echo(f"Created the admin {DEMO_ADMIN!r} with password {admin_password!r}.")
        for line in instructions(base, setup.api_key):
            click.echo(line)
        _serve(port)
    finally:
        stub.stop()


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def _serve(port: int) -> None:
    """gunicorn in the foreground until Ctrl-C (or its own exit)."""
    env = {**os.environ, "RELAYGATE_BIND": f"127.0.0.1:{port}"}
    env.setdefault("RELAYGATE_WORKERS", "1")  # one worker is plenty for a demo
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c",
                               str(PROJECT_ROOT / "gunicorn.conf.py"), "wsgi:app"],
                              cwd=PROJECT_ROOT, env=env)
    try:
        server.wait()
    except KeyboardInterrupt:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
