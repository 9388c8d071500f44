"""The `relaygate` command: what an operator runs (serve, demo and the app's own commands).

The `flask --app wsgi ...` forms of the app's commands keep working; this is the same click
commands under one name, plus `serve` (migrate, then gunicorn: what scripts/boot.sh runs) and
`demo` (the embedded default with the local stub upstream, for a first streamed answer).
"""

from __future__ import annotations

import os
import sys

import click
from flask.cli import ScriptInfo

from app.bootstrap import bootstrap, ensure_first_admin
from app.cli import create_admin, drain_usage, rotate_secrets, run_alerts
from app.config import PROJECT_ROOT, load_settings
from app.crs_import.command import import_crs


def _create_app():
    from app import create_app

    return create_app()


@click.group()
def cli() -> None:
    """Relaygate, the self-hosted AI API gateway.

    Settings come from the environment (docs/configuration.md lists every variable); with none
    set it runs on SQLite in instance/ without Redis.
    """


for command in (create_admin, drain_usage, run_alerts, import_crs, rotate_secrets):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """The console script; the app's commands find the app through Flask's ScriptInfo."""
    info = ScriptInfo(create_app=_create_app, set_debug_flag=False,
                      load_dotenv_defaults=False)
    cli.main(args=argv, prog_name="relaygate", obj=info)


def migrate() -> str:
    """Bring the configured database to the newest schema; answers its URL."""
    from app.db.migrations import upgrade

    url = load_settings().database_url
    upgrade(url)
    return url


def has_admin() -> bool:
    """Whether an admin exists, after creating the one the environment names (as start-up does)."""
    services = bootstrap(load_settings())
    try:
        ensure_first_admin(services)
        return services.admins.exists()
    finally:
        services.engine.dispose()


def announce(bind: str) -> None:
    click.echo(f"Relaygate on http://{bind}\n"
               f"  admin console:   http://{bind}/console\n"
               f"  key holders:     http://{bind}/portal (paste an API key to see its usage)\n"
               f"  Swagger UI:      http://{bind}/docs (OpenAPI: http://{bind}/openapi.json)")


@cli.command("serve")
@click.option("--bind", envvar="RELAYGATE_BIND", default="127.0.0.1:8000", show_default=True,
              help="Address gunicorn listens on (RELAYGATE_BIND).")
def serve(bind: str) -> None:
    """Migrate the database, then serve the app with gunicorn (gunicorn.conf.py)."""
    migrate()
    announce(bind)
    if not has_admin():
        # The script beside this interpreter: a newcomer's shell has no venv on its PATH.
        script = os.path.relpath(os.path.join(os.path.dirname(sys.executable), "relaygate"))
        click.echo("No admin yet? To sign in to the console, set RELAYGATE_ADMIN_USERNAME and "
                   f"RELAYGATE_ADMIN_PASSWORD before starting, or run:\n  {script} create-admin")
    os.environ["RELAYGATE_BIND"] = bind
    os.chdir(PROJECT_ROOT)
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "-c",
                              str(PROJECT_ROOT / "gunicorn.conf.py"), "wsgi:app"])


@cli.command("demo")
@click.option("--port", default=8000, show_default=True, help="Relaygate's port.")
@click.option("--stub-port", default=8099, show_default=True,
              help="The local stub upstream's port (it answers as OpenAI, Anthropic and "
                   "Gemini would).")
@click.option("--admin-password", default="demo-password-change-me", show_default=True,
              help="The password of the demo admin `admin` (created when missing).")
def demo(port: int, stub_port: int, admin_password: str) -> None:
    """Serve Relaygate with a local stub upstream and print how to get a first answer.

    Creates, when missing, an admin, an OpenAI-compatible account on the stub, a model that
    routes to it and an API key. Nothing reaches a real provider unless you add an account
    for one. Ctrl-C stops both servers.
    """
    from app.demo import run_demo

    run_demo(port=port, stub_port=stub_port, admin_password=admin_password)


if __name__ == "__main__":
    main()
