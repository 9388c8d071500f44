"""Repositories: add, get and list rows; they never commit."""

from app.db.repositories.admins import AdminRepository
from app.db.repositories.api_keys import ApiKeyRepository
from app.db.repositories.health import HealthRepository
from app.db.repositories.sessions import SessionRepository
from app.db.repositories.usage_events import UsageEventRepository
from app.db.repositories.usage_rollups import UsageRollupRepository

# Attribute name on the unit of work -> repository class.
REPOSITORIES = {
    "admins": AdminRepository,
    "sessions": SessionRepository,
    "api_keys": ApiKeyRepository,
    "usage_events": UsageEventRepository,
    "usage_rollups": UsageRollupRepository,
    "health": HealthRepository,
}

__all__ = [
    "REPOSITORIES",
    "AdminRepository",
    "ApiKeyRepository",
    "HealthRepository",
    "SessionRepository",
    "UsageEventRepository",
    "UsageRollupRepository",
]
