"""GraphQL input types, and their conversion to the plain filter specs of db.queries."""

from __future__ import annotations

import math

import strawberry
from citylinks.db.queries import (
    CityFilterSpec,
    GeoNearSpec,
    OrganizationFilterSpec,
    PartnershipFilterSpec,
)
from citylinks.schema.enums import (
    AdminLevel,
    CityOrderField,
    OrderDirection,
    OrganizationKind,
    PartnershipKind,
    PartnershipOrderField,
    PartnershipStatus,
)
from citylinks.schema.errors import bad_input
from citylinks.schema.ids import decode_id
from citylinks.schema.scalars import PartialDate


@strawberry.input(description="A circle on the globe: places within radiusKm of the point.")
class GeoNear:
    latitude: float = strawberry.field(description="Degrees, -90 to 90.")
    longitude: float = strawberry.field(description="Degrees, -180 to 180.")
    radius_km: float = strawberry.field(description="Kilometres, greater than 0, at most 20,040.")


@strawberry.input(description="Narrow a list of places; all given conditions must hold.")
class CityFilter:
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2 code.")
    level: AdminLevel | None = None
    name_contains: str | None = strawberry.field(default=None, description=(
        "Part of the name, local name or an alias; accent-, case- and space-insensitive."))
    has_partner_in: str | None = strawberry.field(default=None, description=(
        "Only places with at least one partner in this country (ISO code)."))
    sector: str | None = strawberry.field(default=None, description=(
        "Only places with a partnership in this sector (slug)."))
    min_population: int | None = None
    near: GeoNear | None = None


@strawberry.input(description="Order of a list of places.")
class CityOrder:
    field: CityOrderField
    direction: OrderDirection | None = OrderDirection.ASC


@strawberry.input(description="Narrow a city's partners; all given conditions must hold.")
class PartnerFilter:
    kind: list[PartnershipKind] | None = None
    status: list[PartnershipStatus] | None = None
    sector: str | None = strawberry.field(default=None, description="Sector slug.")
    country: str | None = strawberry.field(default=None, description=(
        "The partner's country (ISO code)."))
    active_on: PartialDate | None = strawberry.field(default=None, description=(
        "In force at some time within that date: begun by its end, not ended before its "
        "start. Planned partnerships (PROPOSED, NEGOTIATING) are never in force."))


@strawberry.input(description="Narrow a list of partnerships; all given conditions must hold.")
class PartnershipFilter:
    kind: list[PartnershipKind] | None = None
    status: list[PartnershipStatus] | None = None
    sector: str | None = strawberry.field(default=None, description="Sector slug.")
    country: str | None = strawberry.field(default=None, description=(
        "Either city's country (ISO code)."))
    city: strawberry.ID | None = strawberry.field(default=None, description=(
        "Only partnerships of this city."))
    since_from: PartialDate | None = strawberry.field(default=None, description=(
        'since begins on or after the bound\'s first day ("2016" keeps "2016-11").'))
    since_to: PartialDate | None = strawberry.field(default=None, description=(
        "since begins on or before the bound's last day."))
    active_on: PartialDate | None = strawberry.field(default=None, description=(
        "In force at some time within that date: begun by its end, not ended before its "
        "start. Planned partnerships (PROPOSED, NEGOTIATING) are never in force."))


@strawberry.input(description="Order of a list of partnerships.")
class PartnershipOrder:
    field: PartnershipOrderField
    direction: OrderDirection | None = OrderDirection.ASC


@strawberry.input(description="Narrow a list of organizations.")
class OrganizationFilter:
    kind: OrganizationKind | None = None
    city: strawberry.ID | None = None
    name_contains: str | None = None


def order_key(order_by: CityOrder | PartnershipOrder | None, default: str) -> tuple[str, str]:
    """(field, direction) of an orderBy argument, ascending unless told otherwise."""
    if order_by is None:
        return default, "ASC"
    direction = order_by.direction.value if order_by.direction is not None else "ASC"
    return order_by.field.value, direction


def _code(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise bad_input(f"{field} must be an ISO 3166-1 alpha-2 code such as \"VN\"", field)
    return code


def city_filter_spec(value: CityFilter | None) -> CityFilterSpec | None:
    if value is None:
        return None
    near = None
    if value.near is not None:
        n = value.near
        if not (math.isfinite(n.latitude) and -90 <= n.latitude <= 90):
            raise bad_input("latitude must be between -90 and 90", "latitude")
        if not (math.isfinite(n.longitude) and -180 <= n.longitude <= 180):
            raise bad_input("longitude must be between -180 and 180", "longitude")
        if not (math.isfinite(n.radius_km) and 0 < n.radius_km <= 20_040):
            raise bad_input("radiusKm must be greater than 0 and at most 20040", "radiusKm")
        near = GeoNearSpec(n.latitude, n.longitude, n.radius_km)
    return CityFilterSpec(
        country=_code(value.country, "country"),
        level=value.level.value if value.level is not None else None,
        name_contains=value.name_contains,
        has_partner_in=_code(value.has_partner_in, "hasPartnerIn"),
        sector=value.sector,
        min_population=value.min_population,
        near=near,
    )


def _enum_values(values: list[PartnershipKind] | list[PartnershipStatus] | None
                 ) -> tuple[str, ...] | None:
    return tuple(v.value for v in values) if values is not None else None


def partner_filter_spec(value: PartnerFilter | None) -> PartnershipFilterSpec | None:
    if value is None:
        return None
    return PartnershipFilterSpec(
        kinds=_enum_values(value.kind), statuses=_enum_values(value.status),
        sector=value.sector, country=_code(value.country, "country"),
        active_on=value.active_on)


def partnership_filter_spec(value: PartnershipFilter | None) -> PartnershipFilterSpec | None:
    if value is None:
        return None
    return PartnershipFilterSpec(
        kinds=_enum_values(value.kind), statuses=_enum_values(value.status),
        sector=value.sector, country=_code(value.country, "country"),
        city=decode_id(value.city, "City", "city") if value.city is not None else None,
        since_from=value.since_from, since_to=value.since_to, active_on=value.active_on)


def organization_filter_spec(value: OrganizationFilter | None) -> OrganizationFilterSpec | None:
    if value is None:
        return None
    return OrganizationFilterSpec(
        kind=value.kind.value if value.kind is not None else None,
        city=decode_id(value.city, "City", "city") if value.city is not None else None,
        name_contains=value.name_contains)
