"""From an account row to what talks to its upstream: the proxy URL and the provider client."""

from __future__ import annotations

from typing import TypedDict, Unpack
from urllib.parse import quote

from app.crypto import SecretBox
from app.db.models import Account
from app.providers import ProviderAccount, ProviderClient, client_for

# Our proxy types as httpx spells their URL schemes.
PROXY_SCHEMES = {"http": "http", "socks5": "socks5"}
_OPENED_MAX = 4096


class OpenedSecrets:
    """A SecretBox's `decrypt_optional`, each sealed value opened once. Every upstream call
    builds its client from the account's sealed credential, and AES-GCM with its checks is
    most of that work. A sealed value always opens to the same secret (a new credential is
    sealed anew, under a fresh nonce), so what was opened stays right; the table is bounded
    (cleared when full: then the credentials in use are opened again)."""

    def __init__(self, box: SecretBox) -> None:
        self.box = box
        self._opened: dict[str, str] = {}

    def decrypt_optional(self, stored: str | None) -> str | None:
        if stored is None:
            return None
        opened = self._opened.get(stored)
        if opened is None:
            if len(self._opened) >= _OPENED_MAX:
                self._opened.clear()
            opened = self._opened[stored] = self.box.decrypt(stored)
        return opened


def proxy_url(account: Account, box: SecretBox | OpenedSecrets) -> str | None:
    """The account's proxy as a URL httpx understands, with its password opened, or None."""
    kind, host = account.proxy_type, account.proxy_host
    if kind is None:
        return None
    if host is None:  # never connect directly when a proxy was asked for
        raise ValueError(f"account {account.id} has a {kind} proxy without a host")
    credentials = ""
    if account.proxy_username:
        credentials = quote(account.proxy_username, safe="")
        password = box.decrypt_optional(account.proxy_password_sealed)
        if password is not None:
            credentials += ":" + quote(password, safe="")
        credentials += "@"
    if ":" in host:
        host = f"[{host}]"
    return f"{PROXY_SCHEMES[kind]}://{credentials}{host}:{account.proxy_port}"


class Timeouts(TypedDict, total=False):
    connect_timeout: float
    read_timeout: float


def provider_account(account: Account, box: SecretBox | OpenedSecrets,
                     **timeouts: Unpack[Timeouts]) -> ProviderAccount:
    """The provider clients' view of an account: opened credential, base URL and proxy;
    `timeouts` are ProviderAccount's connect_timeout and read_timeout."""
    where = {"base_url": account.base_url, "proxy": proxy_url(account, box)}
    responses = bool(account.supports_responses)
    if account.is_oauth:
        return ProviderAccount(**where, supports_responses=responses,
                               access_token=box.decrypt_optional(account.access_token_sealed),
                               **timeouts)
    return ProviderAccount(**where, supports_responses=responses,
                           api_key=box.decrypt_optional(account.api_key_sealed), **timeouts)


def build_client(account: Account, box: SecretBox | OpenedSecrets,
                 **timeouts: Unpack[Timeouts]) -> ProviderClient:
    return client_for(account.provider, provider_account(account, box, **timeouts))


def usable(client: ProviderClient) -> bool:
    """Whether a client built before may still be used: the shared connections it was given
    are still open (they are closed at shutdown, and between tests)."""
    direct = client.direct
    return not client.http.is_closed if direct is None else not direct.is_closed
