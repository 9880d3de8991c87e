"""Root query fields: validate arguments, call a loader or a db.queries function, map the rows."""

from __future__ import annotations

from typing import Any

import strawberry
from citylinks.db import queries
from citylinks.schema.errors import bad_input
from citylinks.schema.ids import decode_any, decode_id, encode_id
from citylinks.schema.inputs import (
    CityFilter,
    CityOrder,
    OrganizationFilter,
    PartnershipFilter,
    PartnershipOrder,
    city_filter_spec,
    order_key,
    organization_filter_spec,
    partnership_filter_spec,
)
from citylinks.schema.types.connections import Connection, connection, parse_page_args, wants_total
from citylinks.schema.types.nodes import City, Country, Organization, Partnership, Sector
from citylinks.schema.types.stats import CountBucket, Stats
from strawberry import relay
from strawberry.types import Info

MAX_SEARCH_RESULTS = 50
MAX_NODES = 100


async def _node(info: Info, value: str, field: str) -> relay.Node | None:
    type_name, pk = decode_any(value, field)
    loaders = info.context.loaders
    if type_name == "City":
        row = await loaders.place_by_id.load(pk)
        return City(row=row) if row is not None else None
    if type_name == "Country":
        row = await loaders.country_by_id.load(pk)
        return Country(row=row) if row is not None else None
    if type_name == "Partnership":
        row = await loaders.partnership_by_id.load(pk)
        return Partnership(row=row) if row is not None else None
    if type_name == "Sector":
        row = await loaders.sector_by_id.load(pk)
        return Sector(row=row) if row is not None else None
    row = await loaders.organization_by_id.load(pk)
    return Organization(row=row) if row is not None else None


def _describe(row: Any, country_codes: dict[int, str], parents: dict[int, Any]) -> str:
    """ "Springfield, Massachusetts, US (city, id Q2l0eToxMjM=)": enough to tell
    same-name places apart, and the id that picks one."""
    parent = parents.get(row.parent_id)
    inside = f", in {parent.name}" if parent is not None else ""
    where = ", ".join(part for part in (
        row.name, row.region, country_codes.get(row.country_id, "?")) if part)
    return f"{where} ({row.level.lower()}{inside}, id {encode_id('City', row.id)})"


