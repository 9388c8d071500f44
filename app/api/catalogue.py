"""The model catalogue blueprint: prices and tiers change here, without a deploy (admin only)."""

from __future__ import annotations

from flask.views import MethodView

from app.api.auth import admin_required
from app.api.deps import services
from app.api.envelope import EnvelopeBlueprint, ErrorEnvelopeSchema
from app.api.schemas.catalogue import (
    ModelCreateSchema,
    ModelQueryArgsSchema,
    ModelSchema,
    ModelUpdateSchema,
)

blp = EnvelopeBlueprint(
    "models", __name__, url_prefix="/api/models",
    description="The model catalogue: tier (premium or basic), upstream model and "
                "prices in USD per million tokens. Admin only.")


@blp.route("")
class Models(MethodView):
    @admin_required
    @blp.arguments(ModelQueryArgsSchema, location="query")
    @blp.response(200, ModelSchema(many=True))
    def get(self, args):
        """List the catalogue, by provider then id"""
        return services().models.list(**args)

    @admin_required
    @blp.arguments(ModelCreateSchema)
    @blp.response(201, ModelSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema, description="The id or name is taken.")
    def post(self, body):
        """Add a model

        Usage checks see its tier at once, under its id and under its name.
        """
        return services().models.create(body)


@blp.route("/<path:model_id>")
class Model(MethodView):
    @admin_required
    @blp.response(200, ModelSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def get(self, model_id):
        """Get a model (ids contain a slash: /api/models/openai/gpt-4o)"""
        return services().models.get(model_id)

    @admin_required
    @blp.arguments(ModelUpdateSchema)
    @blp.response(200, ModelSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema, description="The name is taken.")
    def patch(self, body, model_id):
        """Change a model's tier, prices, name or other fields

        Applies to the very next usage check, on every worker. `isActive: true` reactivates.
        """
        return services().models.update(model_id, body)

    @admin_required
    @blp.response(200, ModelSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def delete(self, model_id):
        """Deactivate a model

        The row stays (usage history refers to it) and keeps its tier; it is no longer offered.
        """
        return services().models.deactivate(model_id)
