"""The shapes in which accounts leave the service layer: camelCase dicts, secrets masked.

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
            "createdAt": account.created_at}


def summary(account: Account) -> dict:
    """getClaudeAccount's answer, exactly the seed's shape."""
    return {
        "id": account.id, "name": account.name, "description": account.description,
        "status": account.status, "tokenExpiresAt": account.token_expires_at,
        "lastUsedAt": account.last_used_at,
        "rateLimitStatus": _rate_limit(account), "usageStats": _usage(account),
    }


def detail(account: Account, box: SecretBox) -> dict:
    """ClaudeAccountData: everything an admin may see about an account."""
    return {
        **summary(account),
        "provider": account.provider,
        "credentialType": account.credential_kind,
        "accessToken": _masked(box, account.access_token_sealed, account.id),
        "apiKey": _masked(box, account.api_key_sealed, account.id),
        "scopes": list(account.scopes or []),
        "tokenRefreshedAt": account.token_refreshed_at,
        "baseUrl": account.base_url,
        "proxyConfig": _proxy(account),
        "priority": account.priority,
        "maxConcurrency": account.max_concurrency,
        "dedicated": bool(account.dedicated),
        "supportsResponses": bool(account.supports_responses),
        "errorMessage": account.error_message,
        "cooldownUntil": account.cooldown_until,
        "createdAt": account.created_at,
        "updatedAt": account.updated_at,
    }


def _masked(box: SecretBox, sealed: str | None, account_id: str) -> str | None:
    try:
        return mask(box.decrypt_optional(sealed))
    except SecretError as error:
        # The listing stays usable; using the account fails loudly where it matters.
        log.error("account %s: %s", account_id, error)
        return "****"


def _rate_limit(account: Account) -> dict:
    return {"remaining": account.rate_limit_remaining, "resetAt": account.rate_limit_reset_at}


def _usage(account: Account) -> dict:
    return {"totalRequests": account.total_requests, "totalTokens": account.total_tokens,
            "totalCost": account.total_cost}


def _proxy(account: Account) -> dict | None:
    if not account.has_proxy:
        return None
    return {"type": account.proxy_type, "host": account.proxy_host, "port": account.proxy_port,
            "username": account.proxy_username,
            "hasPassword": account.proxy_password_sealed is not None}
