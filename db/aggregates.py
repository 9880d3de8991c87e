"""Aggregations over the partnerships that match a filter: counts, flows between countries,
rankings and the arcs a map draws, each one grouped statement that stays cheap at world scale.

Every function takes the same `PartnershipFilterSpec` as the partnership lists, so a count
here agrees with the `totalCount` of the list a client would page through with that filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from citylinks.db.models import Sector, partnership_sectors
from citylinks.db.queries import (
    PS,
    C,
    P,
    PartnershipFilterSpec,
    _country_id,
    partnership_filter_clauses,
)
from sqlalchemy import CTE, and_, case, func, or_, select, union, union_all
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

# A partnership's two places and two countries, aliased once for every statement (an
# alias copies its table's columns: made per request, they cost more than the building
# of the statement itself).
_A, _B = P.alias("a"), P.alias("b")
_COUNTRY_A, _COUNTRY_B = C.alias("ca"), C.alias("cb")


@dataclass(frozen=True)
class BoundingBox:
    """Degrees; `west` > `east` crosses the antimeridian (Fiji, the Bering Strait)."""

    south: float
    west: float
    north: float
    east: float


def _matching(spec: PartnershipFilterSpec | None) -> CTE:
    return (select(PS.c.id, PS.c.place_a_id, PS.c.place_b_id, PS.c.kind, PS.c.status,
                   PS.c.since)
            .where(*partnership_filter_clauses(spec)).cte("matching"))


def _ends(matching: CTE) -> Any:
    """One row per end of each matching partnership: (partnership, place, country)."""
    return union_all(
        select(matching.c.id.label("pid"), P.c.id.label("place_id"),
               P.c.country_id.label("country_id"))
        .join(P, P.c.id == matching.c.place_a_id),
        select(matching.c.id.label("pid"), P.c.id.label("place_id"),
               P.c.country_id.label("country_id"))
        .join(P, P.c.id == matching.c.place_b_id),
    ).subquery("ends")


async def totals(conn: AsyncConnection, spec: PartnershipFilterSpec | None) -> dict[str, int]:
    """partnerships, undated (no `since`), places and countries with a matching partnership."""
    m = _matching(spec)
    # UNION (not count(distinct) over UNION ALL): SQLite dedups the ends through an index.
    places = union(select(m.c.place_a_id.label("place_id")),
                   select(m.c.place_b_id)).subquery("reached")
    reach = (select(func.count(), func.count(func.distinct(P.c.country_id)))
             .select_from(places).join(P, P.c.id == places.c.place_id).subquery("reach"))
    row = (await conn.execute(select(
        func.count(), func.coalesce(func.sum(case((m.c.since.is_(None), 1), else_=0)), 0),
        select(reach.c[0]).scalar_subquery(), select(reach.c[1]).scalar_subquery(),
    ).select_from(m))).one()
    return {"partnerships": int(row[0]), "undated": int(row[1]),
            "places": int(row[2]), "countries": int(row[3])}


async def by_column(conn: AsyncConnection, spec: PartnershipFilterSpec | None,
                    column: str) -> list[tuple[str, int]]:
    """Counts by `kind` or `status`, in the key's order."""
    m = _matching(spec)
    rows = await conn.execute(select(m.c[column], func.count()).group_by(m.c[column])
                              .order_by(m.c[column]))
    return [(str(k), int(c)) for k, c in rows]


async def by_period(conn: AsyncConnection, spec: PartnershipFilterSpec | None,
                    digits: int) -> list[tuple[str, int]]:
    """Counts by year (`digits` 4) or decade (3: "1990"), oldest first; undated left out."""
    m = _matching(spec)
    key = func.substr(m.c.since, 1, digits)
    rows = await conn.execute(select(key, func.count()).where(m.c.since.is_not(None))
                              .group_by(key).order_by(key))
    return [(str(k) + "0" * (4 - digits), int(c)) for k, c in rows]


async def by_sector(conn: AsyncConnection, spec: PartnershipFilterSpec | None,
                    limit: int) -> list[tuple[str, int]]:
    m = _matching(spec)
    rows = await conn.execute(
        select(Sector.slug, func.count())
        .join(partnership_sectors, partnership_sectors.c.sector_id == Sector.id)
        .join(m, m.c.id == partnership_sectors.c.partnership_id)
        .group_by(Sector.slug).order_by(func.count().desc(), Sector.slug).limit(limit))
    return [(str(k), int(c)) for k, c in rows]


async def by_country(conn: AsyncConnection, spec: PartnershipFilterSpec | None,
                     limit: int) -> list[Row[Any]]:
    """(country row, count, latitude, longitude): partnerships with an end in each country,
    most first; the point is the mean position of those ends, where the country's ties lie."""
    m = _matching(spec)
    ends = _ends(m)
    counted = (select(ends.c.country_id,
                      func.count(func.distinct(ends.c.pid)).label("count"),
                      func.avg(P.c.latitude).label("latitude"),
                      func.avg(P.c.longitude).label("longitude"))
               .join(P, P.c.id == ends.c.place_id)
               .group_by(ends.c.country_id).subquery("counted"))
    query = (select(C.c.id, C.c.code, C.c.name, counted.c.count,
                    counted.c.latitude, counted.c.longitude)
             .join(counted, counted.c.country_id == C.c.id)
             .order_by(counted.c.count.desc(), C.c.code).limit(limit))
    return list(await conn.execute(query))


