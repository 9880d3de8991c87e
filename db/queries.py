"""Async batch reads in SQLAlchemy Core: each takes many keys and issues one statement.

Both read paths use these: the Strawberry DataLoaders (the reference executor)
and the compiled executor, so the SQL a request runs does not depend on which
path answered it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from citylinks.db.enums import NOT_YET_IN_FORCE
from citylinks.db.geo import EARTH_RADIUS_KM, bounding_box
from citylinks.db.models import (
    Country,
    Milestone,
    MilestoneParticipant,
    Organization,
    Partnership,
    Place,
    PlaceAlias,
    PlaceSearchKey,
    Sector,
    Source,
    partnership_organizations,
    partnership_sectors,
    partnership_sources,
)
from citylinks.db.pagination import (
    Ordering,
    OrderKey,
    Page,
    PageArgs,
    fetch_page,
    fetch_pages,
)
from citylinks.db.partial_dates import parse_partial_date
from citylinks.db.text import search_key, sort_key
from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    column,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

P = Place.__table__
PS = Partnership.__table__
C = Country.__table__

PLACE_COLUMNS = (P.c.id, P.c.name, P.c.local_name, P.c.level, P.c.country_id, P.c.parent_id,
                 P.c.latitude, P.c.longitude, P.c.population, P.c.region, P.c.wikidata_id,
                 P.c.partner_count)
PARTNERSHIP_COLUMNS = (PS.c.id, PS.c.place_a_id, PS.c.place_b_id, PS.c.kind, PS.c.status,
                       PS.c.since, PS.c.until, PS.c.description, PS.c.distance_km)

# ---------------------------------------------------------------- filters


@dataclass(frozen=True)
class GeoNearSpec:
    latitude: float
    longitude: float
    radius_km: float


@dataclass(frozen=True)
class CityFilterSpec:
    country: str | None = None
    level: str | None = None
    name_contains: str | None = None
    has_partner_in: str | None = None
    sector: str | None = None
    min_population: int | None = None
    near: GeoNearSpec | None = None


@dataclass(frozen=True)
class PartnershipFilterSpec:
    """The partner filter is the same minus `city`, `sinceFrom`, `sinceTo`.

    For partners, `country` is the partner's country; for partnerships, either end's.
    """

    kinds: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    sector: str | None = None
    country: str | None = None
    city: int | None = None
    since_from: str | None = None
    since_to: str | None = None
    active_on: str | None = None


@dataclass(frozen=True)
class OrganizationFilterSpec:
    kind: str | None = None
    city: int | None = None
    name_contains: str | None = None


# ---------------------------------------------------------------- orderings

PLACES_BY_NAME = Ordering("name", (OrderKey(P.c.sort_key), OrderKey(P.c.id)))
PLACES_BY_NAME_DESC = Ordering(
    "name-desc", (OrderKey(P.c.sort_key, True), OrderKey(P.c.id, True)))
PLACES_BY_POPULATION = Ordering(
    "population", (OrderKey(P.c.population, False, 2**62), OrderKey(P.c.id)))
PLACES_BY_POPULATION_DESC = Ordering(
    "population-desc", (OrderKey(P.c.population, True, -1), OrderKey(P.c.id)))
PLACES_BY_PARTNER_COUNT = Ordering(
    "partners", (OrderKey(P.c.partner_count), OrderKey(P.c.sort_key), OrderKey(P.c.id)))
PLACES_BY_PARTNER_COUNT_DESC = Ordering(
    "partners-desc",
    (OrderKey(P.c.partner_count, True), OrderKey(P.c.sort_key), OrderKey(P.c.id)))

PLACE_ORDERINGS = {
    ("NAME", "ASC"): PLACES_BY_NAME,
    ("NAME", "DESC"): PLACES_BY_NAME_DESC,
    ("POPULATION", "ASC"): PLACES_BY_POPULATION,
    ("POPULATION", "DESC"): PLACES_BY_POPULATION_DESC,
    ("PARTNER_COUNT", "ASC"): PLACES_BY_PARTNER_COUNT,
    ("PARTNER_COUNT", "DESC"): PLACES_BY_PARTNER_COUNT_DESC,
}

_LATEST = dt.date(9999, 12, 31)
_EARLIEST = dt.date(1, 1, 1)
PARTNERSHIPS_BY_ID = Ordering("id", (OrderKey(PS.c.id),))
PARTNERSHIP_ORDERINGS = {
    ("ID", "ASC"): PARTNERSHIPS_BY_ID,
    ("ID", "DESC"): Ordering("id-desc", (OrderKey(PS.c.id, True),)),
    ("SINCE", "ASC"): Ordering(
        "since", (OrderKey(PS.c.since_first, False, _LATEST), OrderKey(PS.c.id))),
    ("SINCE", "DESC"): Ordering(
        "since-desc", (OrderKey(PS.c.since_first, True, _EARLIEST), OrderKey(PS.c.id))),
    ("DISTANCE", "ASC"): Ordering(
        "distance", (OrderKey(PS.c.distance_km, False, 1e9), OrderKey(PS.c.id))),
    ("DISTANCE", "DESC"): Ordering(
        "distance-desc", (OrderKey(PS.c.distance_km, True, -1.0), OrderKey(PS.c.id))),
}

# A place's partnerships, seen from it: by partnership id, the same ordering as
# PARTNERSHIPS_BY_ID; with its subdivisions a partnership between two places of one tree
# shows once per end, so the end (self_id) breaks the tie. Keyed by column name: the
# pages are taken from a subquery of edges (`Ordering.on`).
PARTNERS_BY_ID = Ordering("id", (OrderKey(column("id", Integer)),))
PARTNERS_IN_TREE = Ordering(
    "partner-tree", (OrderKey(column("id", Integer)), OrderKey(column("self_id", Integer))))


def partner_ordering(include_subdivisions: bool) -> Ordering:
    """The ordering of `City.partners` and `City.partnerships`: cursors are checked against it."""
    return PARTNERS_IN_TREE if include_subdivisions else PARTNERS_BY_ID


ORG = Organization.__table__
ORGANIZATIONS_BY_NAME = Ordering("org-name", (OrderKey(ORG.c.sort_key), OrderKey(ORG.c.id)))

# ---------------------------------------------------------------- simple batch reads


async def places_by_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Row[Any]]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await conn.execute(select(*PLACE_COLUMNS).where(P.c.id.in_(wanted)))
    return {row.id: row for row in rows}


async def aliases_by_place_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    rows = await conn.execute(
        select(PlaceAlias.place_id, PlaceAlias.alias)
        .where(PlaceAlias.place_id.in_(list(set(ids))))
        .order_by(PlaceAlias.place_id, PlaceAlias.position))
    for place_id, alias in rows:
        out[place_id].append(alias)
    return out


async def countries_by_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Row[Any]]:
    rows = await conn.execute(select(C.c.id, C.c.code, C.c.name).where(C.c.id.in_(list(set(ids)))))
    return {row.id: row for row in rows}


async def countries_by_codes(conn: AsyncConnection, codes: Iterable[str]) -> dict[str, Row[Any]]:
    wanted = list({c.upper() for c in codes})
    rows = await conn.execute(select(C.c.id, C.c.code, C.c.name).where(C.c.code.in_(wanted)))
    return {row.code: row for row in rows}


async def countries_with_places(conn: AsyncConnection) -> list[Row[Any]]:
    rows = await conn.execute(
        select(C.c.id, C.c.code, C.c.name)
        .where(exists().where(P.c.country_id == C.c.id))
        .order_by(C.c.name))
    return list(rows)


async def partnerships_by_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Row[Any]]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await conn.execute(select(*PARTNERSHIP_COLUMNS).where(PS.c.id.in_(wanted)))
    return {row.id: row for row in rows}


SECTOR_COLUMNS = (Sector.id, Sector.slug, Sector.name)


async def all_sectors(conn: AsyncConnection) -> list[Row[Any]]:
    return list(await conn.execute(select(*SECTOR_COLUMNS).order_by(Sector.slug)))


async def sectors_by_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Row[Any]]:
    rows = await conn.execute(select(*SECTOR_COLUMNS).where(Sector.id.in_(list(set(ids)))))
    return {row.id: row for row in rows}


async def sectors_by_slugs(conn: AsyncConnection, slugs: Iterable[str]) -> dict[str, Row[Any]]:
    rows = await conn.execute(select(*SECTOR_COLUMNS).where(Sector.slug.in_(list(set(slugs)))))
    return {row.slug: row for row in rows}


async def sectors_by_partnership_ids(conn: AsyncConnection,
                                     ids: Iterable[int]) -> dict[int, list[Row[Any]]]:
    out: dict[int, list[Row[Any]]] = defaultdict(list)
    wanted = list(set(ids))
    if not wanted:
        return out
    rows = await conn.execute(
        select(partnership_sectors.c.partnership_id, *SECTOR_COLUMNS)
        .join(Sector, Sector.id == partnership_sectors.c.sector_id)
        .where(partnership_sectors.c.partnership_id.in_(wanted))
        .order_by(partnership_sectors.c.partnership_id, Sector.slug))
    for row in rows:
        out[row.partnership_id].append(row)
    return out


SOURCE_COLUMNS = (Source.id, Source.url, Source.title, Source.publisher, Source.published_on,
                  Source.withdrawn_on, Source.license)


async def sources_by_partnership_ids(conn: AsyncConnection,
                                     ids: Iterable[int]) -> dict[int, list[Row[Any]]]:
    out: dict[int, list[Row[Any]]] = defaultdict(list)
    rows = await conn.execute(
        select(partnership_sources.c.partnership_id, *SOURCE_COLUMNS)
        .join(Source, Source.id == partnership_sources.c.source_id)
        .where(partnership_sources.c.partnership_id.in_(list(set(ids))))
        .order_by(partnership_sources.c.partnership_id, partnership_sources.c.position))
    for row in rows:
        out[row.partnership_id].append(row)
    return out


async def sources_by_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Row[Any]]:
    rows = await conn.execute(select(*SOURCE_COLUMNS).where(Source.id.in_(list(set(ids)))))
    return {row.id: row for row in rows}


async def milestones_by_partnership_ids(conn: AsyncConnection,
                                        ids: Iterable[int]) -> dict[int, list[Row[Any]]]:
    """Oldest first; undated milestones after dated ones, in the order they were added."""
    out: dict[int, list[Row[Any]]] = defaultdict(list)
    rows = await conn.execute(
        select(Milestone.id, Milestone.partnership_id, Milestone.date, Milestone.kind,
               Milestone.description, Milestone.source_id)
        .where(Milestone.partnership_id.in_(list(set(ids))))
        .order_by(Milestone.partnership_id,
                  func.coalesce(Milestone.date_first, _LATEST), Milestone.id))
    for row in rows:
        out[row.partnership_id].append(row)
    return out


async def participants_by_milestone_ids(conn: AsyncConnection,
                                        ids: Iterable[int]) -> dict[int, list[Row[Any]]]:
    """The people each milestone's source names, in the source's order."""
    out: dict[int, list[Row[Any]]] = defaultdict(list)
    rows = await conn.execute(
        select(MilestoneParticipant.milestone_id, MilestoneParticipant.name,
               MilestoneParticipant.role, MilestoneParticipant.organization_id)
        .where(MilestoneParticipant.milestone_id.in_(list(set(ids))))
        .order_by(MilestoneParticipant.milestone_id, MilestoneParticipant.position))
    for row in rows:
        out[row.milestone_id].append(row)
    return out


ORGANIZATION_COLUMNS = (ORG.c.id, ORG.c.name, ORG.c.kind, ORG.c.place_id, ORG.c.aliases)


async def organizations_by_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Row[Any]]:
    rows = await conn.execute(select(*ORGANIZATION_COLUMNS).where(ORG.c.id.in_(list(set(ids)))))
    return {row.id: row for row in rows}


async def organizations_by_partnership_ids(conn: AsyncConnection,
                                           ids: Iterable[int]) -> dict[int, list[Row[Any]]]:
    out: dict[int, list[Row[Any]]] = defaultdict(list)
    rows = await conn.execute(
        select(partnership_organizations.c.partnership_id, *ORGANIZATION_COLUMNS)
        .join(ORG, ORG.c.id == partnership_organizations.c.organization_id)
        .where(partnership_organizations.c.partnership_id.in_(list(set(ids))))
        .order_by(partnership_organizations.c.partnership_id, ORG.c.sort_key, ORG.c.id))
    for row in rows:
        out[row.partnership_id].append(row)
    return out


async def organizations_by_place_ids(conn: AsyncConnection,
                                     ids: Iterable[int]) -> dict[int, list[Row[Any]]]:
    out: dict[int, list[Row[Any]]] = defaultdict(list)
    rows = await conn.execute(
        select(*ORGANIZATION_COLUMNS).where(ORG.c.place_id.in_(list(set(ids))))
        .order_by(ORG.c.place_id, ORG.c.sort_key, ORG.c.id))
    for row in rows:
        out[row.place_id].append(row)
    return out


async def partnerships_by_organization_ids(conn: AsyncConnection,
                                           ids: Iterable[int]) -> dict[int, list[Row[Any]]]:
    out: dict[int, list[Row[Any]]] = defaultdict(list)
    rows = await conn.execute(
        select(partnership_organizations.c.organization_id, *PARTNERSHIP_COLUMNS)
        .join(PS, PS.c.id == partnership_organizations.c.partnership_id)
        .where(partnership_organizations.c.organization_id.in_(list(set(ids))))
        .order_by(partnership_organizations.c.organization_id, PS.c.id))
    for row in rows:
        out[row.organization_id].append(row)
    return out


async def partnership_counts_by_country_ids(conn: AsyncConnection,
                                            ids: Iterable[int]) -> dict[int, int]:
    """Partnerships with at least one end in each country."""
    wanted = list(set(ids))
    a, b = P.alias("a"), P.alias("b")
    rows = await conn.execute(
        select(C.c.id, func.count(func.distinct(PS.c.id)))
        .select_from(PS.join(a, a.c.id == PS.c.place_a_id).join(b, b.c.id == PS.c.place_b_id))
        .join(C, or_(C.c.id == a.c.country_id, C.c.id == b.c.country_id))
        .where(C.c.id.in_(wanted)).group_by(C.c.id))
    counts = dict(rows.all())
    return {cid: counts.get(cid, 0) for cid in wanted}


async def partnership_counts_by_sector_ids(conn: AsyncConnection,
                                           ids: Iterable[int]) -> dict[int, int]:
    wanted = list(set(ids))
    rows = await conn.execute(
        select(partnership_sectors.c.sector_id, func.count())
        .where(partnership_sectors.c.sector_id.in_(wanted))
        .group_by(partnership_sectors.c.sector_id))
    counts = dict(rows.all())
    return {sid: counts.get(sid, 0) for sid in wanted}


# ---------------------------------------------------------------- place lists


def _period_bounds(value: str) -> tuple[dt.date, dt.date]:
    return parse_partial_date(value)


def _near_clauses(near: GeoNearSpec) -> list[ColumnElement[bool]]:
    """Bounding box first (an index range), then the exact great-circle distance."""
    min_lat, max_lat, lon_ranges = bounding_box(near.latitude, near.longitude, near.radius_km)
    lat, lon = func.radians(P.c.latitude), func.radians(P.c.longitude)
    lat0, lon0 = func.radians(literal(near.latitude)), func.radians(literal(near.longitude))
    haversine = (func.sin((lat - lat0) / 2) * func.sin((lat - lat0) / 2)
                 + func.cos(lat0) * func.cos(lat)
                 * func.sin((lon - lon0) / 2) * func.sin((lon - lon0) / 2))
    clauses = [
        P.c.latitude.between(min_lat, max_lat),
        or_(*(P.c.longitude.between(lo, hi) for lo, hi in lon_ranges)),
    ]
    if near.radius_km >= math.pi * EARTH_RADIUS_KM:
        # The whole globe: h <= 1 always holds, except by a rounding error at the antipode.
        return clauses
    # 2R·asin(sqrt(h)) <= d  ⇔  h <= sin²(d / 2R), which avoids asin in SQL.
    clauses.append(haversine <= _sin_squared_half(near.radius_km))
    return clauses


def _sin_squared_half(radius_km: float) -> float:
    angle = min(radius_km / EARTH_RADIUS_KM, math.pi)
    return math.sin(angle / 2) ** 2


def partnership_touches(place: ColumnElement[Any]) -> ColumnElement[bool]:
    return or_(PS.c.place_a_id == place, PS.c.place_b_id == place)


def _country_id(code: str) -> Any:
    """The country's id as a scalar subquery, so a filter by code costs no extra statement."""
    return select(C.c.id).where(C.c.code == code.upper()).scalar_subquery()


