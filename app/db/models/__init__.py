"""Every mapped table, imported here so Alembic and the unit of work see them all."""

from app.db.models.account import Account, AccountLease
from app.db.models.admin import Admin
from app.db.models.alerts import Alert, AlertDelivery
from app.db.models.api_key import ApiKey, ApiKeyTag
from app.db.models.limit_slot import LimitSlot
from app.db.models.monitoring import MetricBucket, QueryStat
from app.db.models.session import Session
from app.db.models.storage import StorageStrategy
from app.db.models.transactions import StagedOperation, StagedTransaction
from app.db.models.usage import UsageEvent

__all__ = ["Account", "AccountLease", "Admin", "ApiKey", "ApiKeyTag", "LimitSlot", "Session",
           "UsageEvent"]
__all__ += ["Alert", "AlertDelivery", "MetricBucket", "QueryStat", "StagedOperation",
            "StagedTransaction", "StorageStrategy"]
