"""The HTTP API: flask-smorest blueprints, OpenAPI at /openapi.json, Swagger UI at /docs."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask
from flask_smorest import Api

from app.api import (
    account_groups,
    accounts,
    admin_alerts,
    admin_monitoring,
    admin_storage,
    admin_transactions,
    ai,
    anthropic_compat,
    catalogue,
    client_models,
    docs,
    errors,
    gemini_native,
    health,
    home,
    keys,
    legacy,
    openai_compat,
    openai_responses_api,
    plans,
    prometheus,
    protocol_errors,
    security_headers,
    sessions,
    usage_stats,
    users,
)
from app.api import quota as usage
from app.api.auth import SECURITY_SCHEMES
from app.api.envelope import ErrorEnvelopeSchema
from app.api.openapi_examples import SchemaExamplesPlugin

BLUEPRINTS = [health.blp, sessions.blp, keys.blp, accounts.blp, ai.blp, legacy.blp,
              openai_compat.blp, openai_responses_api.blp, anthropic_compat.blp,
              gemini_native.blp]
BLUEPRINTS += [users.blp, plans.blp, catalogue.blp, usage.blp, usage_stats.blp]
BLUEPRINTS += [client_models.blp, account_groups.blp]
BLUEPRINTS += [admin_storage.blp, admin_monitoring.blp, admin_alerts.blp,
               admin_transactions.blp, prometheus.blp]

OPENAPI_CONFIG = {
    "API_TITLE": "Relaygate",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/docs",
    "OPENAPI_SWAGGER_UI_URL": docs.ASSETS_URL,
    "OPENAPI_SWAGGER_UI_CONFIG": {"persistAuthorization": True},
    "API_SPEC_OPTIONS": {
        "info": {"description": "A self-hosted AI API gateway. Every answer is "
                                "`{success, data}` or `{success: false, error: {code, message}}`."},
    },
}


class RelaygateApi(Api):
    """flask-smorest's Api, whose OpenAPI document is written on first use of `spec`.

    Documenting every route is half of create_app's work, and a worker (or a test's app) that
    is never asked for /openapi.json or /docs does not need it. Blueprints still route at once;
    their documentation, and whatever `document_later` was given, runs in registration order
    when `spec` is first read, once, under a lock (two first requests must not see half of it).
    """

    ERROR_SCHEMA = ErrorEnvelopeSchema

    def __init__(self, *args, **kwargs):
        self._undocumented: list[Callable[[], None]] = []
        self._documented = True
        self._writing = False
        self._documenting = threading.RLock()
        super().__init__(*args, **kwargs)

    @property
    def spec(self):
        if not self._documented:
            with self._documenting:
                if self._writing:  # a write reading `spec` on this thread; others wait above
                    return self._spec
                self._writing = True
                try:
                    while self._undocumented:
                        self._undocumented.pop(0)()
                finally:
                    self._writing = False
                self._documented = True
        return self._spec

    @spec.setter
    def spec(self, value) -> None:
        self._spec = value

    def register_blueprint(self, blp, *, parameters=None, **options):
        # Api.register_blueprint, with its documentation half deferred.
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)

        def write() -> None:
            blp.register_views_in_doc(self, self._app, self._spec, name=name,
                                      parameters=parameters)
            self._spec.tag({"name": name, "description": blp.description})

        self.document_later(write)

    def document_later(self, write: Callable[[], None]) -> None:
        self._undocumented.append(write)
        self._documented = False


def init_api(app: Flask) -> Api:
    for name, value in OPENAPI_CONFIG.items():
        app.config.setdefault(name, value)
    api = RelaygateApi(app, spec_kwargs={"marshmallow_plugin": SchemaExamplesPlugin()})
    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    gemini_native.register_converters(app, api)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    api.document_later(lambda: protocol_errors.document(api))
    app.register_blueprint(docs.blp)
    app.register_blueprint(home.blp)
    errors.register(app)
    security_headers.register(app)
    return api
