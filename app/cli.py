"""Flask CLI commands (`flask --app wsgi ...`); each calls a service."""

from __future__ import annotations

import os
import signal
import socket
import threading

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app import collector
from app.bootstrap import services_of
from app.crs_import.command import import_crs
from app.crypto import SecretError
from app.errors import DomainError
from app.services.alerts.evaluator_lock import EvaluatorLock
from app.services.usage.drain import DrainWorker


def register_commands(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(rotate_secrets)
    app.cli.add_command(drain_usage)
    app.cli.add_command(run_alerts)
    app.cli.add_command(import_crs)


@click.command("create-admin")
@with_appcontext
@click.option("--username", prompt=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_admin(username: str, password: str) -> None:
    """Create an admin who can log in at POST /api/sessions/login."""
    try:
        admin = services_of(current_app).admins.create(username, password)
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
        done = services_of(current_app).secrets.rotate(old_keys)
    except (DomainError, SecretError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"re-encrypted {done['secrets']} secrets in {done['rows']} rows "
               f"under key {done['key_id']}")
@click.command("drain-usage")
@with_appcontext
@click.option("--consumer", default=lambda: f"{socket.gethostname()}-{os.getpid()}",
              help="This worker's name in the consumer group.")
@click.option("--once", is_flag=True, help="Drain what is waiting, then stop.")
@click.option("--idle-sleep", default=1.0, show_default=True,
              help="Seconds to wait when the queue is empty; a record waits about this long "
                   "at most, plus one pass, to be stored.")
@click.option("--batch", default=500, show_default=True,
              help="Most entries stored in one transaction.")
@click.option("--pace", default=0.2, show_default=True,
              help="Least seconds to wait after a pass that found less than a full batch, so "
                   "that the next one stores more at once (the fewer it found, the longer, up "
                   "to --idle-sleep).")
def drain_usage(consumer: str, once: bool, idle_sleep: float, batch: int, pace: float) -> None:
    """Store queued usage records (the write-behind worker of the `usage` strategy).

    Redis or database trouble never stops it (it retries with backoff); SIGTERM makes it store
    what is waiting, then stop."""
    services = services_of(current_app)
    if services.usage_queue is None:
        raise click.ClickException("No Redis is configured (REDIS_URL): there is no usage queue.")
    if not once:
        # A worker that lives on (gunicorn's, or one run beside it): its collector settled as the
        # app's workers' are. `--once` ends with its pass and leaves its process's collector
        # alone (it may be run inside another program, a test's or a scheduler's).
        collector.settle(services.settings.gc_threshold)

    def report(result) -> None:
        # As often as the app's workers (metrics_flush_seconds), not every pass: a flush is an
        # INFO and a pipeline of writes to Redis, more than an idle pass costs by itself.
        services.monitoring.maybe_flush()
        if result.recorded or result.duplicates or result.dead:
            click.echo(f"stored {result.recorded}, duplicates {result.duplicates}, "
                       f"dead-lettered {result.dead}")

    worker = DrainWorker(queue=services.usage_queue, consumer=consumer, idle_sleep=idle_sleep,
                         batch=batch, pace=pace, on_pass=report)
    worker.run(_stop_on_signals(), once=once)
    services.monitoring.flush()


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so a worker finishes its current step and stops."""
    stopping = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stopping.set())
    return stopping


@click.command("run-alerts")
@with_appcontext
@click.option("--once", is_flag=True, help="Evaluate once, deliver what is due, then stop.")
@click.option("--interval", type=float, default=None,
              help="Seconds between evaluations (default RELAYGATE_ALERT_INTERVAL).")
def run_alerts(once: bool, interval: float | None) -> None:
    """Evaluate the performance alerts and send their webhooks (one instance at a time)."""
    services = services_of(current_app)
    interval = interval or services.settings.alert_interval_seconds
    lock = EvaluatorLock(services.cache, ttl_seconds=interval * 3)
    stopping = _stop_on_signals()
    try:
        while not stopping.is_set():
            if lock.acquire_or_extend():
                result = services.alerts.evaluate_once()
                for event in result["events"]:
                    click.echo(f"alert {event['alert_id']} {event['event']} at {event['value']}")
            services.monitoring.flush()
            if once:
                return
            stopping.wait(interval)
    finally:
        lock.release()
