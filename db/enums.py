"""The closed vocabularies of the store; stored as their names, shared by the GraphQL enums."""

from __future__ import annotations

from enum import StrEnum


class AdminLevel(StrEnum):
    CITY = "CITY"
    TOWN = "TOWN"
    DISTRICT = "DISTRICT"
    PROVINCE = "PROVINCE"
    PREFECTURE = "PREFECTURE"
    STATE = "STATE"
    REGION = "REGION"
    OTHER = "OTHER"


class PartnershipKind(StrEnum):
    SISTER_CITY = "SISTER_CITY"
    FRIENDSHIP = "FRIENDSHIP"
    COOPERATION = "COOPERATION"


class PartnershipStatus(StrEnum):
    PROPOSED = "PROPOSED"
    NEGOTIATING = "NEGOTIATING"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    ENDED = "ENDED"


# Statuses of a partnership that never took effect: `activeOn` leaves them out.
NOT_YET_IN_FORCE = (PartnershipStatus.PROPOSED, PartnershipStatus.NEGOTIATING)


class MilestoneKind(StrEnum):
    PROPOSED = "PROPOSED"
    AUTHORIZED = "AUTHORIZED"
    MOU_SIGNED = "MOU_SIGNED"
    AGREEMENT_SIGNED = "AGREEMENT_SIGNED"
    FORMALIZED = "FORMALIZED"
    VISIT = "VISIT"
    RENEWED = "RENEWED"
    SUSPENDED = "SUSPENDED"
    ENDED = "ENDED"
    OTHER = "OTHER"


class OrganizationKind(StrEnum):
    GOVERNMENT = "GOVERNMENT"
    UNIVERSITY = "UNIVERSITY"
    SCHOOL = "SCHOOL"
    COMPANY = "COMPANY"
    PORT_AUTHORITY = "PORT_AUTHORITY"
    ASSOCIATION = "ASSOCIATION"
    OTHER = "OTHER"


class Role(StrEnum):
    READER = "reader"
    EDITOR = "editor"
    ADMIN = "admin"
