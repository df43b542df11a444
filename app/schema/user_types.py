"""GraphQL types of console users and invitations (never a password or its hash)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.auth import UserRole
from app.models import User, UserInvitation
from app.schema.common import UserError

# The one definition of a role is app.auth's (it decides what a user may do).
strawberry.enum(
    UserRole,
    name="UserRole",
    description="admin: manages users and API keys, besides what a member does; member: a "
    "server key's rights in every environment of the account.",
)


@strawberry.type(name="User", description="A person of the account who logs in to the console.")
class UserType:
    id: strawberry.ID = strawberry.field(description="The user's id.")
    email: str = strawberry.field(description="Their email (lower-cased): the login.")
    name: str = strawberry.field(description="Their name.")
    role: UserRole = strawberry.field(description="admin or member.")
    disabled_at: datetime | None = strawberry.field(
        description="When the user was disabled (no login since)."
    )
    created_at: datetime = strawberry.field(description="When the user was created.")
    last_login_at: datetime | None = strawberry.field(description="Their last login.")
    password_changed_at: datetime | None = strawberry.field(
        description="When their password was last changed (null: the one they were created with)."
    )


def user_view(user: User) -> UserType:
    return UserType(
        id=strawberry.ID(str(user.pk)),
        email=user.email,
        name=user.name,
        role=UserRole(user.role),
        disabled_at=user.disabled_at,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        password_changed_at=user.password_changed_at,
    )


@strawberry.type(name="AuditUser", description="The user who made a change.")
class AuditUser:
    id: strawberry.ID = strawberry.field(description="The user's id.")
    email: str = strawberry.field(description="Their email.")
    name: str = strawberry.field(description="Their name.")


@strawberry.type(name="UserInvitation", description="An invitation to join the account.")
class UserInvitationType:
    id: strawberry.ID = strawberry.field(description="The invitation's id.")
    email: str = strawberry.field(description="Who is invited.")
    name: str = strawberry.field(description="Their name, as the admin wrote it.")
    role: UserRole = strawberry.field(description="The role they get.")
    invited_by: str | None = strawberry.field(description="The email of the admin who invited.")
    created_at: datetime = strawberry.field(description="When it was made.")
    expires_at: datetime = strawberry.field(description="Until when the link can be used.")
    accepted_at: datetime | None = strawberry.field(description="When it was accepted.")


def invitation_view(invitation: UserInvitation, invited_by: str | None) -> UserInvitationType:
    return UserInvitationType(
        id=strawberry.ID(str(invitation.pk)),
        email=invitation.email,
        name=invitation.name,
        role=UserRole(invitation.role),
        invited_by=invited_by,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        accepted_at=invitation.accepted_at,
    )


@strawberry.input(description="Who to invite, as what.")
class InviteUserInput:
    email: str = strawberry.field(description="Their email.")
    name: str = strawberry.field(default="", description="Their name (they may change it).")
    role: UserRole = strawberry.field(default=UserRole.MEMBER, description="admin or member.")


@strawberry.type(description="Result of inviteUser.")
class InviteUserPayload:
    invitation: UserInvitationType | None = strawberry.field(description="The invitation.")
    token: str | None = strawberry.field(
        description="The invitation's secret token: shown this once only."
    )
    link: str | None = strawberry.field(
        description="Where the invited person sets their name and password (the token in "
        "it; shown this once only). A path unless ALLOT_PUBLIC_URL is set."
    )
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.input(description="The user to disable.")
class DisableUserInput:
    id: strawberry.ID = strawberry.field(description="The user's id.")


@strawberry.input(description="A user's new role.")
class ChangeUserRoleInput:
    id: strawberry.ID = strawberry.field(description="The user's id.")
    role: UserRole = strawberry.field(description="admin or member.")


@strawberry.input(description="The caller's current password and the new one.")
class ChangePasswordInput:
    current_password: str = strawberry.field(description="The password they log in with now.")
    new_password: str = strawberry.field(description="The new one (10 to 1024 characters).")


@strawberry.type(description="Result of disableUser, changeUserRole and changePassword.")
class UserPayload:
    user: UserType | None = strawberry.field(description="The user.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")
