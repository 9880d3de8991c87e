"""The one error type that carries the contract's `extensions.code`, and the extension that
gives every other error a code, masking the unexpected ones."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

from citylinks.db.errors import Conflict, InvalidInput, NotFound, StoreError
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

log = logging.getLogger("citylinks.errors")

BAD_USER_INPUT = "BAD_USER_INPUT"
NOT_FOUND = "NOT_FOUND"
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
CONFLICT = "CONFLICT"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
RATE_LIMITED = "RATE_LIMITED"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
# Not a code: `extensions.reason` of an INTERNAL_SERVER_ERROR while the database is down.
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"


class ApiError(Exception):
    """An expected failure the client should see, with its code (and input field)."""

    def __init__(self, message: str, code: str, field: str | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.extensions: dict[str, Any] = {"code": code, **extra}
        if field is not None:
            self.extensions["field"] = field


def bad_input(message: str, field: str | None = None) -> ApiError:
    return ApiError(message, BAD_USER_INPUT, field)


def from_store_error(error: StoreError) -> ApiError:
    if isinstance(error, InvalidInput):
        return ApiError(str(error), BAD_USER_INPUT, error.field)
    if isinstance(error, Conflict):
        return ApiError(str(error), CONFLICT)
    if isinstance(error, NotFound):
        return ApiError(str(error), NOT_FOUND)
    return ApiError(str(error), BAD_USER_INPUT)


# graphql-core reports a literal that its scalar refuses as a validation error;
# the contract calls a bad value (a malformed PartialDate, say) BAD_USER_INPUT.
_BAD_VALUE_MARKERS = ("Expected value of type", "cannot represent", "got invalid value",
                      "of required type", "was not provided")


_VARIABLE_PATH = re.compile(r"invalid value at \.([\w.\[\]]+):")
_FIELD_BEFORE = re.compile(r"([_A-Za-z]\w*)\s*:\s*(?:\[[^\[\]{}:]*)?$")


def _input_field(error: GraphQLError) -> dict[str, str]:
    """The input field a refused value was given for, as `extensions.field` names it."""
    path = _VARIABLE_PATH.search(error.message)
    if path is not None:
        names = re.findall(r"[_A-Za-z]\w*", path[1])
        return {"field": names[-1]} if names else {}
    # A literal: the field's name is written just before the value in the document.
    node = error.nodes[0] if error.nodes else None
    if node is not None and node.loc is not None:
        before = _FIELD_BEFORE.search(node.loc.source.body[:node.loc.start])
        if before is not None:
            return {"field": before[1]}
    return {}


def _coded(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, StoreError):
        original = from_store_error(original)
    if isinstance(original, ApiError):
        return GraphQLError(str(original), error.nodes, error.source, error.positions,
                            error.path, original, extensions=original.extensions)
    if error.extensions and error.extensions.get("code"):
        return error
    if error.path is None and any(m in error.message for m in _BAD_VALUE_MARKERS):
        # A value its scalar refused (the scalar's ValueError rides along as the
        # original error): the client's mistake, not an internal one.
        return GraphQLError(error.message, error.nodes, error.source, error.positions,
                            extensions={**(error.extensions or {}), "code": BAD_USER_INPUT,
                                        **_input_field(error)})
    if original is None or isinstance(original, GraphQLError):
        message = error.message
        if message.startswith("Syntax Error"):
            code = GRAPHQL_PARSE_FAILED
        elif error.path is None and any(m in message for m in _BAD_VALUE_MARKERS):
            code = BAD_USER_INPUT
        elif error.path is None:
            code = GRAPHQL_VALIDATION_FAILED
        else:
            code = BAD_USER_INPUT
        return GraphQLError(message, error.nodes, error.source, error.positions, error.path,
                            extensions={**(error.extensions or {}), "code": code})
    error_id = uuid.uuid4().hex[:12]
    if database_unavailable(original):
        # An outage, not a bug: the client may retry, and one line per error will do.
        log.warning("database unavailable %s at %s: %s", error_id, error.path,
                    type(original).__name__)
        return GraphQLError(
            f"The database is not answering; retry shortly (error id {error_id}).",
            error.nodes, error.source, error.positions, error.path,
            extensions={"code": INTERNAL_SERVER_ERROR, "errorId": error_id,
                        "reason": DATABASE_UNAVAILABLE})
    log.error("internal error %s at %s", error_id, error.path, exc_info=original)
    return GraphQLError(
        f"Internal server error (error id {error_id}).", error.nodes, error.source,
        error.positions, error.path,
        extensions={"code": INTERNAL_SERVER_ERROR, "errorId": error_id})


# The message texts of drivers that mean "cannot reach the database", not "bad SQL".
_UNAVAILABLE_MARKERS = ("unable to open database file", "disk i/o error", "connection",
                        "closed", "terminat", "shutdown", "timeout", "timed out")


def database_unavailable(error: BaseException | None) -> bool:
    """Whether an exception says the database cannot be reached (stopped, unreachable,
    its file gone) rather than that a statement is wrong."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, OSError | TimeoutError):
        return True  # refused, reset or timed out: asyncpg raises these on connect
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        text = str(error.orig).lower()
        return any(marker in text for marker in _UNAVAILABLE_MARKERS)
    return type(error).__module__.startswith("asyncpg") and "Connection" in type(error).__name__


def coded_errors(errors: list[GraphQLError]) -> list[GraphQLError]:
    return [_coded(error) for error in errors]


class ErrorCodes(SchemaExtension):
    """Every error leaves with a code; unexpected exceptions leave masked, with an id to grep."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and getattr(result, "errors", None):
            original = result.errors
            result.errors = coded_errors(original)
            if self.execution_context.pre_execution_errors is original:
                # Strawberry keeps the same list here too: coding it again would log
                # each internal error twice, under two ids.
                self.execution_context.pre_execution_errors = result.errors
                return
        pre = self.execution_context.pre_execution_errors
        if pre:
            self.execution_context.pre_execution_errors = coded_errors(pre)
