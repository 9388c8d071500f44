"""Repositories: add, get and list rows; they never commit."""

from app.db.repositories.admins import AdminRepository
from app.db.repositories.ai_models import AiModelRepository
from app.db.repositories.api_keys import ApiKeyRepository
from app.db.repositories.health import HealthRepository
from app.db.repositories.quota import (
    UsageCounterRepository,
    UsageIdempotencyRepository,
    UsageReservationRepository,
)
from app.db.repositories.sessions import SessionRepository
from app.db.repositories.usage_events import UsageEventRepository
from app.db.repositories.users import PlanLimitRepository, UserRepository

# Attribute name on the unit of work -> repository class.
REPOSITORIES = {
    "admins": AdminRepository,
    "sessions": SessionRepository,
    "api_keys": ApiKeyRepository,
    "usage_events": UsageEventRepository,
    "health": HealthRepository,
    "models": AiModelRepository,
    "users": UserRepository,
    "plan_limits": PlanLimitRepository,
    "usage_counters": UsageCounterRepository,
    "usage_reservations": UsageReservationRepository,
    "usage_idempotency": UsageIdempotencyRepository,
}

__all__ = [
    "REPOSITORIES",
    "AdminRepository",
    "ApiKeyRepository",
    "HealthRepository",
    "SessionRepository",
    "UsageEventRepository",
    "AiModelRepository",
    "PlanLimitRepository",
    "UsageCounterRepository",
    "UsageIdempotencyRepository",
    "UsageReservationRepository",
    "UserRepository",
]