def city_filter_clauses(spec: CityFilterSpec | None) -> list[ColumnElement[bool]]:
    if spec is None:
        return []
    clauses: list[ColumnElement[bool]] = []
    if spec.country is not None:
        clauses.append(P.c.country_id == _country_id(spec.country))
    if spec.level is not None:
        clauses.append(P.c.level == spec.level)
    if spec.name_contains:
        key = search_key(spec.name_contains)
        clauses.append(exists().where(PlaceSearchKey.place_id == P.c.id,
                                      PlaceSearchKey.key.contains(key, autoescape=True)))
    if spec.min_population is not None:
        clauses.append(P.c.population >= spec.min_population)
    if spec.has_partner_in is not None:
        other = P.alias("other")
        clauses.append(exists().where(
            partnership_touches(P.c.id),
            other.c.id == case((PS.c.place_a_id == P.c.id, PS.c.place_b_id),
                               else_=PS.c.place_a_id),
            other.c.country_id == _country_id(spec.has_partner_in)))
    if spec.sector is not None:
        clauses.append(exists().where(
            partnership_touches(P.c.id),
            partnership_sectors.c.partnership_id == PS.c.id,
            partnership_sectors.c.sector_id == select(Sector.id)
            .where(Sector.slug == spec.sector).scalar_subquery()))
    if spec.near is not None:
        clauses.extend(_near_clauses(spec.near))
    return clauses


