"""AccountProbe: the console's "test" button, one tiny request through an account."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from app.errors import InvalidInput
from app.providers.base import ChatRequest, ProviderError

if TYPE_CHECKING:
    from app.services.accounts.service import AccountService
    from app.services.catalogue.service import ModelService

PROMPT = [{"role": "user", "content": "ping"}]


class AccountProbe:
    def __init__(self, *, accounts: AccountService, models: ModelService) -> None:
        self.accounts = accounts
        self.models = models

    def test(self, account_id: str) -> dict:
        """Send one request of one token to the account's cheapest active model; its status
        and latency. Failures are answers here, not errors: that is what the button shows."""
        account = self.accounts.detail(account_id)
        candidates = sorted(self.models.list(provider=account["provider"], is_active=True),
                            key=lambda model: (model.input_price + model.output_price, model.id))
        if not candidates:
            raise InvalidInput("No active model of this account's provider to test with.")
        model = candidates[0]
        client = self.accounts.client_for(account_id)
        started = time.perf_counter()
        try:
            client.complete(ChatRequest(model=model.upstream_model, messages=PROMPT,
                                        max_tokens=1))
        except ProviderError as error:
            return {"ok": False, "status": error.status, "model": model.id,
                    "latency_ms": round((time.perf_counter() - started) * 1000),
                    "message": error.message}
        return {"ok": True, "status": 200, "model": model.id,
                "latency_ms": round((time.perf_counter() - started) * 1000), "message": "OK"}
