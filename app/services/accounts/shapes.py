"""The shapes in which accounts leave the service layer: snake_case dicts, secrets masked
(the schemas in app/api/schemas/accounts.py name them on the wire).

No shape ever carries a refresh token or a proxy password; access tokens and API keys appear
masked. The one exception, the new access token of a refresh, is built in
app/services/accounts/oauth.py.
"""

from __future__ import annotations

import logging

from app.crypto import SecretBox, SecretError, mask
from app.db.models import Account

log = logging.getLogger(__name__)


def created(account: Account) -> dict:
    """createClaudeAccount's answer."""
    return {"id": account.id, "name": account.name, "status": account.status,
            "created_at": account.created_at}


def summary(account: Account) -> dict:
    """getClaudeAccount's answer, exactly the seed's shape."""
    return {
        "id": account.id, "name": account.name, "description": account.description,
        "status": account.status, "token_expires_at": account.token_expires_at,
        "last_used_at": account.last_used_at,
        "rate_limit_status": _rate_limit(account), "usage_stats": _usage(account),
    }


def detail(account: Account, box: SecretBox) -> dict:
    """ClaudeAccountData: everything an admin may see about an account."""
    return {
        **summary(account),
        "provider": account.provider,
        "credential_type": account.credential_kind,
        "access_token": _masked(box, account.access_token_sealed, account.id),
        "api_key": _masked(box, account.api_key_sealed, account.id),
        "scopes": list(account.scopes or []),
        "token_refreshed_at": account.token_refreshed_at,
        "base_url": account.base_url,
        "proxy_config": _proxy(account),
        "priority": account.priority,
        "max_concurrency": account.max_concurrency,
        "dedicated": bool(account.dedicated),
        "supports_responses": bool(account.supports_responses),
        "error_message": account.error_message,
        "cooldown_until": account.cooldown_until,
        "created_at": account.created_at,
        "updated_at": account.updated_at,
    }


def _masked(box: SecretBox, sealed: str | None, account_id: str) -> str | None:
    try:
        return mask(box.decrypt_optional(sealed))
    except SecretError as error:
        # The listing stays usable; using the account fails loudly where it matters.
        log.error("account %s: %s", account_id, error)
        return "****"


def _rate_limit(account: Account) -> dict:
    return {"remaining": account.rate_limit_remaining, "reset_at": account.rate_limit_reset_at}


def _usage(account: Account) -> dict:
    return {"total_requests": account.total_requests, "total_tokens": account.total_tokens,
            "total_cost": account.total_cost}


def _proxy(account: Account) -> dict | None:
    if not account.has_proxy:
        return None
    return {"type": account.proxy_type, "host": account.proxy_host, "port": account.proxy_port,
            "username": account.proxy_username,
            "has_password": account.proxy_password_sealed is not None}
