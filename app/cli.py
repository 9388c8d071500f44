"""Flask CLI commands (`flask --app wsgi ...`); each calls a service."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.errors import DomainError


def register_commands(app: Flask) -> None:
    app.cli.add_command(create_admin)


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