async def list_places(conn: AsyncConnection, spec: CityFilterSpec | None, ordering: Ordering,
                      args: PageArgs, *, with_total: bool) -> Page:
    query = select(*PLACE_COLUMNS).where(*city_filter_clauses(spec))
    return await fetch_page(conn, query, ordering, args, with_total=with_total)


async def place_pages_by_parent(conn: AsyncConnection, parent_column: str,
                                parent_ids: Sequence[int], spec: CityFilterSpec | None,
                                args: PageArgs, *, with_total: bool) -> dict[int, Page]:
    """Places grouped by `parent_id` (children) or `country_id` (a country's cities), by name."""
    parent = P.c[parent_column].label("parent")
    query = (select(parent, *PLACE_COLUMNS)
             .where(P.c[parent_column].in_(list(parent_ids)), *city_filter_clauses(spec)))
    return await fetch_pages(conn, query, parent, parent_ids, PLACES_BY_NAME, args,
                             with_total=with_total)


# ---------------------------------------------------------------- partnerships


def _active_on(value: str) -> ColumnElement[bool]:
    """In force at some time within the period: begun by its end, not ended before its start.
    An unknown start is not "always": such a partnership is in force at no given date."""
    first, last = _period_bounds(value)
    return and_(
        PS.c.status.not_in([s.value for s in NOT_YET_IN_FORCE]),
        PS.c.since_first.is_not(None), PS.c.since_first <= last,
        or_(PS.c.until_last.is_(None), PS.c.until_last >= first),
    )


