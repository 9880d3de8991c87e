"""`partnershipStats(filter:)`: counts, country flows, rankings and map arcs over the
partnerships that match a filter, for pictures of the world that never fetch the whole graph."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry
from citylinks.db import aggregates
from citylinks.db.queries import PartnershipFilterSpec
from citylinks.httpcache import data_version
from citylinks.schema.errors import bad_input
from citylinks.schema.ids import encode_id
from citylinks.schema.inputs import PartnershipFilter, _code, partnership_filter_spec
from citylinks.schema.types.nodes import City, Country
from citylinks.schema.types.stats import CountBucket
from strawberry.types import Info

MAX_RANKED = 100
RANKED = strawberry.argument(description=f"How many, most first: 0 to {MAX_RANKED}.")
ARCS = strawberry.argument(description="How many, best-connected first: 0 to 2000.")
COUNTRY = strawberry.argument(description="Only places in this country (ISO code).")
REGION_COUNTRY = strawberry.argument(description=(
    "The country whose regions to count (ISO code); the filter's country without one."))
WITHIN = strawberry.argument(description=(
    "Only partnerships with at least one place inside this area."))
FILTER = strawberry.argument(description=(
    "The partnerships to aggregate, as `partnerships(filter:)` takes it; all without one. "
    'A decade is sinceFrom "1990", sinceTo "1999".'))
MAX_ARCS = 2000
DEFAULT_ARCS = 500


# Aggregates of one data version never change: every accepted write (and import) bumps the
# version, so answers are kept per version, and a page that many people open (the world)
# costs one primary-key read instead of its grouped statements.
_ANSWERS: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_ANSWERS_KEPT = 512


def _bounded(value: int, limit: int, field: str = "first") -> int:
    if not 0 <= value <= limit:
        raise bad_input(f"{field} must be between 0 and {limit}", field)
    return value


def _buckets(rows: list[tuple[str, int]]) -> list[CountBucket]:
    return [CountBucket(key=key, count=count) for key, count in rows]


@strawberry.type(description="A country with a count of partnerships.")
class CountryCount:
    country: Country = strawberry.field(description="The country.")
    count: int = strawberry.field(description="Matching partnerships counted for it.")


@strawberry.type(description=(
    "A country where partnerships have an end, with the mean position of those ends: "
    "where a map draws the country's flows."))
class CountryPoint:
    country: Country = strawberry.field(description="The country.")
    count: int = strawberry.field(description="Matching partnerships with an end in it.")
    latitude: float | None = strawberry.field(description=(
        "Mean latitude of the ends in this country; null when none has coordinates."))
    longitude: float | None = strawberry.field(description=(
        "Mean longitude of the ends in this country; null when none has coordinates."))


@strawberry.type(description=(
    "The partnerships between two countries (one flow on a world map)."))
class CountryPair:
    countries: list[Country] = strawberry.field(description=(
        "Exactly two, by code; the same country twice for partnerships within it."))
    count: int = strawberry.field(description="Matching partnerships between them.")


@strawberry.type(description="A place with its number of matching partnerships.")
class PlaceCount:
    city: City = strawberry.field(description="The place.")
    count: int = strawberry.field(description="Its matching partnerships.")


@strawberry.type(description=(
    "One partnership as a map draws it: the two places' names and positions."))
class Arc:
    id: strawberry.ID = strawberry.field(description="The partnership's global id.")
    names: list[str] = strawberry.field(description="The two places' names.")
    coordinates: list[float] = strawberry.field(description=(
        "Longitude and latitude of the first place, then of the second (four numbers)."))


@strawberry.input(description=(
    "An area of the map in degrees; `west` greater than `east` crosses the antimeridian."))
class BoundingBoxInput:
    south: float = strawberry.field(description="Southern edge, -90 to 90.")
    west: float = strawberry.field(description="Western edge, -180 to 180.")
    north: float = strawberry.field(description="Northern edge, -90 to 90.")
    east: float = strawberry.field(description="Eastern edge, -180 to 180.")


def _box(value: BoundingBoxInput | None) -> aggregates.BoundingBox | None:
    if value is None:
        return None
    for name in ("south", "north"):
        if not -90 <= getattr(value, name) <= 90:
            raise bad_input(f"{name} must be between -90 and 90", name)
    for name in ("west", "east"):
        if not -180 <= getattr(value, name) <= 180:
            raise bad_input(f"{name} must be between -180 and 180", name)
    if value.south > value.north:
        raise bad_input("south must not be north of north", "south")
    return aggregates.BoundingBox(value.south, value.west, value.north, value.east)


class StatsReader:
    """The aggregates of one filter for one request: each computed once however many
    fields ask for it, and kept per data version across requests. Both read paths use
    it: Strawberry's resolvers below and the compiled path (compiled/stats.py)."""

    def __init__(self, database: Any, spec: PartnershipFilterSpec | None) -> None:
        self.database = database
        self.spec = spec
        self._loaded: dict[Any, asyncio.Future[Any]] = {}

    def _once(self, key: Any, make: Callable[[], Awaitable[Any]]) -> asyncio.Future[Any]:
        if key not in self._loaded:
            self._loaded[key] = asyncio.ensure_future(make())
        return self._loaded[key]

    def _answer(self, key: tuple[Any, ...],
                compute: Callable[[Any], Awaitable[Any]]) -> asyncio.Future[Any]:
        """`compute(conn)`'s answer, from the answers kept for this data version if there."""
        async def make() -> Any:
            database = self.database
            version = await self._once("version", lambda: data_version(database))
            full = (id(database), version, self.spec, *key)
            if full in _ANSWERS:
                _ANSWERS.move_to_end(full)
                return _ANSWERS[full]
            async with database.read() as conn:
                answer = await compute(conn)
            _ANSWERS[full] = answer
            while len(_ANSWERS) > _ANSWERS_KEPT:
                _ANSWERS.popitem(last=False)
            return answer

        return self._once(key, make)

    async def totals(self) -> dict[str, int]:
        answer: dict[str, int] = await self._answer(
            ("totals",), lambda conn: aggregates.totals(conn, self.spec))
        return answer

    async def buckets(self, name: str) -> list[tuple[str, int]]:
        """By kind, status, year or decade."""
        if name in ("kind", "status"):
            return await self._answer(
                (name,), lambda conn: aggregates.by_column(conn, self.spec, name))
        digits = 4 if name == "year" else 3
        return await self._answer(
            (name,), lambda conn: aggregates.by_period(conn, self.spec, digits))

    async def sectors(self, limit: int) -> list[tuple[str, int]]:
        return await self._answer(("sector", limit),
                                  lambda conn: aggregates.by_sector(conn, self.spec, limit))

    async def countries(self, limit: int) -> list[Any]:
        return await self._answer(("country", limit),
                                  lambda conn: aggregates.by_country(conn, self.spec, limit))

    async def country_pairs(self, limit: int) -> list[tuple[int, int, int]]:
        return await self._answer(("pairs", limit),
                                  lambda conn: aggregates.country_pairs(conn, self.spec, limit))

    async def partner_countries(self, limit: int) -> list[tuple[int, int]]:
        if self.spec is None or self.spec.country is None:
            raise bad_input("partnerCountries needs a country in the filter", "country")
        spec = self.spec
        return await self._answer(
            ("partners", limit), lambda conn: aggregates.partner_countries(conn, spec, limit))

    async def regions(self, country: str | None, limit: int) -> list[tuple[str, int]]:
        code = _code(country, "country") or (self.spec.country if self.spec else None)
        if code is None:
            raise bad_input("byRegion needs a country: its argument or the filter's", "country")
        return await self._answer(
            ("regions", code, limit),
            lambda conn: aggregates.by_region(conn, self.spec, code, limit))

    async def top_places(self, country: str | None, limit: int) -> list[tuple[int, int]]:
        code = _code(country, "country")
        return await self._answer(
            ("places", code, limit),
            lambda conn: aggregates.top_places(conn, self.spec, code, limit))

    async def arcs(self, within: BoundingBoxInput | None, limit: int) -> list[Any]:
        box = _box(within)
        return await self._answer(("arcs", box, limit),
                                  lambda conn: aggregates.arcs(conn, self.spec, box, limit))


