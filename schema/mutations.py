"""Root mutation fields and their inputs: decode ids, run one db.writes unit per transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import strawberry
from citylinks.db import writes
from citylinks.db.writes import SourceFields, source_fields
from citylinks.events import EventBroadcaster
from citylinks.schema.enums import AdminLevel, MilestoneKind, PartnershipKind, PartnershipStatus
from citylinks.schema.errors import NOT_FOUND, ApiError
from citylinks.schema.ids import decode_id, encode_id
from citylinks.schema.loaders import Loaders
from citylinks.schema.permissions import editors_only
from citylinks.schema.scalars import PartialDate
from citylinks.schema.types.nodes import City, Partnership
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import UNSET
from strawberry.types import Info

T = TypeVar("T")

# ---------------------------------------------------------------- descriptions, shared by
# each input and its patch so the two never drift apart

NAME = 'Common English name: "Da Nang". Required, at most 300 characters.'
LOCAL_NAME = 'Name in the local language and script: "Đà Nẵng".'
ALIASES = "Other names the place is known by; replaces the whole list."
LEVEL = "Administrative level."
COUNTRY = 'ISO 3166-1 alpha-2 country code: "VN".'
PARENT = "Id of the enclosing place (Huế -> Thừa Thiên Huế); it may not lie inside this one."
LATITUDE = "Degrees north, WGS84, -90 to 90."
LONGITUDE = "Degrees east, WGS84, -180 to 180."
POPULATION = "Inhabitants, zero or more."
WIKIDATA = 'Wikidata item id: "Q25282"; at most one place has each.'
CITIES = "Ids of exactly two distinct places."
KIND = ("SISTER_CITY, FRIENDSHIP or COOPERATION; two places have at most one partnership "
        "of each kind.")
STATUS = "Where the partnership stands."
SINCE = "When it first took effect (earliest MOU or agreement)."
UNTIL = "When it ended; not before `since`."
DESCRIPTION = "What the partnership is about, in a few sentences."
SECTORS = "Sector slugs (see `sectors`); replaces the whole list."
ORGANIZATIONS = "Ids of the organizations taking part; replaces the whole list."
SOURCES = "Where the facts come from; replaces the whole list."


@strawberry.input(description=(
    "Where a fact comes from: a news story, an official page, a data set."))
class SourceInput:
    url: str | None = strawberry.field(default=None, description="An http(s) address.")
    title: str = strawberry.field(description="Headline or page title. Required.")
    publisher: str | None = strawberry.field(default=None, description="Who published it.")
    published_on: PartialDate | None = strawberry.field(default=None,
                                                        description="When it was published.")


@strawberry.input(description="A new place. Country and level are required.")
class CityInput:
    name: str = strawberry.field(description=NAME)
    local_name: str | None = strawberry.field(default=None, description=LOCAL_NAME)
    aliases: list[str] | None = strawberry.field(default=None, description=ALIASES)
    level: AdminLevel = strawberry.field(description=LEVEL)
    country: str = strawberry.field(description=COUNTRY)
    parent: strawberry.ID | None = strawberry.field(default=None, description=PARENT)
    latitude: float | None = strawberry.field(default=None, description=LATITUDE)
    longitude: float | None = strawberry.field(default=None, description=LONGITUDE)
    population: int | None = strawberry.field(default=None, description=POPULATION)
    wikidata_id: str | None = strawberry.field(default=None, description=WIKIDATA)


@strawberry.input(description=(
    "Changes to a place: only the fields given change; an explicit null clears a field "
    "(name, level and country cannot be cleared)."))
class CityPatch:
    name: str | None = strawberry.field(default=UNSET, description=NAME)
    local_name: str | None = strawberry.field(default=UNSET, description=LOCAL_NAME)
    aliases: list[str] | None = strawberry.field(default=UNSET, description=ALIASES)
    level: AdminLevel | None = strawberry.field(default=UNSET, description=LEVEL)
    country: str | None = strawberry.field(default=UNSET, description=COUNTRY)
    parent: strawberry.ID | None = strawberry.field(default=UNSET, description=PARENT)
    latitude: float | None = strawberry.field(default=UNSET, description=LATITUDE)
    longitude: float | None = strawberry.field(default=UNSET, description=LONGITUDE)
    population: int | None = strawberry.field(default=UNSET, description=POPULATION)
    wikidata_id: str | None = strawberry.field(default=UNSET, description=WIKIDATA)


@strawberry.input(description="A new partnership between two places.")
class PartnershipInput:
    cities: list[strawberry.ID] = strawberry.field(description=CITIES)
    kind: PartnershipKind = strawberry.field(description=KIND)
    status: PartnershipStatus = strawberry.field(description=STATUS)
    since: PartialDate | None = strawberry.field(default=None, description=SINCE)
    until: PartialDate | None = strawberry.field(default=None, description=UNTIL)
    description: str | None = strawberry.field(default=None, description=DESCRIPTION)
    sectors: list[str] | None = strawberry.field(default=None, description=SECTORS)
    organizations: list[strawberry.ID] | None = strawberry.field(default=None,
                                                                 description=ORGANIZATIONS)
    sources: list[SourceInput] | None = strawberry.field(default=None, description=SOURCES)


@strawberry.input(description=(
    "Changes to a partnership: only the fields given change; an explicit null clears a field "
    "(cities, kind and status cannot be cleared)."))
class PartnershipPatch:
    cities: list[strawberry.ID] | None = strawberry.field(default=UNSET, description=CITIES)
    kind: PartnershipKind | None = strawberry.field(default=UNSET, description=KIND)
    status: PartnershipStatus | None = strawberry.field(default=UNSET, description=STATUS)
    since: PartialDate | None = strawberry.field(default=UNSET, description=SINCE)
    until: PartialDate | None = strawberry.field(default=UNSET, description=UNTIL)
    description: str | None = strawberry.field(default=UNSET, description=DESCRIPTION)
    sectors: list[str] | None = strawberry.field(default=UNSET, description=SECTORS)
    organizations: list[strawberry.ID] | None = strawberry.field(default=UNSET,
                                                                 description=ORGANIZATIONS)
    sources: list[SourceInput] | None = strawberry.field(default=UNSET, description=SOURCES)


@strawberry.input(description="A dated step in a partnership's history.")
class MilestoneInput:
    date: PartialDate | None = strawberry.field(default=None, description="When it happened.")
    kind: MilestoneKind = strawberry.field(description="What happened.")
    description: str | None = strawberry.field(default=None, description="In a sentence or two.")
    source: SourceInput | None = strawberry.field(default=None,
                                                  description="Where it is reported.")


# ---------------------------------------------------------------- input -> db.writes values


def _given(value: Any) -> bool:
    return value is not UNSET


def _enum_value(value: Any) -> Any:
    return value.value if value is not None else None


def _source(value: SourceInput) -> SourceFields:
    return source_fields(value.url, value.title, value.publisher, value.published_on)


def place_values(value: CityInput | CityPatch) -> dict[str, Any]:
    """The keys db.writes expects, only for fields the client gave (a patch leaves out UNSET)."""
    fields: dict[str, Any] = {
        "name": value.name, "localName": value.local_name, "aliases": value.aliases,
        "level": value.level, "country": value.country, "parent": value.parent,
        "latitude": value.latitude, "longitude": value.longitude,
        "population": value.population, "wikidataId": value.wikidata_id,
    }
    out = {key: v for key, v in fields.items() if _given(v)}
    if "level" in out:
        out["level"] = _enum_value(out["level"])
    if out.get("parent") is not None:
        out["parent"] = decode_id(out["parent"], "City", "parent")
    return out


def partnership_values(value: PartnershipInput | PartnershipPatch) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "cities": value.cities, "kind": value.kind, "status": value.status,
        "since": value.since, "until": value.until, "description": value.description,
        "sectors": value.sectors, "organizations": value.organizations,
        "sources": value.sources,
    }
    out = {key: v for key, v in fields.items() if _given(v)}
    for key in ("kind", "status"):
        if key in out:
            out[key] = _enum_value(out[key])
    if out.get("cities") is not None:
        out["cities"] = [decode_id(v, "City", "cities") for v in out["cities"]]
    if out.get("organizations") is not None:
        out["organizations"] = [decode_id(v, "Organization", "organizations")
                                for v in out["organizations"]]
    if out.get("sources") is not None:
        out["sources"] = [_source(s) for s in out["sources"]]
    return out


def milestone_values(value: MilestoneInput) -> dict[str, Any]:
    return {"date": value.date, "kind": value.kind.value, "description": value.description,
            "source": _source(value.source) if value.source is not None else None}


# ---------------------------------------------------------------- running a write


async def _write(info: Info, unit: Callable[[AsyncSession, str | None], Awaitable[T]]) -> T:
    """One transaction: nothing is written unless all of `unit` succeeds; the change events
    reach subscribers once it has committed."""
    events: EventBroadcaster = info.context.services.events
    async with events.write() as session:
        result = await unit(session, info.context.viewer.label)
    # What this request's loaders cached before the write is stale now.
    info.context.loaders = Loaders(info.context.db)
    return result


async def _city(info: Info, pk: int) -> City:
    row = await info.context.loaders.place_by_id.load(pk)
    if row is None:  # deleted by another request between our commit and this read
        raise ApiError(f"city {pk} no longer exists", NOT_FOUND)
    return City(row=row)


async def _partnership(info: Info, pk: int) -> Partnership:
    row = await info.context.loaders.partnership_by_id.load(pk)
    if row is None:
        raise ApiError(f"partnership {pk} no longer exists", NOT_FOUND)
    return Partnership(row=row)


ID_OF_CITY = strawberry.argument(description="The place's id.")
ID_OF_PARTNERSHIP = strawberry.argument(description="The partnership's id.")
EDITORS = (" Needs a token with the editor or admin role. All or nothing: on any error "
           "nothing is written.")


@strawberry.type(description=(
    "Changes to the data. Every mutation needs `Authorization: Bearer <token>` for a token "
    "with the editor or admin role, runs as one transaction, and is recorded in the change log."))
class Mutation:
    @strawberry.mutation(description="Add a place." + EDITORS, extensions=[editors_only()])
    async def create_city(
        self, info: Info,
        input: Annotated[CityInput, strawberry.argument(description="The new place.")],
    ) -> City:
        values = place_values(input)
        place = await _write(info, lambda s, actor: writes.create_place(s, values, actor))
        return await _city(info, place.id)

    @strawberry.mutation(description="Change a place: only the fields given." + EDITORS,
                         extensions=[editors_only()])
    async def update_city(
        self, info: Info, id: Annotated[strawberry.ID, ID_OF_CITY],
        input: Annotated[CityPatch, strawberry.argument(description="The fields to change.")],
    ) -> City:
        pk = decode_id(id, "City")
        patch = place_values(input)
        await _write(info, lambda s, actor: writes.update_place(s, pk, patch, actor))
        return await _city(info, pk)

    @strawberry.mutation(description=(
        "Delete a place and return its id. CONFLICT while a partnership names it, a place "
        "lies inside it or an organization is based in it." + EDITORS),
        extensions=[editors_only()])
    async def delete_city(self, info: Info,
                          id: Annotated[strawberry.ID, ID_OF_CITY]) -> strawberry.ID:
        pk = decode_id(id, "City")
        await _write(info, lambda s, actor: writes.delete_place(s, pk, actor))
        return strawberry.ID(encode_id("City", pk))

    @strawberry.mutation(description=(
        "Add a partnership between two places. CONFLICT when the two already have one of "
        "that kind." + EDITORS), extensions=[editors_only()])
    async def create_partnership(
        self, info: Info,
        input: Annotated[PartnershipInput, strawberry.argument(
            description="The new partnership.")],
    ) -> Partnership:
        values = partnership_values(input)
        created = await _write(info, lambda s, actor: writes.create_partnership(s, values, actor))
        return await _partnership(info, created.id)

    @strawberry.mutation(description="Change a partnership: only the fields given." + EDITORS,
                         extensions=[editors_only()])
    async def update_partnership(
        self, info: Info, id: Annotated[strawberry.ID, ID_OF_PARTNERSHIP],
        input: Annotated[PartnershipPatch, strawberry.argument(
            description="The fields to change.")],
    ) -> Partnership:
        pk = decode_id(id, "Partnership")
        patch = partnership_values(input)
        await _write(info, lambda s, actor: writes.update_partnership(s, pk, patch, actor))
        return await _partnership(info, pk)

    @strawberry.mutation(description=(
        "Delete a partnership with its milestones and return its id." + EDITORS),
        extensions=[editors_only()])
    async def delete_partnership(
        self, info: Info, id: Annotated[strawberry.ID, ID_OF_PARTNERSHIP],
    ) -> strawberry.ID:
        pk = decode_id(id, "Partnership")
        await _write(info, lambda s, actor: writes.delete_partnership(s, pk, actor))
        return strawberry.ID(encode_id("Partnership", pk))

    @strawberry.mutation(description=(
        "Add a milestone to a partnership's history; returns the partnership." + EDITORS),
        extensions=[editors_only()])
    async def add_milestone(
        self, info: Info,
        partnership: Annotated[strawberry.ID, strawberry.argument(
            description="The partnership's id.")],
        input: Annotated[MilestoneInput, strawberry.argument(description="The milestone.")],
    ) -> Partnership:
        pk = decode_id(partnership, "Partnership", "partnership")
        values = milestone_values(input)
        await _write(info, lambda s, actor: writes.add_milestone(s, pk, values, actor))
        return await _partnership(info, pk)
