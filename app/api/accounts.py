"""The accounts blueprint: the upstream account pool (the seed's account interface), admin only."""

from __future__ import annotations

from flask.views import MethodView

from app.api.auth import admin_required
from app.api.deps import services
from app.api.envelope import EmptySchema, EnvelopeBlueprint, ErrorEnvelopeSchema
from app.api.schemas.accounts import (
    AccountCreatedSchema,
    AccountCreateSchema,
    AccountPageSchema,
    AccountQueryArgsSchema,
    AccountSchema,
    AccountSummarySchema,
    AccountUpdateSchema,
    AvailableArgsSchema,
    RefreshResultSchema,
    StatusChangeSchema,
)

blp = EnvelopeBlueprint(
    "accounts", __name__, url_prefix="/api/accounts",
    description="Upstream provider accounts (Claude, Gemini, OpenAI). Admin only. "
                "Refresh tokens and proxy passwords are never shown; access tokens "
                "and API keys are masked.")


@blp.route("")
class Accounts(MethodView):
    @admin_required
    @blp.arguments(AccountQueryArgsSchema, location="query")
    @blp.response(200, AccountPageSchema)
    def get(self, args):
        """List accounts

        Newest first; `page` counts from 1.
        """
        return services().accounts.list(**args)

    @admin_required
    @blp.arguments(AccountCreateSchema)
    @blp.response(201, AccountCreatedSchema)
    def post(self, body):
        """Create an account (createClaudeAccount, for any provider)

        Exactly one credential: `oauthData` or `apiKey`. Secrets are stored encrypted.
        """
        return services().accounts.create(body)


@blp.route("/available")
class Available(MethodView):
    @admin_required
    @blp.arguments(AvailableArgsSchema, location="query")
    @blp.response(200, AccountSchema(many=True))
    def get(self, args):
        """Accounts that can serve requests (getAvailableAccounts)

        Rate-limited accounts whose reset time has passed are made active first.
        """
        return services().accounts.available(**args)


@blp.route("/<account_id>")
class AccountItem(MethodView):
    @admin_required
    @blp.response(200, AccountSummarySchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def get(self, account_id):
        """Get an account (getClaudeAccount)"""
        return services().accounts.get(account_id)

    @admin_required
    @blp.arguments(AccountUpdateSchema)
    @blp.response(200, AccountSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def patch(self, body, account_id):
        """Change some of an account's fields

        A new credential (`oauthData` or `apiKey`) replaces the old one and returns an account
        in `error` to `active`. `proxyConfig: null` removes the proxy.
        """
        return services().accounts.update(account_id, body)

    @admin_required
    @blp.response(200, EmptySchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema,
                      description="An API key is bound to the account (ACCOUNT_IN_USE).")
    def delete(self, account_id):
        """Delete an account and its stored secrets

        Group memberships go with it; an account a key is bound to is refused (unbind first).
        """
        services().accounts.delete(account_id)
        return {}


@blp.route("/<account_id>/refresh")
class Refresh(MethodView):
    @admin_required
    @blp.response(200, RefreshResultSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema,
                      description="Not an OAuth account, or its proxy is not a usable address.")
    @blp.alt_response(502, schema=ErrorEnvelopeSchema,
                      description="The token endpoint rejected the refresh (the account is now "
                                  "`error`) or failed, or could not be reached (through the "
                                  "account's proxy).")
    @blp.alt_response(503, schema=ErrorEnvelopeSchema,
                      description="Another refresh of this account is still running.")
    @blp.alt_response(504, schema=ErrorEnvelopeSchema, description="The token endpoint timed out.")
    def post(self, account_id):
        """Refresh the OAuth access token (refreshOAuthToken)

        The only answer that shows an access token unmasked. Concurrent refreshes of one
        account make one call to the provider and share its result.
        """
        return services().token_refresher.refresh(account_id)


@blp.route("/<account_id>/status")
class Status(MethodView):
    @admin_required
    @blp.arguments(StatusChangeSchema)
    @blp.response(200, EmptySchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def post(self, body, account_id):
        """Set an account's status (updateAccountStatus)

        `active` clears the error message, the rate limit and any cool-down.
        """
        services().accounts.update_status(account_id, body["status"], body["metadata"])
        return {}
