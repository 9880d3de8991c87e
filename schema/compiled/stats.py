"""`partnershipStats` on the compiled path: the explorer's world and country views.

The aggregates are a few grouped statements (kept per data version: StatsReader),
but a country view also asks for up to a thousand map arcs, each with two names and
four coordinates: graphql-core completed them one value at a time, half the view's
CPU. Here every requested aggregate is started at once (each on its own reader
connection, as the executor's concurrent fields do), then the answer is assembled
from their rows. Arguments the reference refuses (a `first` out of range, a bad
country code) raise its error, and the document falls back to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from citylinks.db import queries
from citylinks.schema.aggregates import MAX_ARCS, MAX_RANKED, StatsReader, _bounded
from citylinks.schema.compiled.planner import FieldPlan
from citylinks.schema.inputs import partnership_filter_spec

_BUCKETS = {"byKind": "kind", "byStatus": "status", "byYear": "year", "byDecade": "decade"}
_TOTALS = {"partnerships", "undated", "places", "countries"}


async def _fetch(run: Any, reader: StatsReader, field: FieldPlan) -> Any:
    """The reader's rows for one field of PartnershipStats (each kept for the request)."""
    args = run.arguments(field)
    name = field.name
    if name in _TOTALS:
        return await reader.totals()
    if name in _BUCKETS:
        return await reader.buckets(_BUCKETS[name])
    if name == "arcs":
        return await reader.arcs(args.get("within"), _bounded(args["first"], MAX_ARCS))
    limit = _bounded(args["first"], MAX_RANKED)
    if name == "bySector":
        return await reader.sectors(limit)
    if name == "byCountry":
        return await reader.countries(limit)
    if name == "countryPairs":
        return await reader.country_pairs(limit)
    if name == "partnerCountries":
        return await reader.partner_countries(limit)
    if name == "byRegion":
        return await reader.regions(args.get("country"), limit)
    assert name == "topPlaces", name
    return await reader.top_places(args.get("country"), limit)


async def root_partnership_stats(run: Any, args: dict[str, Any], field: FieldPlan) -> Any:
    reader = StatsReader(run.db, partnership_filter_spec(args.get("filter")))
    assert field.child is not None
    wanted = [f for f in field.child.fields if f.resolver is not None]
    # Started together; the fields below then find them in the reader's request cache.
    # Every failure is collected (none left unretrieved); the first sends the document
    # to the reference, which words the error.
    fetched = await asyncio.gather(*(_fetch(run, reader, f) for f in wanted),
                                   return_exceptions=True)
    for outcome in fetched:
        if isinstance(outcome, BaseException):
            raise outcome
    return (await run.complete(field.child, [reader]))[0]


def _stats_field(shape: Callable[[Any, FieldPlan, Any], Awaitable[Any]]) -> Any:
    async def resolve(run: Any, field: FieldPlan, rows: list[StatsReader]) -> list[Any]:
        (reader,) = rows
        return [await shape(run, field, await _fetch(run, reader, field))]

    return resolve


async def _total(run: Any, field: FieldPlan, totals: dict[str, int]) -> int:
    return totals[field.name]


async def _buckets(run: Any, field: FieldPlan, rows: list[tuple[str, int]]) -> Any:
    assert field.child is not None
    return await run.complete(field.child, [_Bucket(key, count) for key, count in rows])


async def _rows(run: Any, field: FieldPlan, rows: list[Any]) -> Any:
    """Rows completed as they come: an arc, or a country's point (whose row carries the
    country's id, code and name, so it serves as the Country row too)."""
    assert field.child is not None
    return await run.complete(field.child, rows)


async def _country_pairs(run: Any, field: FieldPlan, rows: list[tuple[int, int, int]]) -> Any:
    countries = await queries.countries_by_ids(
        run.conn, [c for low, high, _ in rows for c in (low, high)])
    pairs = [_Pair(sorted([countries[low], countries[high]], key=lambda c: str(c.code)), count)
             for low, high, count in rows]
    assert field.child is not None
    return await run.complete(field.child, pairs)


async def _partner_countries(run: Any, field: FieldPlan, rows: list[tuple[int, int]]) -> Any:
    countries = await queries.countries_by_ids(run.conn, [c for c, _ in rows])
    assert field.child is not None
    return await run.complete(field.child, [_Counted(countries[c], n) for c, n in rows])


async def _top_places(run: Any, field: FieldPlan, rows: list[tuple[int, int]]) -> Any:
    places = await queries.places_by_ids(run.conn, [p for p, _ in rows])
    assert field.child is not None
    return await run.complete(field.child, [_Counted(places[p], n) for p, n in rows])


@dataclass(slots=True)
class _Bucket:
    key: str
    count: int


@dataclass(slots=True)
class _Pair:
    countries: list[Any]
    count: int


@dataclass(slots=True)
class _Counted:
    """A country or place row with its count (CountryCount, PlaceCount)."""

    row: Any
    count: int


def _values(read: Callable[[Any], Any]) -> Any:
    def resolve(run: Any, field: FieldPlan, rows: list[Any]) -> list[Any]:
        return [read(row) for row in rows]

    resolve.sync = True  # type: ignore[attr-defined]
    return resolve


def _rows_of(read: Callable[[Any], Any]) -> Any:
    """An object field whose rows come from the parent's (CountryPoint.country: itself)."""
    async def resolve(run: Any, field: FieldPlan, rows: list[Any]) -> list[Any]:
        assert field.child is not None
        return await run.complete(field.child, [read(row) for row in rows])

    return resolve


async def _pair_countries(run: Any, field: FieldPlan, rows: list[_Pair]) -> list[Any]:
    assert field.child is not None
    completed = await run.complete(field.child, [c for row in rows for c in row.countries])
    return [completed[i:i + 2] for i in range(0, len(completed), 2)]


def registry(global_id: Callable[[str, int], str]) -> dict[str, dict[str, Any]]:
    """The resolvers of PartnershipStats and the types it returns (resolvers.py adds them);
    `global_id` makes a partnership's id as the other compiled resolvers do."""
    stats: dict[str, Any] = {name: _stats_field(_total) for name in _TOTALS}
    stats.update({name: _stats_field(_buckets) for name in (*_BUCKETS, "bySector", "byRegion")})
    stats.update({
        "byCountry": _stats_field(_rows),
        "countryPairs": _stats_field(_country_pairs),
        "partnerCountries": _stats_field(_partner_countries),
        "topPlaces": _stats_field(_top_places),
        "arcs": _stats_field(_rows),
    })
    return {
        "PartnershipStats": stats,
        "CountBucket": {"key": _values(lambda b: b.key), "count": _values(lambda b: b.count)},
        "CountryPoint": {
            "country": _rows_of(lambda row: row), "count": _values(lambda row: int(row.count)),
            "latitude": _values(lambda row: row.latitude),
            "longitude": _values(lambda row: row.longitude),
        },
        "CountryPair": {"countries": _pair_countries, "count": _values(lambda p: p.count)},
        "CountryCount": {"country": _rows_of(lambda c: c.row), "count": _values(lambda c: c.count)},
        "PlaceCount": {"city": _rows_of(lambda c: c.row), "count": _values(lambda c: c.count)},
        "Arc": {
            "id": _values(lambda row: global_id("Partnership", row.id)),
            "names": _values(lambda row: [row.a_name, row.b_name]),
            "coordinates": _values(lambda row: [row.a_lon, row.a_lat, row.b_lon, row.b_lat]),
        },
    }