def partnerships_in_country(code: str) -> Any:
    """The ids of partnerships with an end in the country, read from the places' and the
    partnerships' indexes: a correlated test of each partnership's ends instead scanned
    the whole table (8 ms per statement for Japan on the world data, against 0.6)."""
    return union_all(*(select(ps.c.id).join(place, place.c.id == ps.c[end])
                       .where(place.c.country_id == _country_id(code))
                       for ps, place, end in _COUNTRY_ENDS))


# Made once: an alias copies its table's columns, which cost more than the statement's
# own building when each request made its own (a country view's eleven statements).
_COUNTRY_ENDS = [(PS.alias(f"in_country_{end}"), P.alias(f"in_country_place_{end}"),
                  f"place_{end}_id") for end in ("a", "b")]


def partnership_filter_clauses(spec: PartnershipFilterSpec | None,
                               partner_column: ColumnElement[Any] | None = None
                               ) -> list[ColumnElement[bool]]:
    """`partner_column`, when given, is the far end: `country` then filters on it alone."""
    if spec is None:
        return []
    clauses: list[ColumnElement[bool]] = []
    if spec.kinds:
        clauses.append(PS.c.kind.in_(spec.kinds))
    if spec.statuses:
        clauses.append(PS.c.status.in_(spec.statuses))
    if spec.sector is not None:
        clauses.append(exists().where(
            partnership_sectors.c.partnership_id == PS.c.id,
            partnership_sectors.c.sector_id == select(Sector.id)
            .where(Sector.slug == spec.sector).scalar_subquery()))
    if spec.country is not None:
        if partner_column is not None:
            clauses.append(exists().where(P.c.id == partner_column,
                                          P.c.country_id == _country_id(spec.country)))
        else:
            clauses.append(PS.c.id.in_(partnerships_in_country(spec.country)))
    if spec.city is not None:
        clauses.append(partnership_touches(literal(spec.city)))
    if spec.since_from is not None:
        clauses.append(PS.c.since_first >= _period_bounds(spec.since_from)[0])
    if spec.since_to is not None:
        clauses.append(PS.c.since_first <= _period_bounds(spec.since_to)[1])
    if spec.active_on is not None:
        clauses.append(_active_on(spec.active_on))
    return clauses


