"""`flask --app wsgi import-crs` (and scripts/migrate_crs.py): options in, report out."""

from __future__ import annotations

import click
import redis
from flask import current_app
from flask.cli import with_appcontext

from app.bootstrap import services_of
from app.crs_import.crs_crypto import WrongEncryptionKey
from app.crs_import.crs_source import CrsSource
from app.crs_import.importer import ImportService
from app.crs_import.report import PHASES


def _phases(_ctx, _param, value: str) -> list[str]:
    chosen = [part.strip() for part in value.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(PHASES))
    if unknown or not chosen:
        raise click.BadParameter(f"choose among {', '.join(PHASES)} (got {value!r})")
    return chosen


@click.command("import-crs")
@with_appcontext
@click.option("--redis-url", required=True,
              help="The claude-relay-service Redis, e.g. redis://:password@host:6379/0.")
@click.option("--crs-encryption-key", required=True, envvar="CRS_ENCRYPTION_KEY",
              help="The source's ENCRYPTION_KEY (or set CRS_ENCRYPTION_KEY).")
@click.option("--timezone-offset", type=float, default=8, show_default=True,
              help="The source's TIMEZONE_OFFSET in hours: its usage buckets are local time.")
@click.option("--dry-run", is_flag=True, help="Read and map everything; write nothing.")
@click.option("--only", default=",".join(PHASES), show_default=True, callback=_phases,
              help="Comma-separated phases to run.")
@click.option("--pause-after", type=int, default=None, hidden=True,
              help="Testing: sleep after this many written records, to be killed there.")
def import_crs(redis_url: str, crs_encryption_key: str, timezone_offset: float, dry_run: bool,
               only: list[str], pause_after: int | None) -> None:
    """Move a claude-relay-service Redis store into Relaygate (idempotent, resumable)."""
    services = services_of(current_app)
    client = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=30)
    importer = ImportService(uow=services.uow, keys=services.keys, box=services.accounts.box,
                             groups=services.account_groups, usage=services.usage,
                             pause_after=pause_after)
    try:
        client.ping()
        report = importer.run(CrsSource(client, crs_encryption_key, timezone_offset),
                              phases=only, dry_run=dry_run)
    except WrongEncryptionKey as error:
        raise click.ClickException(f"{error} Nothing was written.") from error
    except redis.RedisError as error:
        raise click.ClickException(f"cannot read the CRS store at --redis-url: {error}") from error
    finally:
        client.close()
    for line in report.lines():
        click.echo(line)
    if not report.found_anything:
        raise click.ClickException(
            "The source holds nothing claude-relay-service writes (no API keys, accounts, usage "
            "or admin): check --redis-url, including its database number.")
    if not report.ok:
        raise click.exceptions.Exit(1)
