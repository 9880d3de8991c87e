"""Per-request DataLoaders: one batch function each, every one a single statement in db.queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from citylinks.db import queries
from citylinks.db.engine import Database
from citylinks.db.pagination import Page, PageArgs
from citylinks.db.queries import CityFilterSpec, PartnershipFilterSpec
from strawberry.dataloader import DataLoader

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class PageKey:
    """A connection request: which parent, and the arguments that shape its page."""

    parent: int
    args: PageArgs
    with_total: bool
    spec: Any = None
    include_subdivisions: bool = False

    def batch(self) -> tuple[Any, ...]:
        return (self.args, self.with_total, self.spec, self.include_subdivisions)


def _by_key(db: Database, fetch: Callable[[Any, list[Any]], Awaitable[dict[Any, V]]],
            default: Callable[[], V] | None = None) -> DataLoader[Any, V | None]:
    async def load(keys: list[Any]) -> list[V | None]:
        async with db.read() as conn:
            found = await fetch(conn, keys)
        return [found.get(k, default() if default else None) for k in keys]

    return DataLoader(load_fn=load)


def _pages(db: Database, fetch: Callable[[Any, Sequence[int], PageKey], Awaitable[dict[int, Page]]]
           ) -> DataLoader[PageKey, Page]:
    async def load(keys: list[PageKey]) -> list[Page]:
        groups: dict[tuple[Any, ...], list[PageKey]] = defaultdict(list)
        for key in keys:
            groups[key.batch()].append(key)
        results: dict[PageKey, Page] = {}
        async with db.read() as conn:
            for group in groups.values():
                parents = list(dict.fromkeys(k.parent for k in group))
                pages = await fetch(conn, parents, group[0])
                for key in group:
                    results[key] = pages[key.parent]
        return [results[k] for k in keys]

    return DataLoader(load_fn=load)


class Loaders:
    """The loaders of one request, each made on its first use: a request answered on
    the compiled path uses none, and making all of them cost a tenth of its CPU time."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @cached_property
    def place_by_id(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.places_by_ids)

    @cached_property
    def aliases_by_place(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.aliases_by_place_ids, list)

    @cached_property
    def country_by_id(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.countries_by_ids)

    @cached_property
    def partnership_by_id(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.partnerships_by_ids)

    @cached_property
    def sector_by_id(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.sectors_by_ids)

    @cached_property
    def organization_by_id(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.organizations_by_ids)

    @cached_property
    def source_by_id(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.sources_by_ids)

    @cached_property
    def sectors_by_partnership(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.sectors_by_partnership_ids, list)

    @cached_property
    def sources_by_partnership(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.sources_by_partnership_ids, list)

    @cached_property
    def milestones_by_partnership(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.milestones_by_partnership_ids, list)

    @cached_property
    def organizations_by_partnership(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.organizations_by_partnership_ids, list)

    @cached_property
    def organizations_by_place(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.organizations_by_place_ids, list)

    @cached_property
    def partnerships_by_organization(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.partnerships_by_organization_ids, list)

    @cached_property
    def partnership_count_by_country(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.partnership_counts_by_country_ids, int)

    @cached_property
    def partnership_count_by_sector(self) -> DataLoader[int, Any]:
        return _by_key(self.db, queries.partnership_counts_by_sector_ids, int)

    @cached_property
    def partner_pages_by_place(self) -> DataLoader[PageKey, Page]:
        async def partners(conn: Any, parents: Sequence[int], key: PageKey) -> dict[int, Page]:
            spec: PartnershipFilterSpec | None = key.spec
            return await queries.partner_pages(
                conn, parents, spec, key.args, with_total=key.with_total,
                include_subdivisions=key.include_subdivisions)

        return _pages(self.db, partners)

    @cached_property
    def child_pages_by_place(self) -> DataLoader[PageKey, Page]:
        async def children(conn: Any, parents: Sequence[int], key: PageKey) -> dict[int, Page]:
            return await queries.place_pages_by_parent(
                conn, "parent_id", parents, None, key.args, with_total=key.with_total)

        return _pages(self.db, children)

    @cached_property
    def city_pages_by_country(self) -> DataLoader[PageKey, Page]:
        async def cities(conn: Any, parents: Sequence[int], key: PageKey) -> dict[int, Page]:
            spec: CityFilterSpec | None = key.spec
            return await queries.place_pages_by_parent(
                conn, "country_id", parents, spec, key.args, with_total=key.with_total)

        return _pages(self.db, cities)

    @cached_property
    def partnership_pages_by_sector(self) -> DataLoader[PageKey, Page]:
        async def sector_partnerships(conn: Any, parents: Sequence[int],
                                      key: PageKey) -> dict[int, Page]:
            return await queries.partnership_pages_by_sector(
                conn, parents, key.spec, key.args, with_total=key.with_total)

        return _pages(self.db, sector_partnerships)