async def list_partnerships(conn: AsyncConnection, spec: PartnershipFilterSpec | None,
                            ordering: Ordering, args: PageArgs, *, with_total: bool) -> Page:
    query = select(*PARTNERSHIP_COLUMNS).where(*partnership_filter_clauses(spec))
    return await fetch_page(conn, query, ordering, args, with_total=with_total)


async def partnership_pages_by_sector(conn: AsyncConnection, sector_ids: Sequence[int],
                                      spec: PartnershipFilterSpec | None, args: PageArgs, *,
                                      with_total: bool) -> dict[int, Page]:
    parent = partnership_sectors.c.sector_id.label("parent")
    query = (select(parent, *PARTNERSHIP_COLUMNS)
             .join(partnership_sectors, partnership_sectors.c.partnership_id == PS.c.id)
             .where(partnership_sectors.c.sector_id.in_(list(sector_ids)),
                    *partnership_filter_clauses(spec)))
    return await fetch_pages(conn, query, parent, sector_ids, PARTNERSHIPS_BY_ID, args,
                             with_total=with_total)


def subdivision_tree(place_ids: Sequence[int]) -> Any:
    """(root, member) for each root and every place inside it, the root itself included."""
    tree = (select(P.c.id.label("root"), P.c.id.label("member"))
            .where(P.c.id.in_(list(place_ids))).cte("tree", recursive=True))
    child = P.alias("child")
    # UNION, not UNION ALL: an imported file can make two places each other's parent, and
    # dropping rows already seen is what ends the recursion then.
    return tree.union(
        select(tree.c.root, child.c.id).join(child, child.c.parent_id == tree.c.member))


