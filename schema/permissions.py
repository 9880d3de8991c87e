"""Who may do what: Strawberry permission classes, applied to fields, never checked in resolvers."""

from __future__ import annotations

from typing import Any

from citylinks.auth import WRITE_ROLES
from citylinks.schema.errors import FORBIDDEN, UNAUTHENTICATED
from graphql import GraphQLErrorExtensions
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info


class IsAuthenticated(BasePermission):
    """The request carries a valid, unrevoked bearer token."""

    message = ("This needs a valid API token: send `Authorization: Bearer <token>`. "
               "No token was sent, or it is unknown or revoked.")
    # Read from the class by Strawberry, never changed: a shared dict is safe here.
    error_extensions: GraphQLErrorExtensions | None = {"code": UNAUTHENTICATED}  # noqa: RUF012

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.viewer.role is not None


class CanEdit(BasePermission):
    """The token's role may write: editor or admin."""

    message = "This needs a token with the editor or admin role; this token is a reader's."
    error_extensions: GraphQLErrorExtensions | None = {"code": FORBIDDEN}  # noqa: RUF012

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.viewer.role in WRITE_ROLES


def editors_only() -> PermissionExtension:
    """The field extension every mutation carries: first authenticated, then allowed to write.

    Without schema directives: they would add `@IsAuthenticated` to the public SDL.
    """
    return PermissionExtension(permissions=[IsAuthenticated(), CanEdit()], use_directives=False)
