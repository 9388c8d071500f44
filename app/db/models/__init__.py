"""Every mapped table, imported here so Alembic and the unit of work see them all."""

from app.db.models.admin import Admin
from app.db.models.api_key import ApiKey, ApiKeyTag
from app.db.models.session import Session
from app.db.models.usage import UsageEvent
from app.db.models.usage_stats import UsageRequestId, UsageRollup

__all__ = ["Admin", "ApiKey", "ApiKeyTag", "Session", "UsageEvent"]
__all__ += ["UsageRequestId", "UsageRollup"]