def _edges(parent_ids: Sequence[int],
           include_subdivisions: bool) -> tuple[Any, ColumnElement[Any]]:
    """Each partnership seen from each of its ends: (parent, self, other, partnership...)."""
    if not include_subdivisions:
        branches = [
            select(PS.c.place_a_id.label("parent"), PS.c.place_a_id.label("self_id"),
                   PS.c.place_b_id.label("other_id"), *PARTNERSHIP_COLUMNS)
            .where(PS.c.place_a_id.in_(list(parent_ids))),
            select(PS.c.place_b_id.label("parent"), PS.c.place_b_id.label("self_id"),
                   PS.c.place_a_id.label("other_id"), *PARTNERSHIP_COLUMNS)
            .where(PS.c.place_b_id.in_(list(parent_ids))),
        ]
    else:
        tree = subdivision_tree(parent_ids)
        branches = [
            select(tree.c.root.label("parent"), PS.c.place_a_id.label("self_id"),
                   PS.c.place_b_id.label("other_id"), *PARTNERSHIP_COLUMNS)
            .join(tree, tree.c.member == PS.c.place_a_id),
            select(tree.c.root.label("parent"), PS.c.place_b_id.label("self_id"),
                   PS.c.place_a_id.label("other_id"), *PARTNERSHIP_COLUMNS)
            .join(tree, tree.c.member == PS.c.place_b_id),
        ]
    edges = union_all(*branches).subquery("edges")
    return edges, edges.c.parent


