"""Every mapped table, imported here so Alembic and the unit of work see them all."""

from app.db.models.admin import Admin
from app.db.models.ai_model import AiModel
from app.db.models.api_key import ApiKey, ApiKeyTag
from app.db.models.quota import UsageCounter, UsageIdempotencyKey, UsageReservation
from app.db.models.session import Session
from app.db.models.usage import UsageEvent
from app.db.models.user import PlanLimit, User

__all__ = ["Admin", "ApiKey", "ApiKeyTag", "Session", "UsageEvent"]
__all__ += ["AiModel", "PlanLimit", "UsageCounter", "UsageIdempotencyKey", "UsageReservation",
            "User"]
