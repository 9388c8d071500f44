"""Relaygate: the app factory; the services themselves come from app.bootstrap."""

from __future__ import annotations

import logging
from inspect import iscoroutinefunction
from types import FunctionType, MethodType

from flask import Flask

from app.api import init_api, input_guard
from app.api.cookie_sessions import CookieSessions
from app.api.request_metrics import instrument_requests
from app.bootstrap import EXTENSION, Services, bootstrap, ensure_first_admin, services_of
from app.cli import register_commands
from app.config import load_settings
from app.jsonio import JSONProvider
from app.security import keep_url_secrets_out_of
from app.web import init_web

__all__ = ["Services", "create_app", "services_of"]


class Relaygate(Flask):
    """Flask, asking once per function whether it is a coroutine function.

    Flask and flask-smorest pass every hook, view and decorator layer through `ensure_sync` on
    every request (some twenty times a request), and `inspect.iscoroutinefunction` unwraps and
    inspects each anew. A function's answer never changes. Only functions and the methods of
    MethodViews (by their function: a view's bound method is new on every request) are
    remembered, so the table holds what the app registered and nothing per request.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._coroutine: dict[FunctionType, bool] = {}

    def ensure_sync(self, func):
        kind = type(func)
        if kind is FunctionType:
            target = func
        elif kind is MethodType and type(func.__func__) is FunctionType:
            target = func.__func__
        else:
            return super().ensure_sync(func)
        coroutine = self._coroutine.get(target)
        if coroutine is None:
            coroutine = self._coroutine[target] = iscoroutinefunction(target)
        return self.async_to_sync(func) if coroutine else func


def create_app(config: dict | None = None) -> Flask:
    """Build the app; `config` overrides settings read from the environment (tests)."""
    settings = load_settings(config)
    app = Relaygate(__name__, instance_path=str(settings.instance_dir))
    app.json = JSONProvider(app)
    app.session_interface = CookieSessions()
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["MAX_CONTENT_LENGTH"] = 10 * 1024 * 1024

    services = bootstrap(settings)
    app.extensions[EXTENSION] = services
    init_api(app)
    init_web(app)
    instrument_requests(app, services.monitoring)
    input_guard.register(app, max_depth=settings.max_json_depth)
    register_commands(app)
    ensure_first_admin(services)
    # The development server's request log (`flask run`); gunicorn's: app/serving/logs.py.
    keep_url_secrets_out_of(logging.getLogger("werkzeug"))
    return app