async def partner_pages(conn: AsyncConnection, place_ids: Sequence[int],
                        spec: PartnershipFilterSpec | None, args: PageArgs, *,
                        with_total: bool, include_subdivisions: bool = False) -> dict[int, Page]:
    """Each place's partnerships seen from it, by partnership id; rows carry self_id/other_id."""
    edges, parent = _edges(place_ids, include_subdivisions)
    # Filters are written against the partnerships table; re-point them at the edges.
    clauses = partnership_filter_clauses(spec, partner_column=edges.c.other_id)
    query = select(*edges.c).select_from(edges)
    if clauses:
        query = query.where(edges.c.id.in_(select(PS.c.id).where(*clauses)))
    ordering = partner_ordering(include_subdivisions).on(edges)
    return await fetch_pages(conn, query, parent, place_ids, ordering, args,
                             with_total=with_total)


# ---------------------------------------------------------------- organizations


async def list_organizations(conn: AsyncConnection, spec: OrganizationFilterSpec | None,
                             args: PageArgs, *, with_total: bool) -> Page:
    clauses: list[ColumnElement[bool]] = []
    if spec is not None:
        if spec.kind is not None:
            clauses.append(ORG.c.kind == spec.kind)
        if spec.city is not None:
            clauses.append(ORG.c.place_id == spec.city)
        if spec.name_contains:
            clauses.append(ORG.c.sort_key.contains(sort_key(spec.name_contains), autoescape=True))
    query = select(*ORGANIZATION_COLUMNS).where(*clauses)
    return await fetch_page(conn, query, ORGANIZATIONS_BY_NAME, args, with_total=with_total)


# ---------------------------------------------------------------- names and search


