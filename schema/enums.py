"""The GraphQL enums, one per vocabulary of db.enums (same names, same values)."""

from __future__ import annotations

from enum import Enum

import strawberry
from citylinks.db import enums

AdminLevel = strawberry.enum(enums.AdminLevel, description=(
    "Administrative level of a place: a city, a province, a prefecture..."))
PartnershipKind = strawberry.enum(enums.PartnershipKind, description=(
    "SISTER_CITY: twin town / twinning / jumelage, a formal twinning. "
    "FRIENDSHIP: friendship city or exchange relationship short of twinning. "
    "COOPERATION: a cooperation agreement or MOU without formal twinning."))
PartnershipStatus = strawberry.enum(enums.PartnershipStatus, description=(
    "PROPOSED and NEGOTIATING partnerships are planned, not in force."))
MilestoneKind = strawberry.enum(enums.MilestoneKind, description="What happened at a milestone.")
OrganizationKind = strawberry.enum(enums.OrganizationKind, description="What an organization is.")


@strawberry.enum(description="Sort direction.")
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.enum(description="How to order a list of places.")
class CityOrderField(Enum):
    NAME = "NAME"
    POPULATION = "POPULATION"
    PARTNER_COUNT = "PARTNER_COUNT"


@strawberry.enum(description="How to order a list of partnerships (default: by id).")
class PartnershipOrderField(Enum):
    SINCE = "SINCE"
    DISTANCE = "DISTANCE"


@strawberry.enum(description="What happened to a partnership.")
class ChangeAction(Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
