"""Liveness and readiness probes."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from app.api.deps import services
from app.api.envelope import EnvelopeBlueprint
from app.api.schemas.base import CamelDict, CamelSchema, camelcase
from app.errors import Unavailable

blp = EnvelopeBlueprint(
    "health", __name__, description="Liveness and readiness probes.")


class LivenessSchema(Schema):
    status = fields.String(metadata={"example": "ok"})


class _Checks(fields.Dict):
    """{check name: its figures}, the figures' names in camelCase."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return {name: {camelcase(figure): found for figure, found in check.items()}
                for name, check in value.items()}


class ReadinessSchema(CamelSchema):
    status = fields.String(metadata={"example": "ready"})
    checks = _Checks()
    usage_queue = CamelDict(metadata={
        "description": "The usage queue (running, drains, backlog, oldestPendingAge in "
                       "seconds, lostRecords); reported, never a reason to be unready."})


@blp.route("/healthz")
class Liveness(MethodView):
    @blp.response(200, LivenessSchema)
    def get(self):
        """The process is alive"""
        return {"status": "ok"}


@blp.route("/readyz")
class Readiness(MethodView):
    @blp.response(200, ReadinessSchema)
    @blp.alt_response(503, description="The database (or Redis, when configured) is not ready.")
    def get(self):
        """The database is reachable and migrated to head; Redis answers when configured"""
        ready, report = services().health.readiness()
        if not ready:
            raise Unavailable("A dependency is not ready.", code="NOT_READY",
                              details=ReadinessSchema().dump(report))
        return {"status": "ready", **report}