async def places_matching_name(conn: AsyncConnection, name: str,
                               country: str | None) -> list[Row[Any]]:
    """Exact folded-name matches: places whose own name matches come before alias matches."""
    key = search_key(name)
    if not key:
        return []
    query = (select(*PLACE_COLUMNS, func.min(PlaceSearchKey.rank).label("match_rank"))
             .join(PlaceSearchKey, PlaceSearchKey.place_id == P.c.id)
             .where(PlaceSearchKey.key == key)
             .group_by(*PLACE_COLUMNS))
    if country:
        query = query.where(P.c.country_id == _country_id(country))
    rows = list(await conn.execute(query.order_by("match_rank", P.c.sort_key, P.c.id)))
    best = [row for row in rows if row.match_rank == rows[0].match_rank] if rows else []
    return best


async def search_places(conn: AsyncConnection, text: str, limit: int) -> list[Row[Any]]:
    """Ranked: exact name, exact alias, name prefix, alias prefix, then contains;
    ties by partner count, population, name."""
    key = search_key(text)
    if not key or limit <= 0:
        return []
    k = PlaceSearchKey
    score = func.min(case(
        (k.key == key, k.rank),
        (k.key.startswith(key, autoescape=True), 2 + k.rank),
        else_=4 + k.rank,
    )).label("score")
    query = (select(*PLACE_COLUMNS, score)
             .join(k, k.place_id == P.c.id)
             .where(k.key.contains(key, autoescape=True))
             .group_by(*PLACE_COLUMNS)
             .order_by(score, P.c.partner_count.desc(),
                       func.coalesce(P.c.population, -1).desc(), P.c.sort_key, P.c.id)
             .limit(limit))
    return list(await conn.execute(query))


# ---------------------------------------------------------------- statistics


async def stats(conn: AsyncConnection, country_limit: int | None) -> dict[str, Any]:
    cities = (await conn.execute(select(func.count()).select_from(P))).scalar_one()
    partnerships = (await conn.execute(select(func.count()).select_from(PS))).scalar_one()
    countries = (await conn.execute(
        select(func.count(func.distinct(P.c.country_id))))).scalar_one()
    by_kind = list(await conn.execute(
        select(PS.c.kind, func.count()).group_by(PS.c.kind).order_by(PS.c.kind)))
    by_status = list(await conn.execute(
        select(PS.c.status, func.count()).group_by(PS.c.status).order_by(PS.c.status)))
    by_sector = list(await conn.execute(
        select(Sector.slug, func.count())
        .join(partnership_sectors, partnership_sectors.c.sector_id == Sector.id)
        .group_by(Sector.slug).order_by(func.count().desc(), Sector.slug)))
    a, b = P.alias("a"), P.alias("b")
    ends = union_all(
        select(PS.c.id.label("pid"), a.c.country_id.label("cid"))
        .join(a, a.c.id == PS.c.place_a_id),
        select(PS.c.id.label("pid"), b.c.country_id.label("cid"))
        .join(b, b.c.id == PS.c.place_b_id),
    ).subquery()
    by_country_query = (
        select(C.c.code, func.count(func.distinct(ends.c.pid)))
        .join(ends, ends.c.cid == C.c.id)
        .group_by(C.c.code).order_by(func.count(func.distinct(ends.c.pid)).desc(), C.c.code))
    if country_limit is not None:
        by_country_query = by_country_query.limit(country_limit)
    by_country = list(await conn.execute(by_country_query))
    year = func.substr(PS.c.since, 1, 4)
    by_year = list(await conn.execute(
        select(year, func.count()).where(PS.c.since.is_not(None))
        .group_by(year).order_by(year)))
    return {
        "cities": cities, "partnerships": partnerships, "countries": countries,
        "by_kind": by_kind, "by_status": by_status, "by_sector": by_sector,
        "by_country": by_country, "by_year": by_year,
    }

