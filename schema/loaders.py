"""Per-request DataLoaders: one batch function each, every one a single statement in db.queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
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


@dataclass
class Loaders:
    db: Database
    place_by_id: DataLoader[int, Any] = field(init=False)
    aliases_by_place: DataLoader[int, Any] = field(init=False)
    country_by_id: DataLoader[int, Any] = field(init=False)
    partnership_by_id: DataLoader[int, Any] = field(init=False)
    sector_by_id: DataLoader[int, Any] = field(init=False)
    organization_by_id: DataLoader[int, Any] = field(init=False)
    source_by_id: DataLoader[int, Any] = field(init=False)
    sectors_by_partnership: DataLoader[int, Any] = field(init=False)
    sources_by_partnership: DataLoader[int, Any] = field(init=False)
    milestones_by_partnership: DataLoader[int, Any] = field(init=False)
    organizations_by_partnership: DataLoader[int, Any] = field(init=False)
    organizations_by_place: DataLoader[int, Any] = field(init=False)
    partnerships_by_organization: DataLoader[int, Any] = field(init=False)
    partnership_count_by_country: DataLoader[int, Any] = field(init=False)
    partnership_count_by_sector: DataLoader[int, Any] = field(init=False)
    partner_pages_by_place: DataLoader[PageKey, Page] = field(init=False)
    child_pages_by_place: DataLoader[PageKey, Page] = field(init=False)
    city_pages_by_country: DataLoader[PageKey, Page] = field(init=False)
    partnership_pages_by_sector: DataLoader[PageKey, Page] = field(init=False)

    def __post_init__(self) -> None:
        db = self.db
        self.place_by_id = _by_key(db, queries.places_by_ids)
        self.aliases_by_place = _by_key(db, queries.aliases_by_place_ids, list)
        self.country_by_id = _by_key(db, queries.countries_by_ids)
        self.partnership_by_id = _by_key(db, queries.partnerships_by_ids)
        self.sector_by_id = _by_key(db, queries.sectors_by_ids)
        self.organization_by_id = _by_key(db, queries.organizations_by_ids)
        self.source_by_id = _by_key(db, queries.sources_by_ids)
        self.sectors_by_partnership = _by_key(db, queries.sectors_by_partnership_ids, list)
        self.sources_by_partnership = _by_key(db, queries.sources_by_partnership_ids, list)
        self.milestones_by_partnership = _by_key(db, queries.milestones_by_partnership_ids, list)
        self.organizations_by_partnership = _by_key(
            db, queries.organizations_by_partnership_ids, list)
        self.organizations_by_place = _by_key(db, queries.organizations_by_place_ids, list)
        self.partnerships_by_organization = _by_key(
            db, queries.partnerships_by_organization_ids, list)
        self.partnership_count_by_country = _by_key(
            db, queries.partnership_counts_by_country_ids, int)
        self.partnership_count_by_sector = _by_key(
            db, queries.partnership_counts_by_sector_ids, int)

        async def partners(conn: Any, parents: Sequence[int], key: PageKey) -> dict[int, Page]:
            spec: PartnershipFilterSpec | None = key.spec
            return await queries.partner_pages(
                conn, parents, spec, key.args, with_total=key.with_total,
                include_subdivisions=key.include_subdivisions)

        async def children(conn: Any, parents: Sequence[int], key: PageKey) -> dict[int, Page]:
            return await queries.place_pages_by_parent(
                conn, "parent_id", parents, None, key.args, with_total=key.with_total)

        async def cities(conn: Any, parents: Sequence[int], key: PageKey) -> dict[int, Page]:
            spec: CityFilterSpec | None = key.spec
            return await queries.place_pages_by_parent(
                conn, "country_id", parents, spec, key.args, with_total=key.with_total)

        async def sector_partnerships(conn: Any, parents: Sequence[int],
                                      key: PageKey) -> dict[int, Page]:
            return await queries.partnership_pages_by_sector(
                conn, parents, key.spec, key.args, with_total=key.with_total)

        self.partner_pages_by_place = _pages(db, partners)
        self.child_pages_by_place = _pages(db, children)
        self.city_pages_by_country = _pages(db, cities)
        self.partnership_pages_by_sector = _pages(db, sector_partnerships)
