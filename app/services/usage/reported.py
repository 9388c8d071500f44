"""UsageReports: usage reported through the API by a key holder or an admin, checked first.

The relay records what it served itself (source 'relay'). A report is stored under its own
source ('client' from a key holder, 'admin' from an admin) and its request id is claimed under
that source and its key, so a report can neither deduplicate nor pre-claim the relay's record,
nor another key's. A key holder's report only ever adds to its own key: a model of the
catalogue (stored under its id), no account, no total below the sum of its tokens, and a cost
never below the catalogue price of its tokens (that price when it gives none). An admin may
name only an existing account. Every report's timestamp lies within the usage retention.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from typing import Unpack

from app.errors import InvalidInput
from app.services.base import Service, ServiceDeps
from app.services.catalogue.pricing import from_catalogue
from app.services.catalogue.service import ModelService
from app.services.retry import db_retry
from app.services.usage.retention import UsageRetention
from app.services.usage.service import UsageRecord, UsageService
from app.services.usage.writer import UsageWriter


def _refuse(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", details={field: [message]})


class UsageReports(Service):
    def __init__(self, *, usage: UsageService, writer: UsageWriter, models: ModelService,
                 retention: UsageRetention, **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.usage = usage
        self.writer = writer
        self.models = models
        self.retention = retention

    def record(self, record: UsageRecord, *, by_admin: bool) -> bool:
        """recordUsage: store a report now; False when its key already reported that id."""
        return self.usage.record(self.checked(record, by_admin=by_admin))

    def record_for_key(self, record: UsageRecord) -> dict:
        """An admin's report against a key, stored or queued as the usage strategy says."""
        return self.writer.record(self.checked(record, by_admin=True))

    def checked(self, record: UsageRecord, *, by_admin: bool) -> UsageRecord:
        """The record as it may be stored, marked with its source; InvalidInput if it may not."""
        if record.timestamp is not None:
            if record.timestamp.tzinfo is None:
                raise _refuse("timestamp", "Must carry a UTC offset.")
            self.retention.check_reported(record.timestamp.astimezone(UTC))
        if by_admin:
            if record.account_id is not None:
                self._check_account(record.account_id)
            return replace(record, source="admin", estimated=False)
        return self._from_key_holder(record)

    def _from_key_holder(self, record: UsageRecord) -> UsageRecord:
        if record.account_id is not None:
            raise _refuse("accountId", "A key holder cannot name an account.")
        model = self.models.resolve(record.model)
        if model["id"] is None:
            raise _refuse("model", "Not a model of the catalogue.")
        tokens = {"input_tokens": record.input_tokens, "output_tokens": record.output_tokens,
                  "cache_write_tokens": record.cache_write_tokens,
                  "cache_read_tokens": record.cache_read_tokens}
        if record.total_tokens is not None and record.total_tokens < sum(tokens.values()):
            raise _refuse("totalTokens", "Must not be below the sum of the token counts.")
        prices = from_catalogue(model)
        price = prices.cost(**tokens) if prices is not None else None
        if price is not None and record.cost is not None and record.cost < price:
            raise _refuse("cost", f"Must not be below the catalogue price of the tokens "
                                  f"({price} USD).")
        cost = record.cost if record.cost is not None else price
        return replace(record, model=model["id"], cost=cost, source="client", estimated=False)

    @db_retry
    def _check_account(self, account_id: str) -> None:
        with self.uow() as uow:
            if uow.accounts.get(account_id) is None:
                raise _refuse("accountId", "No account has that id.")
