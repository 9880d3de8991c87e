"""Aggregate answers: counts by kind, status, sector, country and year."""

from __future__ import annotations

from typing import Annotated

import strawberry
from citylinks.schema.errors import bad_input

# As a connection's page: more, or a negative number, is BAD_USER_INPUT, not a silent cap.
MAX_FIRST = 100


@strawberry.type(description=(
    "A count under a key: the enum value (byKind, byStatus), the sector slug, the ISO "
    'country code, or the year of `since` ("2009").'))
class CountBucket:
    key: str
    count: int


@strawberry.type(description="Counts over the whole store, consistent with the lists' totalCount.")
class Stats:
    cities: int = strawberry.field(description="Places of every level.")
    partnerships: int
    countries: int = strawberry.field(description="Countries with at least one place.")
    by_kind: list[CountBucket]
    by_status: list[CountBucket]
    by_sector: list[CountBucket]
    by_country_all: strawberry.Private[list[CountBucket]]
    by_year: list[CountBucket] = strawberry.field(description=(
        "Partnerships by the year of `since`; those without a date are not counted here."))

    @strawberry.field(description=(
        "Partnerships with at least one end in each country, most first."))
    def by_country(self, first: Annotated[int | None, strawberry.argument(description=(
            f"How many, most first: 0 to {MAX_FIRST}; every country without it."))] = None,
                   ) -> list[CountBucket]:
        if first is None:
            return self.by_country_all
        if not 0 <= first <= MAX_FIRST:
            raise bad_input(f"first must be between 0 and {MAX_FIRST}", "first")
        return self.by_country_all[:first]
