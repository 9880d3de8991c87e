"""Relay connections with totalCount and keyset cursors, generic over the node type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry
from citylinks.db.errors import StoreError
from citylinks.db.pagination import Ordering, Page, PageArgs, page_args
from citylinks.schema.errors import ApiError, from_store_error
from strawberry import relay
from strawberry.types import Info
from strawberry.types.nodes import SelectedField

NodeT = TypeVar("NodeT")


@strawberry.type(description="An edge in a connection: a node and the cursor that points at it.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Opaque; pass it as `after` or `before`.")
    node: NodeT


@strawberry.type(description=(
    "A page of a list. `first` defaults to 20 and may be at most 100; cursors stay valid "
    "while rows are inserted."))
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    nodes: list[NodeT]
    page_info: relay.PageInfo
    total_count: int = strawberry.field(description=(
        "How many items the whole list has, with the filter applied, ignoring paging."))


def connection(page: Page, make: Callable[[Any], Any]) -> Connection[Any]:
    nodes = [make(row) for row in page.rows]
    return Connection(
        edges=[Edge(cursor=c, node=n) for c, n in zip(page.cursors, nodes, strict=True)],
        nodes=nodes,
        page_info=relay.PageInfo(
            has_next_page=page.has_next, has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None),
        total_count=page.total if page.total is not None else 0,
    )


def parse_page_args(first: int | None, after: str | None, last: int | None,
                    before: str | None, ordering: Ordering) -> PageArgs:
    try:
        return page_args(first, after, last, before, ordering)
    except StoreError as error:
        raise from_store_error(error) from None


def _names(selections: Any) -> set[str]:
    """Field names of a selection, looking through fragment spreads and inline fragments."""
    names: set[str] = set()
    for selection in selections or ():
        if isinstance(selection, SelectedField):
            names.add(selection.name)
        else:
            names |= _names(selection.selections)
    return names


def wants_total(info: Info) -> bool:
    """Whether this connection field's selection asks for totalCount (fragments included)."""
    return any("totalCount" in _names(selected.selections) for selected in info.selected_fields)


__all__ = ["ApiError", "Connection", "Edge", "connection", "parse_page_args", "wants_total"]
