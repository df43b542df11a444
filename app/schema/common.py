"""Shared GraphQL building blocks: errors, scalars, connections, permissions."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from strawberry.permission import BasePermission
from strawberry.scalars import JSON as StrawberryJSON
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from app.errors import DomainError, DomainErrors, each_error
from app.errors import ErrorCode as DomainErrorCode

ErrorCode = strawberry.enum(
    DomainErrorCode,
    name="ErrorCode",
    description="Machine-readable reason a mutation was refused.",
)

# Money is `Decimal` (strawberry's built-in scalar: a string such as "49.00", never a float).
DecimalScalar = Decimal
JSON = StrawberryJSON


def json_value(value: object) -> JSON | None:
    """A stored JSON document (or None) as the value of a `JSON` field. Strawberry types the
    scalar as a NewType of `object`, which a dict is not for mypy; at run time it is the value."""
    return None if value is None else JSON(value)


@strawberry.type(description="A client mistake that made a mutation change nothing.")
class UserError:
    code: DomainErrorCode = strawberry.field(description="What went wrong, as a stable code.")
    message: str = strawberry.field(description="What went wrong, for humans.")
    field: list[str] | None = strawberry.field(
        description='Path of the offending input (e.g. ["entitlements", "seats", "limit"]).'
    )


def user_errors(error: DomainError | DomainErrors) -> list[UserError]:
    errors = each_error(error)
    return [UserError(code=e.code, message=e.message, field=e.field) for e in errors]


@strawberry.type(description="Where a page of a connection ends.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when more items follow.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")


N = TypeVar("N")


@strawberry.type(description="An item of a connection and its cursor.")
class Edge(Generic[N]):
    cursor: str = strawberry.field(description="Opaque position of this item.")
    node: N = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list.")
class Connection(Generic[N]):
    edges: list[Edge[N]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")
    # Counted only when the query selects `totalCount` (`wants_total`): a count reads the
    # whole list, a page only its first rows.
    total: strawberry.Private[int | None]

    @strawberry.field(description="How many items the whole list has.")
    def total_count(self) -> int:
        if self.total is None:  # the resolver saw no totalCount in the selection
            raise RuntimeError("totalCount selected but not counted")
        return self.total


def wants_total(info: Info) -> bool:
    """Whether the query selects `totalCount` on the connection this field returns (directly,
    or through fragments and inline fragments)."""
    return any(_selects(field.selections, "totalCount") for field in info.selected_fields)


def _selects(selections: Sequence[Selection], name: str) -> bool:
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == name:
                return True
        elif _selects(selection.selections, name):  # a fragment spread or inline fragment
            return True
    return False


# Arguments every connection root takes, described once.
FirstArg = Annotated[
    int | None,
    strawberry.argument(description="How many items to return: 0 to 100 (default 20)."),
]
AfterArg = Annotated[
    str | None,
    strawberry.argument(description="Return the items after this cursor (`pageInfo.endCursor`)."),
]
IncludeArchivedArg = Annotated[
    bool, strawberry.argument(description="Include archived items (left out by default).")
]


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        # A top-level client error: a DomainError raised in a query would be masked.
        raise ClientError("malformed cursor in `after`", "INVALID_INPUT") from None


def page_size(first: int | None, cap: int = 100) -> int:
    if first is None:
        return min(20, cap)
    if first < 0 or first > cap:
        raise ClientError(f"`first` must be between 0 and {cap}", "INVALID_INPUT")
    return first


def connection(
    rows: Sequence[Any],
    has_next: bool,
    total: int | None,
    to_node: Callable[[Any], N],
    key: Callable[[Any], str] = lambda r: str(r.id),
) -> Connection[N]:
    edges = [Edge(cursor=encode_cursor(key(r)), node=to_node(r)) for r in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
        total=total,
    )


class KeptView:
    """A view a resolver may hand out again, as the same object, to later requests, and that
    nobody changes once it is made: what was written for it under a selection may be written
    again (the fast path keeps it: app/web/fast_path.py)."""

    __slots__ = ()


class ClientError(Exception):
    """A top-level GraphQL error meant for the client (shown, not masked)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.extensions = {"code": code}

    @classmethod
    def of(cls, error: DomainError) -> ClientError:
        """A domain error as a top-level error (for fields that answer no payload)."""
        return cls(error.message, error.code.value)


class AdminUserOnly(BasePermission):
    """Users are managed by admin users (a console session) only: not members, and no API
    key (a key belongs to one environment, users reach every environment of the account)."""

    message = "Only an admin user (logged in to the console) manages users."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(info.context.principal.is_admin_user)


class UserSessionOnly(BasePermission):
    """What a logged-in user does for themselves (their password): no API key."""

    message = "Only a user logged in to the console does this, for themselves."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(info.context.principal.is_user)


class ServerKeyOrAdminUser(BasePermission):
    """API keys and environment settings: server keys, and of console users only admins."""

    message = "This operation needs a server key or an admin user."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return bool(principal.is_server and (not principal.is_user or principal.is_admin_user))


class ServerKeyOnly(BasePermission):
    """Publishable (client) keys may only check entitlements and read the catalog."""

    message = "This operation needs a server key; client keys are read-only."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(info.context.principal.is_server)