@strawberry.type
class Query:
    @strawberry.field(description=(
        "Any object by its global id; null when a well-formed id names nothing."))
    async def node(self, info: Info, id: strawberry.ID) -> relay.Node | None:
        return await _node(info, id, "id")

    @strawberry.field(description=f"Several objects by global id, in order (at most {MAX_NODES}).")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[relay.Node | None]:
        if len(ids) > MAX_NODES:
            raise bad_input(f"at most {MAX_NODES} ids at once, got {len(ids)}", "ids")
        return [await _node(info, value, "ids") for value in ids]

    @strawberry.field(description=(
        "A place by id, or by any of its names or aliases (accent-, case- and "
        "space-insensitive) and an optional ISO country code. A name that matches several "
        "places is an error listing the candidates."))
    async def city(self, info: Info, id: strawberry.ID | None = None, name: str | None = None,
                   country: str | None = None) -> City | None:
        if id is not None:
            row = await info.context.loaders.place_by_id.load(decode_id(id, "City"))
            return City(row=row) if row is not None else None
        if name is None:
            raise bad_input("give an id or a name", "name")
        async with info.context.db.read() as conn:
            rows = await queries.places_matching_name(conn, name, country)
            if len(rows) > 1:
                countries = await queries.countries_by_ids(conn, {r.country_id for r in rows})
                parents = await queries.places_by_ids(
                    conn, {r.parent_id for r in rows if r.parent_id})
        if not rows:
            return None
        if len(rows) > 1:
            codes = {cid: c.code for cid, c in countries.items()}
            listed = "; ".join(_describe(r, codes, parents) for r in rows[:10])
            raise bad_input(f"{name!r} matches {len(rows)} places: {listed}. "
                            "Pass country, or choose one by its id: city(id: ...).", "name")
        return City(row=rows[0])

    @strawberry.field(description="Places, by name unless ordered otherwise.")
    async def cities(self, info: Info, first: int | None = None, after: str | None = None,
                     last: int | None = None, before: str | None = None,
                     filter: CityFilter | None = None,
                     order_by: CityOrder | None = None) -> Connection[City]:
        key = order_key(order_by, "NAME")
        ordering = queries.PLACE_ORDERINGS[key]
        args = parse_page_args(first, after, last, before, ordering)
        spec = city_filter_spec(filter)
        async with info.context.db.read() as conn:
            page = await queries.list_places(conn, spec, ordering, args,
                                             with_total=wants_total(info))
        return connection(page, City.of)

    @strawberry.field(description="A partnership by id; null when it does not exist.")
    async def partnership(self, info: Info, id: strawberry.ID) -> Partnership | None:
        row = await info.context.loaders.partnership_by_id.load(decode_id(id, "Partnership"))
        return Partnership(row=row) if row is not None else None

    @strawberry.field(description="Partnerships, by id unless ordered otherwise.")
    async def partnerships(self, info: Info, first: int | None = None,
                           after: str | None = None, last: int | None = None,
                           before: str | None = None, filter: PartnershipFilter | None = None,
                           order_by: PartnershipOrder | None = None
                           ) -> Connection[Partnership]:
        key = order_key(order_by, "ID")
        ordering = queries.PARTNERSHIP_ORDERINGS[key]
        args = parse_page_args(first, after, last, before, ordering)
        spec = partnership_filter_spec(filter)
        async with info.context.db.read() as conn:
            page = await queries.list_partnerships(conn, spec, ordering, args,
                                                   with_total=wants_total(info))
        return connection(page, Partnership.of)

    @strawberry.field(description='A country by ISO 3166-1 alpha-2 code ("VN").')
    async def country(self, info: Info, code: str) -> Country | None:
        async with info.context.db.read() as conn:
            found = await queries.countries_by_codes(conn, [code.strip()])
        row = found.get(code.strip().upper())
        return Country(row=row) if row is not None else None

    @strawberry.field(description="Countries that have at least one place, by name.")
    async def countries(self, info: Info) -> list[Country]:
        async with info.context.db.read() as conn:
            rows = await queries.countries_with_places(conn)
        return [Country(row=r) for r in rows]

    @strawberry.field(description='A sector by slug ("ports-logistics").')
    async def sector(self, info: Info, slug: str) -> Sector | None:
        async with info.context.db.read() as conn:
            row = (await queries.sectors_by_slugs(conn, [slug])).get(slug)
        return Sector(row=row) if row is not None else None

    @strawberry.field(description="The sector taxonomy, by slug.")
    async def sectors(self, info: Info) -> list[Sector]:
        async with info.context.db.read() as conn:
            rows = await queries.all_sectors(conn)
        return [Sector(row=r) for r in rows]

    @strawberry.field(description="Organizations, by name.")
    async def organizations(self, info: Info, first: int | None = None,
                            after: str | None = None, last: int | None = None,
                            before: str | None = None,
                            filter: OrganizationFilter | None = None
                            ) -> Connection[Organization]:
        args = parse_page_args(first, after, last, before, queries.ORGANIZATIONS_BY_NAME)
        spec = organization_filter_spec(filter)
        async with info.context.db.read() as conn:
            page = await queries.list_organizations(conn, spec, args,
                                                    with_total=wants_total(info))
        return connection(page, lambda row: Organization(row=row))

    @strawberry.field(description=(
        "Places whose name, local name or alias contains the text, accent-, case- and "
        "space-insensitively; exact matches first, then prefixes, then the best connected. "
        f"At most {MAX_SEARCH_RESULTS}."))
    async def search(self, info: Info, text: str, first: int | None = 10) -> list[City]:
        first = 10 if first is None else first
        if not 0 <= first <= MAX_SEARCH_RESULTS:
            raise bad_input(f"first must be between 0 and {MAX_SEARCH_RESULTS}", "first")
        async with info.context.db.read() as conn:
            rows = await queries.search_places(conn, text, first)
        return [City(row=r) for r in rows]

    @strawberry.field(description="Counts over the whole store.")
    async def stats(self, info: Info) -> Stats:
        async with info.context.db.read() as conn:
            data = await queries.stats(conn, None)

        def buckets(rows: list[Any]) -> list[CountBucket]:
            return [CountBucket(key=str(k), count=int(c)) for k, c in rows]

        return Stats(
            cities=data["cities"], partnerships=data["partnerships"],
            countries=data["countries"], by_kind=buckets(data["by_kind"]),
            by_status=buckets(data["by_status"]), by_sector=buckets(data["by_sector"]),
            by_country_all=buckets(data["by_country"]), by_year=buckets(data["by_year"]))
