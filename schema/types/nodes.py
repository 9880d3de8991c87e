"""The graph's object types: each keeps its row privately and reaches relations through loaders.

They live in one module because they reference each other in every direction
(City -> Partner -> Partnership -> City); split by domain once it grows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, ClassVar

import strawberry
from citylinks.db.queries import PARTNERSHIPS_BY_ID, PLACES_BY_NAME, partner_ordering
from citylinks.schema.enums import (
    AdminLevel,
    MilestoneKind,
    OrganizationKind,
    PartnershipKind,
    PartnershipStatus,
)
from citylinks.schema.inputs import (
    CityFilter,
    PartnerFilter,
    PartnershipFilter,
    city_filter_spec,
    partner_filter_spec,
    partnership_filter_spec,
)
from citylinks.schema.loaders import PageKey
from citylinks.schema.scalars import PartialDate
from citylinks.schema.types.connections import (
    Connection,
    connection,
    parse_page_args,
    wants_total,
)
from strawberry import relay
from strawberry.types import Info

FIRST = "Return at most this many items from the start (default 20, at most 100)."
AFTER = "Start after this cursor."
LAST = "Return at most this many items from the end (at most 100)."
BEFORE = "End before this cursor."
SUBDIVISIONS = strawberry.argument(description=(
    "Also the partnerships of the places inside this one (a province with its cities), "
    "each still naming its own place."))


def _loaders(info: Info) -> Any:
    return info.context.loaders


class RowNode:
    """What every Node type shares: built from a row, identified by its primary key,
    fetched in batches through the loader named by `loader`."""

    loader: ClassVar[str]

    def __init__(self, row: Any) -> None:  # replaced by Strawberry's dataclass __init__
        self.row = row

    @classmethod
    def of(cls, row: Any) -> Any:
        return cls(row=row)

    @classmethod
    def resolve_id(cls, root: Any, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str],
                            required: bool = False) -> list[Any]:
        loader = getattr(_loaders(info), cls.loader)
        rows = await loader.load_many([int(i) for i in node_ids])
        return [cls(row=r) if r is not None else None for r in rows]


@strawberry.federation.type(keys=["id"], description=(
    "A country, by its ISO 3166-1 alpha-2 code."))
class Country(RowNode, relay.Node):
    row: strawberry.Private[Any]
    loader: ClassVar[str] = "country_by_id"

    @strawberry.field(description='ISO 3166-1 alpha-2, e.g. "VN".')
    def code(self) -> str:
        return str(self.row.code)

    @strawberry.field(description="Common English name.")
    def name(self) -> str:
        return str(self.row.name)

    @strawberry.field(description="Places in this country, by name.")
    async def cities(self, info: Info, first: int | None = None, after: str | None = None,
                     last: int | None = None, before: str | None = None,
                     filter: CityFilter | None = None) -> Connection[City]:
        args = parse_page_args(first, after, last, before, PLACES_BY_NAME)
        page = await _loaders(info).city_pages_by_country.load(PageKey(
            self.row.id, args, wants_total(info), city_filter_spec(filter)))
        return connection(page, City.of)

    @strawberry.field(description="Partnerships with at least one city in this country.")
    async def partnership_count(self, info: Info) -> int:
        count: int = await _loaders(info).partnership_count_by_country.load(self.row.id)
        return count


@strawberry.federation.type(keys=["id", "wikidataId"], description=(
    "A place at any administrative level: a city, a province, a prefecture..."))
class City(RowNode, relay.Node):
    row: strawberry.Private[Any]
    loader: ClassVar[str] = "place_by_id"

    @strawberry.field(description='Common English name: "Da Nang".')
    def name(self) -> str:
        return str(self.row.name)

    @strawberry.field(description='Name in the local language and script: "Đà Nẵng".')
    def local_name(self) -> str | None:
        return self.row.local_name  # type: ignore[no-any-return]

    @strawberry.field(description="Other names the place is known by.")
    async def aliases(self, info: Info) -> list[str]:
        aliases: list[str] = await _loaders(info).aliases_by_place.load(self.row.id)
        return aliases

    @strawberry.field(description="Administrative level.")
    def level(self) -> AdminLevel:
        return AdminLevel(self.row.level)  # type: ignore[no-any-return]

    @strawberry.field(description="The country the place is in.")
    async def country(self, info: Info) -> Country:
        return Country(row=await _loaders(info).country_by_id.load(self.row.country_id))

    @strawberry.field(description="The enclosing body: Huế -> Thừa Thiên Huế province.")
    async def parent(self, info: Info) -> City | None:
        if self.row.parent_id is None:
            return None
        row = await _loaders(info).place_by_id.load(self.row.parent_id)
        return City(row=row) if row is not None else None

    @strawberry.field(description="Places directly inside this one, by name.")
    async def children(self, info: Info, first: int | None = None, after: str | None = None,
                       last: int | None = None, before: str | None = None) -> Connection[City]:
        args = parse_page_args(first, after, last, before, PLACES_BY_NAME)
        page = await _loaders(info).child_pages_by_place.load(
            PageKey(self.row.id, args, wants_total(info)))
        return connection(page, City.of)

    @strawberry.field(description="Degrees north, WGS84.")
    def latitude(self) -> float | None:
        return self.row.latitude  # type: ignore[no-any-return]

    @strawberry.field(description="Degrees east, WGS84.")
    def longitude(self) -> float | None:
        return self.row.longitude  # type: ignore[no-any-return]

    @strawberry.field(description="Inhabitants, where a source gives it.")
    def population(self) -> int | None:
        return self.row.population  # type: ignore[no-any-return]

    @strawberry.field(description=(
        'The first-level region it lies in (GeoNames admin1): "Massachusetts" for '
        "Springfield, MA. It tells same-name places apart; null where unknown."))
    def region(self) -> str | None:
        return self.row.region  # type: ignore[no-any-return]

    @strawberry.field(description='Wikidata item id: "Q25282".')
    def wikidata_id(self) -> str | None:
        return self.row.wikidata_id  # type: ignore[no-any-return]

    @strawberry.field(description=(
        "Partnerships seen from this place: the other city, kind, status, since, sectors. "
        "By partnership id."))
    async def partners(self, info: Info, first: int | None = None, after: str | None = None,
                       last: int | None = None, before: str | None = None,
                       filter: PartnerFilter | None = None,
                       include_subdivisions: Annotated[bool | None, SUBDIVISIONS] = False,
                       ) -> Connection[Partner]:
        args = parse_page_args(first, after, last, before,
                               partner_ordering(bool(include_subdivisions)))
        page = await _loaders(info).partner_pages_by_place.load(PageKey(
            self.row.id, args, wants_total(info), partner_filter_spec(filter),
            bool(include_subdivisions)))
        return connection(page, Partner.of)

    @strawberry.field(description="This place's partnerships, by id.")
    async def partnerships(self, info: Info, first: int | None = None,
                           after: str | None = None, last: int | None = None,
                           before: str | None = None, filter: PartnershipFilter | None = None,
                           include_subdivisions: Annotated[bool | None, SUBDIVISIONS] = False,
                           ) -> Connection[Partnership]:
        args = parse_page_args(first, after, last, before,
                               partner_ordering(bool(include_subdivisions)))
        page = await _loaders(info).partner_pages_by_place.load(PageKey(
            self.row.id, args, wants_total(info), partnership_filter_spec(filter),
            bool(include_subdivisions)))
        return connection(page, Partnership.of)

    @strawberry.field(description="How many partnerships name this place.")
    def partner_count(self) -> int:
        return int(self.row.partner_count)

    @strawberry.field(description="Organizations based in this place.")
    async def organizations(self, info: Info) -> list[Organization]:
        rows = await _loaders(info).organizations_by_place.load(self.row.id)
        return [Organization(row=r) for r in rows]


@strawberry.type(description="One partnership seen from one of its cities.")
class Partner:
    row: strawberry.Private[Any]

    @staticmethod
    def of(row: Any) -> Partner:
        return Partner(row=row)

    @strawberry.field(description="The other side.")
    async def city(self, info: Info) -> City:
        return City(row=await _loaders(info).place_by_id.load(self.row.other_id))

    @strawberry.field(description="The partnership itself.")
    def partnership(self) -> Partnership:
        return Partnership(row=self.row)

    @strawberry.field
    def kind(self) -> PartnershipKind:
        return PartnershipKind(self.row.kind)  # type: ignore[no-any-return]

    @strawberry.field
    def status(self) -> PartnershipStatus:
        return PartnershipStatus(self.row.status)  # type: ignore[no-any-return]

    @strawberry.field(description="When it first took effect.")
    def since(self) -> PartialDate | None:
        return self.row.since  # type: ignore[no-any-return]

    @strawberry.field(description="What the partnership covers.")
    async def sectors(self, info: Info) -> list[Sector]:
        rows = await _loaders(info).sectors_by_partnership.load(self.row.id)
        return [Sector(row=r) for r in rows]

    @strawberry.field(description="Great-circle distance; null without coordinates.")
    def distance_km(self) -> float | None:
        return self.row.distance_km  # type: ignore[no-any-return]


@strawberry.federation.type(keys=["id"], description=(
    "A relationship between two places: sister cities, friendship cities, or a cooperation "
    "agreement, with what it covers and where each fact comes from."))
class Partnership(RowNode, relay.Node):
    row: strawberry.Private[Any]
    loader: ClassVar[str] = "partnership_by_id"

    @strawberry.field(description="Exactly two.")
    async def cities(self, info: Info) -> list[City]:
        rows = await _loaders(info).place_by_id.load_many(
            [self.row.place_a_id, self.row.place_b_id])
        return [City(row=r) for r in rows]

    @strawberry.field
    def kind(self) -> PartnershipKind:
        return PartnershipKind(self.row.kind)  # type: ignore[no-any-return]

    @strawberry.field
    def status(self) -> PartnershipStatus:
        return PartnershipStatus(self.row.status)  # type: ignore[no-any-return]

    @strawberry.field(description="When it first took effect (earliest MOU or agreement).")
    def since(self) -> PartialDate | None:
        return self.row.since  # type: ignore[no-any-return]

    @strawberry.field(description="When it ended, if it has.")
    def until(self) -> PartialDate | None:
        return self.row.until  # type: ignore[no-any-return]

    @strawberry.field
    def description(self) -> str | None:
        return self.row.description  # type: ignore[no-any-return]

    @strawberry.field(description="What the partnership covers.")
    async def sectors(self, info: Info) -> list[Sector]:
        rows = await _loaders(info).sectors_by_partnership.load(self.row.id)
        return [Sector(row=r) for r in rows]

    @strawberry.field(description="What happened and when, oldest first.")
    async def milestones(self, info: Info) -> list[Milestone]:
        rows = await _loaders(info).milestones_by_partnership.load(self.row.id)
        return [Milestone(row=r) for r in rows]

    @strawberry.field(description="Organizations taking part.")
    async def organizations(self, info: Info) -> list[Organization]:
        rows = await _loaders(info).organizations_by_partnership.load(self.row.id)
        return [Organization(row=r) for r in rows]

    @strawberry.field(description="Where the facts come from.")
    async def sources(self, info: Info) -> list[Source]:
        rows = await _loaders(info).sources_by_partnership.load(self.row.id)
        return [Source(row=r) for r in rows]

    @strawberry.field(description="Great-circle distance between the two; null without coordinates")
    def distance_km(self) -> float | None:
        return self.row.distance_km  # type: ignore[no-any-return]


@strawberry.type(description="A dated step in a partnership's history.")
class Milestone:
    row: strawberry.Private[Any]

    @strawberry.field
    def date(self) -> PartialDate | None:
        return self.row.date  # type: ignore[no-any-return]

    @strawberry.field
    def kind(self) -> MilestoneKind:
        return MilestoneKind(self.row.kind)  # type: ignore[no-any-return]

    @strawberry.field
    def description(self) -> str | None:
        return self.row.description  # type: ignore[no-any-return]

    @strawberry.field(description="Where this milestone is reported.")
    async def source(self, info: Info) -> Source | None:
        if self.row.source_id is None:
            return None
        row = await _loaders(info).source_by_id.load(self.row.source_id)
        return Source(row=row) if row is not None else None

    @strawberry.field(description="The people the source names as taking part, in its order.")
    async def participants(self, info: Info) -> list[Participant]:
        rows = await _loaders(info).participants_by_milestone.load(self.row.id)
        return [Participant(row=r) for r in rows]


@strawberry.type(description=(
    'A person a source names as taking part in a milestone: "Kitahashi", "Mayor", '
    "City of Kitakyushu."))
class Participant:
    row: strawberry.Private[Any]

    @strawberry.field(description="The name as the source gives it.")
    def name(self) -> str:
        return str(self.row.name)

    @strawberry.field(description='Their role at the time: "Mayor".')
    def role(self) -> str | None:
        return self.row.role  # type: ignore[no-any-return]

    @strawberry.field(description="The body they acted for.")
    async def organization(self, info: Info) -> Organization | None:
        if self.row.organization_id is None:
            return None
        row = await _loaders(info).organization_by_id.load(self.row.organization_id)
        return Organization(row=row) if row is not None else None


@strawberry.type(description="A news story, an official page or a data set behind a fact.")
class Source:
    row: strawberry.Private[Any]

    @strawberry.field
    def url(self) -> str | None:
        return self.row.url  # type: ignore[no-any-return]

    @strawberry.field
    def title(self) -> str:
        return str(self.row.title)

    @strawberry.field
    def publisher(self) -> str | None:
        return self.row.publisher  # type: ignore[no-any-return]

    @strawberry.field
    def published_on(self) -> PartialDate | None:
        return self.row.published_on  # type: ignore[no-any-return]

    @strawberry.field(description=(
        "The day an update found that this source no longer states the fact (a Wikidata "
        "statement removed since): the fact is kept and this says so. Null while the "
        "source still states it."))
    def withdrawn_on(self) -> PartialDate | None:
        return self.row.withdrawn_on  # type: ignore[no-any-return]

    @strawberry.field(description='The licence of its content where it has one: "CC0 1.0".')
    def license(self) -> str | None:
        return self.row.license  # type: ignore[no-any-return]


@strawberry.federation.type(keys=["id"], description=(
    "A field of cooperation: education, culture, ports-logistics..."))
class Sector(RowNode, relay.Node):
    row: strawberry.Private[Any]
    loader: ClassVar[str] = "sector_by_id"

    @strawberry.field(description='Stable identifier: "ports-logistics".')
    def slug(self) -> str:
        return str(self.row.slug)

    @strawberry.field
    def name(self) -> str:
        return str(self.row.name)

    @strawberry.field(description="Partnerships in this sector, by id.")
    async def partnerships(self, info: Info, first: int | None = None,
                           after: str | None = None, last: int | None = None,
                           before: str | None = None,
                           filter: PartnershipFilter | None = None) -> Connection[Partnership]:
        args = parse_page_args(first, after, last, before, PARTNERSHIPS_BY_ID)
        page = await _loaders(info).partnership_pages_by_sector.load(PageKey(
            self.row.id, args, wants_total(info), partnership_filter_spec(filter)))
        return connection(page, Partnership.of)

    @strawberry.field
    async def partnership_count(self, info: Info) -> int:
        count: int = await _loaders(info).partnership_count_by_sector.load(self.row.id)
        return count


@strawberry.federation.type(keys=["id"], description=(
    "A government, university, company or port taking part."))
class Organization(RowNode, relay.Node):
    row: strawberry.Private[Any]
    loader: ClassVar[str] = "organization_by_id"

    @strawberry.field
    def name(self) -> str:
        return str(self.row.name)

    @strawberry.field
    def kind(self) -> OrganizationKind:
        return OrganizationKind(self.row.kind)  # type: ignore[no-any-return]

    @strawberry.field(description="Other names its sources use for it.")
    def aliases(self) -> list[str]:
        return list(self.row.aliases or [])

    @strawberry.field(description="Where it is based.")
    async def city(self, info: Info) -> City | None:
        if self.row.place_id is None:
            return None
        row = await _loaders(info).place_by_id.load(self.row.place_id)
        return City(row=row) if row is not None else None

    @strawberry.field(description="Partnerships it takes part in.")
    async def partnerships(self, info: Info) -> list[Partnership]:
        rows = await _loaders(info).partnerships_by_organization.load(self.row.id)
        return [Partnership(row=r) for r in rows]