@strawberry.type(description=(
    "Aggregations over the partnerships that match a filter (all of them without one); "
    "each count agrees with the totalCount of `partnerships(filter:)`. Each field is one "
    "grouped statement."))
class PartnershipStats:
    spec: strawberry.Private[PartnershipFilterSpec | None]
    reader: strawberry.Private[StatsReader | None] = None

    def _read(self, info: Info) -> StatsReader:
        if self.reader is None:
            self.reader = StatsReader(info.context.db, self.spec)
        return self.reader

    @strawberry.field(description="Matching partnerships.")
    async def partnerships(self, info: Info) -> int:
        return (await self._read(info).totals())["partnerships"]

    @strawberry.field(description="Matching partnerships without a known `since`.")
    async def undated(self, info: Info) -> int:
        return (await self._read(info).totals())["undated"]

    @strawberry.field(description="Places with at least one matching partnership.")
    async def places(self, info: Info) -> int:
        return (await self._read(info).totals())["places"]

    @strawberry.field(description="Countries with at least one end of a matching partnership.")
    async def countries(self, info: Info) -> int:
        return (await self._read(info).totals())["countries"]

    @strawberry.field(description="By kind (the enum value), in the enum's order of names.")
    async def by_kind(self, info: Info) -> list[CountBucket]:
        return _buckets(await self._read(info).buckets("kind"))

    @strawberry.field(description="By status (the enum value).")
    async def by_status(self, info: Info) -> list[CountBucket]:
        return _buckets(await self._read(info).buckets("status"))

    @strawberry.field(description=(
        'By the year of `since` ("2009"), oldest first; undated ones are in `undated`.'))
    async def by_year(self, info: Info) -> list[CountBucket]:
        return _buckets(await self._read(info).buckets("year"))

    @strawberry.field(description=(
        'By the decade of `since` ("1990" for 1990-1999), oldest first; undated ones are '
        "in `undated`."))
    async def by_decade(self, info: Info) -> list[CountBucket]:
        return _buckets(await self._read(info).buckets("decade"))

    @strawberry.field(description=f"By sector slug, most first. At most {MAX_RANKED}.")
    async def by_sector(self, info: Info, first: Annotated[int, RANKED] = 20) -> list[CountBucket]:
        return _buckets(await self._read(info).sectors(_bounded(first, MAX_RANKED)))

    @strawberry.field(description=(
        "Countries by matching partnerships with an end in them, most first, each with the "
        f"mean position of those ends. At most {MAX_RANKED}."))
    async def by_country(self, info: Info,
                         first: Annotated[int, RANKED] = 20) -> list[CountryPoint]:
        rows = await self._read(info).countries(_bounded(first, MAX_RANKED))
        return [CountryPoint(country=Country(row=row), count=int(row.count),
                             latitude=row.latitude, longitude=row.longitude) for row in rows]

    @strawberry.field(description=(
        "Pairs of countries by the partnerships between them, strongest first: the flows of "
        f"a world map. At most {MAX_RANKED}."))
    async def country_pairs(self, info: Info,
                            first: Annotated[int, RANKED] = 20) -> list[CountryPair]:
        rows = await self._read(info).country_pairs(_bounded(first, MAX_RANKED))
        countries = await _countries(info, [c for low, high, _ in rows for c in (low, high)])
        return [CountryPair(count=count, countries=sorted(
            [countries[low], countries[high]], key=lambda c: str(c.row.code)))
            for low, high, count in rows]

    @strawberry.field(description=(
        "The countries at the other end of the filter's country's partnerships, most first "
        "(partnerships within the country count under the country itself). Needs "
        f"`filter.country`. At most {MAX_RANKED}."))
    async def partner_countries(self, info: Info,
                                first: Annotated[int, RANKED] = 20) -> list[CountryCount]:
        rows = await self._read(info).partner_countries(_bounded(first, MAX_RANKED))
        countries = await _countries(info, [c for c, _ in rows])
        return [CountryCount(country=countries[c], count=n) for c, n in rows]

    @strawberry.field(description=(
        "The first-level regions of a country (\"Massachusetts\") by the matching "
        "partnerships with a place in them, most first; places without a known region "
        "are left out. Needs a country: the argument, else `filter.country`. "
        f"At most {MAX_RANKED}."))
    async def by_region(self, info: Info, first: Annotated[int, RANKED] = 20,
                        country: Annotated[str | None, REGION_COUNTRY] = None
                        ) -> list[CountBucket]:
        return _buckets(await self._read(info).regions(country, _bounded(first, MAX_RANKED)))

    @strawberry.field(description=(
        "Places by their number of matching partnerships, most first, then the larger. "
        f"At most {MAX_RANKED}."))
    async def top_places(self, info: Info, first: Annotated[int, RANKED] = 10,
                         country: Annotated[str | None, COUNTRY] = None) -> list[PlaceCount]:
        rows = await self._read(info).top_places(country, _bounded(first, MAX_RANKED))
        places = await info.context.loaders.place_by_id.load_many([p for p, _ in rows])
        return [PlaceCount(city=City(row=row), count=n)
                for row, (_, n) in zip(places, rows, strict=True)]

    @strawberry.field(description=(
        "Matching partnerships whose places both have coordinates, as a map draws them, "
        "those between the best-connected places first. A map has more to draw than a page "
        f"holds, hence up to {MAX_ARCS} (four numbers and two names each)."))
    async def arcs(self, info: Info, first: Annotated[int, ARCS] = DEFAULT_ARCS,
                   within: Annotated[BoundingBoxInput | None, WITHIN] = None) -> list[Arc]:
        rows = await self._read(info).arcs(within, _bounded(first, MAX_ARCS))
        return [Arc(id=strawberry.ID(encode_id("Partnership", row.id)),
                    names=[row.a_name, row.b_name],
                    coordinates=[row.a_lon, row.a_lat, row.b_lon, row.b_lat]) for row in rows]


async def _countries(info: Info, ids: list[int]) -> dict[int, Country]:
    unique = list(dict.fromkeys(ids))
    rows: list[Any] = await info.context.loaders.country_by_id.load_many(unique)
    return {row.id: Country(row=row) for row in rows}


@strawberry.type
class AggregateQuery:
    @strawberry.field(description=(
        "Aggregations over the partnerships that match the filter: counts by kind, status, "
        "sector, year and decade (saying how many are undated), country flows, partner "
        "countries, the most connected places and the arcs of a map. The explorer draws its "
        "world and country views from it."))
    def partnership_stats(self, filter: Annotated[PartnershipFilter | None, FILTER] = None
                           ) -> PartnershipStats:
        return PartnershipStats(spec=partnership_filter_spec(filter))
