"""The account-groups blueprint: named sets of accounts of one provider that keys bind to."""

from __future__ import annotations

from flask.views import MethodView

from app.api.auth import admin_required
from app.api.deps import services
from app.api.envelope import EmptySchema, EnvelopeBlueprint, ErrorEnvelopeSchema
from app.api.schemas.account_groups import (
    AccountGroupCreateSchema,
    AccountGroupQueryArgsSchema,
    AccountGroupSchema,
    AccountGroupUpdateSchema,
)

blp = EnvelopeBlueprint(
    "account_groups", __name__, url_prefix="/api/account-groups",
    description="Account groups: a named set of accounts of one provider. A key bound to a "
                "group (its `accountBindings`) is served for that provider only by the group's "
                "members. Admin only.")


@blp.route("")
class AccountGroups(MethodView):
    @admin_required
    @blp.arguments(AccountGroupQueryArgsSchema, location="query")
    @blp.response(200, AccountGroupSchema(many=True))
    def get(self, args):
        """List account groups, by name"""
        return services().account_groups.list(**args)

    @admin_required
    @blp.arguments(AccountGroupCreateSchema)
    @blp.response(201, AccountGroupSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema, description="The name or id is taken.")
    @blp.alt_response(422, schema=ErrorEnvelopeSchema,
                      description="An unknown account, or one of another provider.")
    def post(self, body):
        """Create an account group"""
        return services().account_groups.create(body)


@blp.route("/<group_id>")
class AccountGroupItem(MethodView):
    @admin_required
    @blp.response(200, AccountGroupSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def get(self, group_id):
        """Get an account group and its members"""
        return services().account_groups.get(group_id)

    @admin_required
    @blp.arguments(AccountGroupUpdateSchema)
    @blp.response(200, AccountGroupSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    @blp.alt_response(422, schema=ErrorEnvelopeSchema,
                      description="An unknown account, or one of another provider.")
    def patch(self, body, group_id):
        """Rename a group, or replace its members

        Keys bound to the group use the new members from their very next request.
        """
        return services().account_groups.update(group_id, body)

    @admin_required
    @blp.response(200, EmptySchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema,
                      description="An API key is bound to the group (GROUP_IN_USE).")
    def delete(self, group_id):
        """Delete an account group (its accounts stay)"""
        services().account_groups.delete(group_id)
        return {}
