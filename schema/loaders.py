"""Per-request DataLoaders: one batch function each, every one a single statement in db.queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
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


async def _partner_pages(conn: Any, parents: Sequence[int], key: PageKey) -> dict[int, Page]:
    spec: PartnershipFilterSpec | None = key.spec
    return await queries.partner_pages(conn, parents, spec, key.args, with_total=key.with_total,
                                       include_subdivisions=key.include_subdivisions)


async def _child_pages(conn: Any, parents: Sequence[int], key: PageKey) -> dict[int, Page]:
    return await queries.place_pages_by_parent(conn, "parent_id", parents, None, key.args,
                                               with_total=key.with_total)


async def _city_pages(conn: Any, parents: Sequence[int], key: PageKey) -> dict[int, Page]:
    spec: CityFilterSpec | None = key.spec
    return await queries.place_pages_by_parent(conn, "country_id", parents, spec, key.args,
                                               with_total=key.with_total)


async def _sector_partnership_pages(conn: Any, parents: Sequence[int],
                                    key: PageKey) -> dict[int, Page]:
    return await queries.partnership_pages_by_sector(conn, parents, key.spec, key.args,
                                                     with_total=key.with_total)


class _PerRequest:
    """A loader of `Loaders`, made on its first use in a request and kept for the rest of
    it (as functools.cached_property does): a request answered on the compiled path uses
    none, and making all of them cost a tenth of its CPU time."""

    def __init__(self, make: Callable[[Database], DataLoader[Any, Any]]) -> None:
        self.make = make

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, loaders: Loaders | None, owner: type) -> Any:
        if loaders is None:
            return self
        loader = loaders.__dict__[self.name] = self.make(loaders.db)
        return loader


def _keyed(fetch: Callable[[Any, list[Any]], Awaitable[dict[Any, Any]]],
           default: Callable[[], Any] | None = None) -> Any:
    return _PerRequest(lambda db: _by_key(db, fetch, default))


def _paged(fetch: Callable[[Any, Sequence[int], PageKey], Awaitable[dict[int, Page]]]) -> Any:
    return _PerRequest(lambda db: _pages(db, fetch))


class Loaders:
    """The DataLoaders of one request."""

    place_by_id: DataLoader[int, Any] = _keyed(queries.places_by_ids)
    aliases_by_place: DataLoader[int, Any] = _keyed(queries.aliases_by_place_ids, list)
    country_by_id: DataLoader[int, Any] = _keyed(queries.countries_by_ids)
    partnership_by_id: DataLoader[int, Any] = _keyed(queries.partnerships_by_ids)
    sector_by_id: DataLoader[int, Any] = _keyed(queries.sectors_by_ids)
    organization_by_id: DataLoader[int, Any] = _keyed(queries.organizations_by_ids)
    source_by_id: DataLoader[int, Any] = _keyed(queries.sources_by_ids)
    sectors_by_partnership: DataLoader[int, Any] = _keyed(
        queries.sectors_by_partnership_ids, list)
    sources_by_partnership: DataLoader[int, Any] = _keyed(
        queries.sources_by_partnership_ids, list)
    milestones_by_partnership: DataLoader[int, Any] = _keyed(
        queries.milestones_by_partnership_ids, list)
    participants_by_milestone: DataLoader[int, Any] = _keyed(
        queries.participants_by_milestone_ids, list)
    organizations_by_partnership: DataLoader[int, Any] = _keyed(
        queries.organizations_by_partnership_ids, list)
    organizations_by_place: DataLoader[int, Any] = _keyed(
        queries.organizations_by_place_ids, list)
    partnerships_by_organization: DataLoader[int, Any] = _keyed(
        queries.partnerships_by_organization_ids, list)
    partnership_count_by_country: DataLoader[int, Any] = _keyed(
        queries.partnership_counts_by_country_ids, int)
    partnership_count_by_sector: DataLoader[int, Any] = _keyed(
        queries.partnership_counts_by_sector_ids, int)
    partner_pages_by_place: DataLoader[PageKey, Page] = _paged(_partner_pages)
    child_pages_by_place: DataLoader[PageKey, Page] = _paged(_child_pages)
    city_pages_by_country: DataLoader[PageKey, Page] = _paged(_city_pages)
    partnership_pages_by_sector: DataLoader[PageKey, Page] = _paged(_sector_partnership_pages)

    def __init__(self, db: Database) -> None:
        self.db = db