async def country_pairs(conn: AsyncConnection, spec: PartnershipFilterSpec | None,
                        limit: int) -> list[tuple[int, int, int]]:
    """(country id, country id, count): flows between pairs of countries, strongest first;
    the lower id first, and a country twice for partnerships within it."""
    m = _matching(spec)
    a, b = _A, _B
    low = case((a.c.country_id <= b.c.country_id, a.c.country_id), else_=b.c.country_id)
    high = case((a.c.country_id <= b.c.country_id, b.c.country_id), else_=a.c.country_id)
    ca, cb = _COUNTRY_A, _COUNTRY_B
    pairs = (select(low.label("low"), high.label("high"), func.count().label("count"))
             .select_from(m).join(a, a.c.id == m.c.place_a_id).join(b, b.c.id == m.c.place_b_id)
             .group_by(low, high).subquery("pairs"))
    rows = await conn.execute(
        select(pairs.c.low, pairs.c.high, pairs.c.count)
        .join(ca, ca.c.id == pairs.c.low).join(cb, cb.c.id == pairs.c.high)
        .order_by(pairs.c.count.desc(), ca.c.code, cb.c.code).limit(limit))
    return [(int(x), int(y), int(c)) for x, y, c in rows]


async def partner_countries(conn: AsyncConnection, spec: PartnershipFilterSpec,
                            limit: int) -> list[tuple[int, int]]:
    """(country id, count): for the filter's country, the countries at the other end of its
    partnerships, most first; partnerships within the country count under the country."""
    assert spec.country is not None
    home = _country_id(spec.country)
    m = _matching(spec)
    a, b = _A, _B
    other = case((a.c.country_id == home, b.c.country_id), else_=a.c.country_id)
    c = _COUNTRY_A
    counted = (select(other.label("country_id"), func.count().label("count"))
               .select_from(m).join(a, a.c.id == m.c.place_a_id)
               .join(b, b.c.id == m.c.place_b_id)
               .group_by(other).subquery("counted"))
    rows = await conn.execute(
        select(counted.c.country_id, counted.c.count).join(c, c.c.id == counted.c.country_id)
        .order_by(counted.c.count.desc(), c.c.code).limit(limit))
    return [(int(k), int(n)) for k, n in rows]


async def top_places(conn: AsyncConnection, spec: PartnershipFilterSpec | None,
                     country: str | None, limit: int) -> list[tuple[int, int]]:
    """(place id, count): places by their number of matching partnerships, most first
    (then the larger, then by name); only places in `country` when given."""
    m = _matching(spec)
    ends = _ends(m)
    count = func.count().label("count")
    counted = select(ends.c.place_id, count).group_by(ends.c.place_id)
    if country is not None:
        counted = counted.where(ends.c.country_id == _country_id(country))
    sub = counted.subquery("counted")
    rows = await conn.execute(
        select(sub.c.place_id, sub.c.count).join(P, P.c.id == sub.c.place_id)
        .order_by(sub.c.count.desc(), func.coalesce(P.c.population, -1).desc(),
                  P.c.sort_key, P.c.id).limit(limit))
    return [(int(k), int(n)) for k, n in rows]


def _inside(place: Any, box: BoundingBox) -> Any:
    longitude = (place.c.longitude.between(box.west, box.east) if box.west <= box.east
                 else or_(place.c.longitude >= box.west, place.c.longitude <= box.east))
    return and_(place.c.latitude.between(box.south, box.north), longitude)


async def arcs(conn: AsyncConnection, spec: PartnershipFilterSpec | None,
               within: BoundingBox | None, limit: int) -> list[Row[Any]]:
    """Matching partnerships whose two places have coordinates (with one end inside `within`
    when given): id, both names and positions; those between the best-connected places first,
    so a map that cannot draw them all draws the ones people look for."""
    m = _matching(spec)
    a, b = _A, _B
    query = (select(m.c.id, a.c.name.label("a_name"), a.c.longitude.label("a_lon"),
                    a.c.latitude.label("a_lat"), b.c.name.label("b_name"),
                    b.c.longitude.label("b_lon"), b.c.latitude.label("b_lat"))
             .select_from(m).join(a, a.c.id == m.c.place_a_id).join(b, b.c.id == m.c.place_b_id)
             .where(a.c.latitude.is_not(None), a.c.longitude.is_not(None),
                    b.c.latitude.is_not(None), b.c.longitude.is_not(None)))
    if within is not None:
        query = query.where(or_(_inside(a, within), _inside(b, within)))
    query = query.order_by((a.c.partner_count + b.c.partner_count).desc(), m.c.id).limit(limit)
    return list(await conn.execute(query))


async def by_region(conn: AsyncConnection, spec: PartnershipFilterSpec | None,
                    country: str, limit: int) -> list[tuple[str, int]]:
    """(region, count): the first-level regions of `country` by the matching partnerships
    with an end in them, most first; places without a known region are left out."""
    m = _matching(spec)
    ends = _ends(m)
    region = P.c.region
    rows = await conn.execute(
        select(region, func.count(func.distinct(ends.c.pid)))
        .join(P, P.c.id == ends.c.place_id)
        .where(ends.c.country_id == _country_id(country), region.is_not(None))
        .group_by(region).order_by(func.count(func.distinct(ends.c.pid)).desc(), region)
        .limit(limit))
    return [(str(k), int(c)) for k, c in rows]
