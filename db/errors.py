"""Business-rule failures raised by db/ functions; the GraphQL layer maps them to error codes."""

from __future__ import annotations


class StoreError(Exception):
    """A rejected request: the transaction that raised it is rolled back."""


class InvalidInput(StoreError):
    """BAD_USER_INPUT: `field` names the input field at fault, when one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conflict(StoreError):
    """CONFLICT: the write would break a uniqueness or reference rule."""


class NotFound(StoreError):
    """NOT_FOUND: the write names an object that does not exist."""
