"""Storage strategies and storage health (StorageStrategyInterface), for admins."""

from __future__ import annotations

from flask.views import MethodView

from app.api.auth import admin_required
from app.api.deps import services
from app.api.envelope import EnvelopeBlueprint, ErrorEnvelopeSchema
from app.api.schemas.storage import (
    StorageConfigSchema,
    StorageHealthSchema,
    StorageSwitchedSchema,
    StorageSwitchSchema,
)
from app.services.storage import strategies as config

blp = EnvelopeBlueprint(
    "admin_storage", __name__, url_prefix="/api/admin",
    description="Storage strategies and the health of PostgreSQL and Redis. "
                + config.__doc__.split("\n", 1)[1])

@blp.route("/storage/health")
class StorageHealth(MethodView):
    @admin_required
    @blp.response(200, StorageHealthSchema)
    def get(self):
        """Health of the database and Redis (getStorageHealth)

        `poolStatus` is this process's connection pool; Redis `memory` comes from `INFO`.
        With Redis stopped the answer still comes, with `connected: false`.
        """
        return services().storage_health.check()


@blp.route("/storage/<data_type>")
class StorageStrategy(MethodView):
    @admin_required
    @blp.response(200, StorageConfigSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def get(self, data_type):
        """The storage strategy of a data type (getStorageConfig)

        `dataType` is one of `apikey`, `account`, `usage`, `session`.
        """
        return services().storage.get(data_type)

    @admin_required
    @blp.arguments(StorageSwitchSchema)
    @blp.response(200, StorageSwitchedSchema)
    @blp.alt_response(422, schema=ErrorEnvelopeSchema,
                      description="STRATEGY_REFUSED: the combination could lose data or "
                                  "authorise wrongly; `details` gives the reason per field.")
    def put(self, new, data_type):
        """Switch a data type's storage strategy (switchStorageStrategy)

        Stored in the database and announced to every worker of every instance, which follow
        it within about a quarter of a second.
        """
        return services().storage.switch(data_type, new)
