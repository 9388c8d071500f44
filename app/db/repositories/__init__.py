"""Repositories: add, get and list rows; they never commit."""

from app.db.repositories.account_groups import AccountGroupRepository
from app.db.repositories.account_leases import AccountLeaseRepository
from app.db.repositories.accounts import AccountRepository
from app.db.repositories.admins import AdminRepository
from app.db.repositories.ai_models import AiModelRepository
from app.db.repositories.alerts import AlertDeliveryRepository, AlertRepository
from app.db.repositories.api_keys import ApiKeyRepository
from app.db.repositories.crs_import import CrsImportItemRepository, KeyHashPepperRepository
from app.db.repositories.health import HealthRepository
from app.db.repositories.limit_slots import KeyWindowHoldRepository, LimitSlotRepository
from app.db.repositories.login_failures import LoginFailureRepository
from app.db.repositories.metrics import MetricsRepository
from app.db.repositories.quota import (
    UsageCounterRepository,
    UsageIdempotencyRepository,
    UsageReservationRepository,
)
from app.db.repositories.sessions import SessionRepository
from app.db.repositories.sticky_sessions import StickySessionRepository
from app.db.repositories.storage import StorageStrategyRepository
from app.db.repositories.transactions import (
    StagedOperationRepository,
    StagedTransactionRepository,
)
from app.db.repositories.usage_baselines import UsageBaselineRepository
from app.db.repositories.usage_events import UsageEventRepository
from app.db.repositories.usage_queue import UsageQueueLedgerRepository
from app.db.repositories.usage_rollups import UsageRollupRepository
from app.db.repositories.usage_store import UsageStoreRepository
from app.db.repositories.users import PlanLimitRepository, UserRepository

# Attribute name on the unit of work -> repository class.
REPOSITORIES = {
    "admins": AdminRepository,
    "sessions": SessionRepository,
    "api_keys": ApiKeyRepository,
    "usage_events": UsageEventRepository,
    "usage_rollups": UsageRollupRepository,
    "usage_store": UsageStoreRepository,
    "health": HealthRepository,
    "accounts": AccountRepository,
    "account_leases": AccountLeaseRepository,
    "account_groups": AccountGroupRepository,
    "limit_slots": LimitSlotRepository,
    "key_window_holds": KeyWindowHoldRepository,
    "login_failures": LoginFailureRepository,
    "storage_strategies": StorageStrategyRepository,
    "metrics": MetricsRepository,
    "alerts": AlertRepository,
    "alert_deliveries": AlertDeliveryRepository,
    "staged_transactions": StagedTransactionRepository,
    "staged_operations": StagedOperationRepository,
    "models": AiModelRepository,
    "users": UserRepository,
    "plan_limits": PlanLimitRepository,
    "usage_counters": UsageCounterRepository,
    "usage_reservations": UsageReservationRepository,
    "usage_idempotency": UsageIdempotencyRepository,
    "crs_import_items": CrsImportItemRepository,
    "key_hash_peppers": KeyHashPepperRepository,
    "usage_baselines": UsageBaselineRepository,
    "sticky_sessions": StickySessionRepository,
    "usage_queue_ledger": UsageQueueLedgerRepository,
}

__all__ = [
    "REPOSITORIES",
    "AccountGroupRepository",
    "AccountLeaseRepository",
    "AccountRepository",
    "AdminRepository",
    "AlertDeliveryRepository",
    "AlertRepository",
    "ApiKeyRepository",
    "HealthRepository",
    "LimitSlotRepository",
    "KeyWindowHoldRepository",
    "LoginFailureRepository",
    "MetricsRepository",
    "SessionRepository",
    "StagedOperationRepository",
    "StagedTransactionRepository",
    "StorageStrategyRepository",
    "UsageEventRepository",
    "AiModelRepository",
    "PlanLimitRepository",
    "UsageCounterRepository",
    "UsageIdempotencyRepository",
    "UsageReservationRepository",
    "UserRepository",
    "UsageRollupRepository",
    "CrsImportItemRepository",
    "KeyHashPepperRepository",
    "UsageBaselineRepository",
    "StickySessionRepository",
    "UsageQueueLedgerRepository",
]
