"""The users blueprint: users, their plan and their credits (admin only)."""

from __future__ import annotations

from flask.views import MethodView

from app.api.auth import admin_required
from app.api.deps import services
from app.api.envelope import EnvelopeBlueprint, ErrorEnvelopeSchema
from app.api.schemas.users import (
    CreditGrantSchema,
    UserCreateSchema,
    UserPageSchema,
    UserQueryArgsSchema,
    UserSchema,
    UserUpdateSchema,
)

blp = EnvelopeBlueprint(
    "users", __name__, url_prefix="/api/users",
    description="Users, their plan (free or premium) and credits. Admin only.")


@blp.route("")
class Users(MethodView):
    @admin_required
    @blp.arguments(UserQueryArgsSchema, location="query")
    @blp.response(200, UserPageSchema)
    def get(self, args):
        """List users, newest first

        Filter by `plan` or exact `email`; `page` counts from 1.
        """
        return services().users.list(**args)

    @admin_required
    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema, description="The email is taken.")
    def post(self, body):
        """Create a user

        The email is stored lower-cased. The plan defaults to free.
        """
        return services().users.create(**body)


@blp.route("/<user_id>")
class User(MethodView):
    @admin_required
    @blp.response(200, UserSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def get(self, user_id):
        """Get a user"""
        return services().users.get(user_id)

    @admin_required
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def patch(self, body, user_id):
        """Change a user's plan or name

        A plan change applies to the user's very next usage check, on every worker.
        """
        return services().users.update(user_id, body)


@blp.route("/<user_id>/credits")
class Credits(MethodView):
    @admin_required
    @blp.arguments(CreditGrantSchema)
    @blp.response(200, UserSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def post(self, body, user_id):
        """Grant credits to a user

        One credit pays for one use past the plan's limit (premium plan). Grants add up
        exactly under concurrent calls.
        """
        return services().users.grant_credits(user_id, body["amount"])
