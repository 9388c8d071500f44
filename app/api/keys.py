"""The keys blueprint: the ApiKeyInterface, for admins, and /api/keys/me for key holders."""

from __future__ import annotations

from flask.views import MethodView

from app.api.auth import admin_required, api_key_required
from app.api.deps import principal, services
from app.api.envelope import EmptySchema, EnvelopeBlueprint, ErrorEnvelopeSchema
from app.api.schemas.keys import (
    SORT_FIELDS,
    KeyCreatedSchema,
    KeyCreateSchema,
    KeyPageSchema,
    KeyQueryArgsSchema,
    KeyReportSchema,
    KeySchema,
    KeyUpdateSchema,
    KeyValidateSchema,
    KeyValidationSchema,
    KeyWithLimitsSchema,
    UsageInputSchema,
    UsageRecordedSchema,
)
from app.errors import RecordNotFound
from app.services.usage.service import UsageRecord

blp = EnvelopeBlueprint(
    "keys", __name__, url_prefix="/api/keys",
    description="API keys (ApiKeyInterface). Admin only, except /api/keys/me.")


@blp.route("")
class Keys(MethodView):
    @admin_required
    @blp.arguments(KeyQueryArgsSchema, location="query")
    @blp.response(200, KeyPageSchema)
    def get(self, args):
        """List API keys (getAllApiKeys)

        `tags` may repeat; a key matches when it has every tag asked for. Deleted keys are
        left out unless `includeDeleted=true`. `page` counts from 1.
        """
        args["sort_by"] = SORT_FIELDS[args["sort_by"]]
        return services().keys.list(**args)

    @admin_required
    @blp.arguments(KeyCreateSchema)
    @blp.response(201, KeyCreatedSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema, description="The id is taken.")
    def post(self, body):
        """Create an API key (createApiKey)

        The answer carries the plaintext key once; only its SHA-256 is stored.
        """
        return services().keys.create(body)


@blp.route("/me")
class OwnKey(MethodView):
    @api_key_required
    @blp.response(200, KeyWithLimitsSchema)
    @blp.alt_response(401, schema=ErrorEnvelopeSchema, description="Missing or invalid key.")
    def get(self):
        """The calling key's own data, limits and usage

        `limits` lists each of the key's limits with what is used and what remains now.
        """
        return services().key_report.view(principal().id)


@blp.route("/me/usage")
class OwnKeyUsage(MethodView):
    @api_key_required
    @blp.response(200, KeyReportSchema)
    @blp.alt_response(401, schema=ErrorEnvelopeSchema, description="Missing or invalid key.")
    def get(self):
        """The calling key's limits and what remains, its usage and the models it may use

        What the key holders' portal (/portal) shows: usage per day over the last 30 days and
        per model, each limit with what is used and what remains (tokens in total, cost
        today in the quota time zone), and the active catalogue models its permissions allow.
        Nothing of any other key.
        """
        return services().key_report.for_key(principal().id)


@blp.route("/validate")
class Validate(MethodView):
    @admin_required
    @blp.arguments(KeyValidateSchema)
    @blp.response(200, KeyValidationSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema, description="No key has that hash.")
    def post(self, body):
        """Validate a key by its SHA-256 hex (validateApiKey)"""
        found = services().keys.validate(body["hashed_key"])
        if found is None:
            raise RecordNotFound("API key", by="hash")
        return found


@blp.route("/<key_id>")
class Key(MethodView):
    @admin_required
    @blp.response(200, KeyWithLimitsSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def get(self, key_id):
        """Get an API key (getApiKey)

        `limits` lists each of the key's limits with what is used and what remains now.
        """
        return services().key_report.view(key_id)

    @admin_required
    @blp.arguments(KeyUpdateSchema)
    @blp.response(200, KeySchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def patch(self, body, key_id):
        """Change some of a key's fields (updateApiKey)

        The change applies to the very next request on every worker.
        """
        return services().keys.update(key_id, body)

    @admin_required
    @blp.response(200, EmptySchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def delete(self, key_id):
        """Delete an API key (deleteApiKey)

        The key stops working at once; its row and usage history stay.
        """
        services().keys.delete(key_id)
        return {}


@blp.route("/<key_id>/usage")
class KeyUsage(MethodView):
    @admin_required
    @blp.arguments(UsageInputSchema)
    @blp.response(201, UsageRecordedSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    @blp.alt_response(422, schema=ErrorEnvelopeSchema,
                      description="A bad field, or a timestamp outside the usage retention.")
    def post(self, body, key_id):
        """Record usage against a key (recordApiKeyUsage)

        Stored as an admin's report (`source` `admin`). Running totals stay exact under
        concurrent calls. Under the `usage` storage strategy `write_behind` the record is
        queued (`queued: true`) and a worker stores it.
        """
        return services().usage_reports.record_for_key(UsageRecord(api_key_id=key_id, **body))
