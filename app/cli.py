"""Flask CLI commands (`flask --app wsgi ...`); each calls a service."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.crypto import SecretError
from app.errors import DomainError


def register_commands(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(rotate_secrets)


@click.command("create-admin")
@with_appcontext
@click.option("--username", prompt=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_admin(username: str, password: str) -> None:
    """Create an admin who can log in at POST /api/sessions/login."""
    try:
        admin = current_app.extensions["relaygate"].admins.create(username, password)
    except DomainError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"created admin {admin.username} ({admin.id})")


@click.command("rotate-secrets")
@with_appcontext
@click.option("--old-key", "old_keys", multiple=True, envvar="RELAYGATE_SECRET_KEY_OLD",
              help="A master secret that sealed stored values (repeatable). Secrets listed in "
                   "RELAYGATE_SECRET_KEY_PREVIOUS are tried as well.")
def rotate_secrets(old_keys: tuple[str, ...]) -> None:
    """Re-encrypt every stored secret under the current RELAYGATE_SECRET_KEY."""
    try:
        done = current_app.extensions["relaygate"].secrets.rotate(old_keys)
    except (DomainError, SecretError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"re-encrypted {done['secrets']} secrets in {done['rows']} rows "
               f"under key {done['keyId']}")
