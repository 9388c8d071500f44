"""The HTTP API: flask-smorest blueprints, OpenAPI at /openapi.json, Swagger UI at /docs."""

from __future__ import annotations

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
    ERROR_SCHEMA = ErrorEnvelopeSchema


def init_api(app: Flask) -> Api:
    for name, value in OPENAPI_CONFIG.items():
        app.config.setdefault(name, value)
    api = RelaygateApi(app, spec_kwargs={"marshmallow_plugin": SchemaExamplesPlugin()})
    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    gemini_native.register_converters(app, api)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    protocol_errors.document(api)
    app.register_blueprint(docs.blp)
    app.register_blueprint(home.blp)
    errors.register(app)
    security_headers.register(app)
    return api
