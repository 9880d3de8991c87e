"""Keyset pagination: opaque cursors, and one statement that pages many parents at once.

Cursors carry the row's sort key, not an offset, so a page walk stays correct
while rows are inserted. Per-parent pages (the partners of 100 cities) come from
one statement numbered with ROW_NUMBER() OVER (PARTITION BY parent).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from citylinks.db.errors import InvalidInput
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
    Select,
    and_,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# A cursor value must fit the databases' 64-bit integers (PostgreSQL refuses a larger one).
_LARGEST_KEY = 2**63 - 1


@dataclass(frozen=True)
class PageArgs:
    """Validated Relay arguments: exactly one of `first` / `last` is set.

    `ordering` names the ordering the cursors were decoded for: a page is only ever
    fetched in that ordering (a cursor checked against one ordering and applied in
    another is how a connection came to refuse its own cursors)."""

    first: int | None = DEFAULT_PAGE_SIZE
    after: tuple[Any, ...] | None = None
    last: int | None = None
    before: tuple[Any, ...] | None = None
    ordering: str = ""

    @property
    def size(self) -> int:
        return self.first if self.first is not None else (self.last or 0)

    @property
    def backwards(self) -> bool:
        return self.last is not None


@dataclass(frozen=True)
class OrderKey:
    """One sort column; `null_sentinel` stands in for NULL so nulls sort last."""

    column: ColumnElement[Any]
    descending: bool = False
    null_sentinel: Any = None

    def accepts(self, value: Any) -> bool:
        """Whether a decoded cursor value has this key's type (a forged cursor is refused
        before it reaches the database, which would fail on it)."""
        if value is None:
            return self.null_sentinel is not None
        if isinstance(self.null_sentinel, dt.date):
            return isinstance(value, str)
        try:
            python_type = self.column.type.python_type
        except NotImplementedError:
            return True
        if python_type is float:
            return isinstance(value, int | float) and not isinstance(value, bool)
        if python_type is int:
            return (isinstance(value, int) and not isinstance(value, bool)
                    and abs(value) <= _LARGEST_KEY)
        return isinstance(value, python_type)

    def expression(self) -> ColumnElement[Any]:
        if self.null_sentinel is None:
            return self.column
        return func.coalesce(self.column, literal(self.null_sentinel))


@dataclass(frozen=True)
class Ordering:
    """A named ordering: its name is in every cursor, so a cursor of another order is refused."""

    name: str
    keys: tuple[OrderKey, ...]

    def on(self, selectable: FromClause) -> Ordering:
        """The same ordering over `selectable`'s columns of the same names (a subquery's)."""
        return Ordering(self.name, tuple(
            OrderKey(selectable.c[key.column.key], key.descending, key.null_sentinel)  # type: ignore[index]
            for key in self.keys))


@dataclass
class Page:
    rows: list[Row[Any]] = field(default_factory=list)
    has_next: bool = False
    has_previous: bool = False
    total: int | None = None
    ordering: str = ""
    keys: list[Sequence[Any]] = field(default_factory=list)

    @property
    def cursors(self) -> list[str]:
        """Encoded on demand: most answers never ask for a cursor."""
        return [encode_cursor(self.ordering, key) for key in self.keys]


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def encode_cursor(ordering: str, values: Sequence[Any]) -> str:
    payload = orjson.dumps([ordering, [_jsonable(v) for v in values]])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str, ordering: Ordering, field_name: str) -> tuple[Any, ...]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, values = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        if (name != ordering.name or not isinstance(values, list)
                or len(values) != len(ordering.keys)
                or not all(key.accepts(v) for key, v in zip(ordering.keys, values, strict=True))):
            raise ValueError(name)
        return tuple(
            dt.date.fromisoformat(v) if isinstance(key.null_sentinel, dt.date) else v
            for key, v in zip(ordering.keys, values, strict=True)
        )
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput(f"{field_name} is not a cursor of this connection", field_name) from None


def page_args(first: int | None, after: str | None, last: int | None, before: str | None,
              ordering: Ordering) -> PageArgs:
    """Check Relay arguments as the contract says: over 100 or negative is an error, not a cap."""
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= MAX_PAGE_SIZE:
            raise InvalidInput(f"{name} must be between 0 and {MAX_PAGE_SIZE}, got {value}", name)
    if first is not None and last is not None:
        raise InvalidInput("pass first or last, not both", "last")
    if last is None and first is None:
        first = DEFAULT_PAGE_SIZE
    return PageArgs(
        first=first,
        after=decode_cursor(after, ordering, "after") if after is not None else None,
        last=last,
        before=decode_cursor(before, ordering, "before") if before is not None else None,
        ordering=ordering.name,
    )


def _beyond(keys: Sequence[OrderKey], values: Sequence[Any], forward: bool) -> ColumnElement[bool]:
    """Rows strictly after (forward) or before the cursor position in this ordering."""
    def bound(j: int) -> Any:
        value = values[j] if values[j] is not None else keys[j].null_sentinel
        # Whole numbers as BIGINT: a null's sentinel (2**62) or any key beyond 32 bits
        # would not fit the column's INTEGER, and PostgreSQL refuses the parameter.
        return literal(value, BigInteger) if isinstance(value, int) else value

    clauses = []
    for i, key in enumerate(keys):
        later = key.descending != forward  # XOR: descending flips the comparison
        expression = key.expression()
        step = expression > bound(i) if later else expression < bound(i)
        equal_before = [keys[j].expression() == bound(j) for j in range(i)]
        clauses.append(and_(*equal_before, step))
    return or_(*clauses) if clauses else false()


def _order_by(keys: Sequence[OrderKey], reverse: bool) -> list[ColumnElement[Any]]:
    return [
        key.expression().desc() if key.descending != reverse else key.expression().asc()
        for key in keys
    ]


def _cursor_filter(ordering: Ordering, args: PageArgs) -> list[ColumnElement[bool]]:
    if (args.after is not None or args.before is not None) and args.ordering != ordering.name:
        raise ValueError(f"cursors decoded for {args.ordering!r} applied to {ordering.name!r}")
    clauses = []
    if args.after is not None:
        clauses.append(_beyond(ordering.keys, args.after, forward=True))
    if args.before is not None:
        clauses.append(_beyond(ordering.keys, args.before, forward=False))
    return clauses


def _finish(rows: list[Row[Any]], args: PageArgs, ordering: Ordering, key_count: int,
            total: int | None) -> Page:
    size = args.size
    extra = len(rows) > size
    rows = rows[:size]
    if args.backwards:
        rows.reverse()
    page = Page(rows=rows, total=total)
    if args.backwards:
        page.has_previous, page.has_next = extra, args.before is not None
    else:
        page.has_next, page.has_previous = extra, args.after is not None
    page.ordering = ordering.name
    page.keys = [row[-key_count:] for row in rows]
    return page


def _with_keys(query: Select[Any], ordering: Ordering) -> Select[Any]:
    """Append the sort key values to the selected columns (the cursor is made from them)."""
    return query.add_columns(*(key.expression() for key in ordering.keys))


async def fetch_page(conn: AsyncConnection, query: Select[Any], ordering: Ordering,
                     args: PageArgs, *, with_total: bool) -> Page:
    """One page of `query` (already filtered) in `ordering`."""
    total = None
    if with_total:
        total = (await conn.execute(
            select(func.count()).select_from(query.order_by(None).subquery()))).scalar_one()
    keyed = _with_keys(query, ordering).where(*_cursor_filter(ordering, args))
    keyed = keyed.order_by(*_order_by(ordering.keys, reverse=args.backwards)).limit(args.size + 1)
    rows = list((await conn.execute(keyed)).all())
    return _finish(rows, args, ordering, len(ordering.keys), total)


async def fetch_pages(conn: AsyncConnection, query: Select[Any], parent: ColumnElement[Any],
                      parent_ids: Sequence[Any], ordering: Ordering, args: PageArgs, *,
                      with_total: bool) -> dict[Any, Page]:
    """A page per parent, from one statement; `query` selects `parent`, filtered to parent_ids."""
    pages: dict[Any, Page] = {pid: Page(has_previous=args.after is not None) for pid in parent_ids}
    if not parent_ids:
        return pages
    if with_total:
        counted = query.order_by(None).subquery()
        parent_column = counted.c[parent.key] if parent.key else counted.c.parent
        for pid, count in await conn.execute(
            select(parent_column, func.count()).group_by(parent_column)
        ):
            pages[pid].total = count
        for page in pages.values():
            page.total = page.total or 0
    keyed = _with_keys(query, ordering).where(*_cursor_filter(ordering, args))
    numbered = keyed.add_columns(
        func.row_number().over(
            partition_by=parent, order_by=_order_by(ordering.keys, reverse=args.backwards)
        ).label("page_row_number")
    ).subquery()
    wanted = [c for c in numbered.c if c.key != "page_row_number"]
    key_columns = wanted[-len(ordering.keys):]
    order = [
        column.desc() if key.descending != args.backwards else column.asc()
        for key, column in zip(ordering.keys, key_columns, strict=True)
    ]
    limited = (
        select(*wanted)
        .where(numbered.c.page_row_number <= args.size + 1)
        .order_by(numbered.c[parent.key or "parent"], *order)
    )
    grouped: dict[Any, list[Row[Any]]] = {pid: [] for pid in parent_ids}
    parent_index = list(numbered.c.keys()).index(parent.key or "parent")
    for row in await conn.execute(limited):
        grouped[row[parent_index]].append(row)
    for pid, rows in grouped.items():
        pages[pid] = _finish(rows, args, ordering, len(ordering.keys), pages[pid].total)
    return pages
