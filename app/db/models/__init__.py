"""Every mapped table, imported here so Alembic and the unit of work see them all."""

from app.db.models.account import Account, AccountLease
from app.db.models.account_group import AccountGroup, AccountGroupMember, ApiKeyBinding
from app.db.models.admin import Admin
from app.db.models.ai_model import AiModel
from app.db.models.alerts import Alert, AlertDelivery
from app.db.models.api_key import ApiKey, ApiKeyTag
from app.db.models.crs_import import CrsImportItem, KeyHashPepper
from app.db.models.limit_slot import KeyWindowHold, LimitSlot
from app.db.models.login_failure import LoginFailure
from app.db.models.monitoring import MetricBucket, QueryStat
from app.db.models.quota import UsageCounter, UsageIdempotencyKey, UsageReservation
from app.db.models.session import Session
from app.db.models.sticky_session import StickySession
from app.db.models.storage import StorageStrategy
from app.db.models.transactions import StagedOperation, StagedTransaction
from app.db.models.usage import UsageEvent
from app.db.models.usage_baseline import UsageBaseline
from app.db.models.usage_queue import UsageQueueLedger
from app.db.models.usage_stats import UsageRequestId, UsageRollup
from app.db.models.user import PlanLimit, User

__all__ = ["Account", "AccountLease", "Admin", "ApiKey", "ApiKeyTag", "LimitSlot", "Session",
           "UsageEvent"]
__all__ += ["Alert", "AlertDelivery", "MetricBucket", "QueryStat", "StagedOperation",
            "StagedTransaction", "StorageStrategy"]
__all__ += ["AiModel", "PlanLimit", "UsageCounter", "UsageIdempotencyKey", "UsageReservation",
            "User"]
__all__ += ["UsageRequestId", "UsageRollup"]
__all__ += ["CrsImportItem", "KeyHashPepper", "UsageBaseline"]
__all__ += ["KeyWindowHold", "LoginFailure", "StickySession", "UsageQueueLedger"]
__all__ += ["AccountGroup", "AccountGroupMember", "ApiKeyBinding"]
