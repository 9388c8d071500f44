"""The plans blueprint: each plan's limit and period per model type."""

from __future__ import annotations

from flask.views import MethodView

from app.api.auth import admin_required
from app.api.deps import services
from app.api.envelope import EnvelopeBlueprint, ErrorEnvelopeSchema
from app.api.schemas.plans import PlanLimitSchema, PlanLimitUpdateSchema

blp = EnvelopeBlueprint(
    "plans", __name__, url_prefix="/api/plans",
    description="Plan limits: uses per period of each model type. Periods start at "
                "midnight in the configured time zone.")


@blp.route("")
class Plans(MethodView):
    @blp.response(200, PlanLimitSchema(many=True))
    def get(self):
        """List every plan's limits (public)"""
        return services().plans.list()


@blp.route("/<plan>/<model_type>")
class PlanLimit(MethodView):
    @admin_required
    @blp.arguments(PlanLimitUpdateSchema)
    @blp.response(200, PlanLimitSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema, description="No such plan or type.")
    def put(self, body, plan, model_type):
        """Change one plan's limit and period for one model type (admin)

        Applies to the very next usage check, on every worker. Changing the period starts a
        fresh count.
        """
        return services().plans.set(plan, model_type, **body)
