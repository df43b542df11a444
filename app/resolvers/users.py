"""Console users, for admin users: list, invite, disable, change a role."""

from __future__ import annotations

import uuid
from datetime import timedelta

import strawberry
from strawberry.types import Info

from app.auth import UserRole
from app.domain import audit
from app.domain import users as domain
from app.errors import DomainError, DomainErrors, ErrorCode, each_error
from app.resolvers.catalog import audit_actor
from app.schema.common import AdminUserOnly, UserSessionOnly, user_errors
from app.schema.context import Context
from app.schema.user_types import (
    ChangePasswordInput,
    ChangeUserRoleInput,
    DisableUserInput,
    InviteUserInput,
    InviteUserPayload,
    UserPayload,
    UserType,
    invitation_view,
    user_view,
)
from app.store import users as store


def _user_pk(raw: strawberry.ID) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise DomainError(
            ErrorCode.NOT_FOUND, "no user with that id in this account", ["id"]
        ) from None


def _wrong_password(error: DomainError | DomainErrors) -> bool:
    errors = each_error(error)
    return any(e.field == ["currentPassword"] for e in errors)


@strawberry.type
class UserQuery:
    @strawberry.field(
        description="The account's users (admin users only).", permission_classes=[AdminUserOnly]
    )
    async def users(self, info: Info[Context, None]) -> list[UserType]:
        ctx = info.context
        async with ctx.db.session() as session:
            users = await store.list_users(session, ctx.principal.account_pk)
        return [user_view(u) for u in users]


@strawberry.type
class UserMutation:
    @strawberry.mutation(
        description="Invite someone to the account: the payload's link (shown once) lets "
        "them set their name and password.",
        permission_classes=[AdminUserOnly],
    )
    async def invite_user(
        self, info: Info[Context, None], input: InviteUserInput
    ) -> InviteUserPayload:
        ctx = info.context
        now = ctx.now()
        valid_for = timedelta(days=ctx.settings.invitation_days)
        try:
            async with audit.transaction(ctx.db, audit_actor(ctx, info.field_name, now)) as session:
                new = await domain.invite_user(
                    session,
                    ctx.principal.account_pk,
                    input.email,
                    input.name,
                    UserRole(input.role.value),
                    ctx.principal.user_pk,
                    now,
                    valid_for,
                )
                inviter = (
                    await store.get_user(session, ctx.principal.account_pk, ctx.principal.user_pk)
                    if ctx.principal.user_pk is not None
                    else None
                )
        except (DomainError, DomainErrors) as error:
            return InviteUserPayload(
                invitation=None, token=None, link=None, errors=user_errors(error)
            )
        path = f"/console/invite/{new.token}"
        return InviteUserPayload(
            invitation=invitation_view(new.invitation, inviter.email if inviter else None),
            token=new.token,
            link=f"{ctx.settings.public_url}{path}",
            errors=[],
        )

    @strawberry.mutation(
        description="Disable a user: no login, their sessions end at once (the account's "
        "last active admin cannot be disabled).",
        permission_classes=[AdminUserOnly],
    )
    async def disable_user(self, info: Info[Context, None], input: DisableUserInput) -> UserPayload:
        ctx = info.context
        now = ctx.now()
        try:
            user_pk = _user_pk(input.id)
            async with audit.transaction(ctx.db, audit_actor(ctx, info.field_name, now)) as session:
                user = await domain.disable_user(session, ctx.principal.account_pk, user_pk, now)
        except (DomainError, DomainErrors) as error:
            return UserPayload(user=None, errors=user_errors(error))
        return UserPayload(user=user_view(user), errors=[])

    @strawberry.mutation(
        description="Change the caller's own password (a console session; the current "
        "password is asked). The user's other sessions end.",
        permission_classes=[UserSessionOnly],
    )
    async def change_password(
        self, info: Info[Context, None], input: ChangePasswordInput
    ) -> UserPayload:
        ctx = info.context
        now = ctx.now()
        principal = ctx.principal
        assert principal.user_pk is not None  # UserSessionOnly
        # Wrong current passwords count as failed logins of the user (docs/console.md): a
        # stolen session cannot guess the password at will.
        limits = ctx.services.rate_limits.login_by_email if ctx.services is not None else None
        bucket = f"user:{principal.user_pk}"
        if limits is not None and limits.take(bucket):
            error = DomainError(
                ErrorCode.INVALID_INPUT,
                "too many wrong passwords: try again in a few minutes",
                ["currentPassword"],
            )
            return UserPayload(user=None, errors=user_errors(error))
        try:
            async with audit.transaction(ctx.db, audit_actor(ctx, info.field_name, now)) as session:
                user = await domain.set_password(
                    session,
                    principal.account_pk,
                    principal.user_pk,
                    input.new_password,
                    now,
                    keep_session=principal.key_pk,  # a session's principal: its id
                    current_password=input.current_password,
                )
        except (DomainError, DomainErrors) as error:
            if limits is not None and not _wrong_password(error):
                limits.give_back(bucket)  # only wrong passwords count
            return UserPayload(user=None, errors=user_errors(error))
        if limits is not None:
            limits.give_back(bucket)
        return UserPayload(user=user_view(user), errors=[])

    @strawberry.mutation(
        description="Make a user an admin or a member (the account keeps one active admin).",
        permission_classes=[AdminUserOnly],
    )
    async def change_user_role(
        self, info: Info[Context, None], input: ChangeUserRoleInput
    ) -> UserPayload:
        ctx = info.context
        now = ctx.now()
        try:
            user_pk = _user_pk(input.id)
            async with audit.transaction(ctx.db, audit_actor(ctx, info.field_name, now)) as session:
                user = await domain.change_role(
                    session, ctx.principal.account_pk, user_pk, UserRole(input.role.value)
                )
        except (DomainError, DomainErrors) as error:
            return UserPayload(user=None, errors=user_errors(error))
        return UserPayload(user=user_view(user), errors=[])
