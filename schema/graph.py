"""Graph questions as root fields: `path` between two places and `suggestPartners` for one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import strawberry
from citylinks.db.graph import (
    DEFAULT_MAX_HOPS,
    MAX_HOPS_LIMIT,
    GraphIndex,
    graph_index,
    shortest_path,
)
from citylinks.db.suggestions import suggest_partners
from citylinks.schema.errors import bad_input
from citylinks.schema.ids import decode_id
from citylinks.schema.types.nodes import City, Partnership, Sector
from strawberry.types import Info

DEFAULT_SUGGESTIONS = 10
MAX_SUGGESTIONS = 50


@strawberry.type(description=(
    "The shortest chain of partnerships between two places: `cities` runs from `from` to "
    "`to`, both included, and `partnerships[i]` links `cities[i]` with `cities[i + 1]`."))
class CityPath:
    rows: strawberry.Private[list[Any]]
    partnership_rows: strawberry.Private[list[Any]]

    @strawberry.field(description="Number of partnerships in the chain (0 from a place to itself).")
    def hops(self) -> int:
        return len(self.partnership_rows)

    @strawberry.field(description="The places along the chain, from `from` to `to`.")
    def cities(self) -> list[City]:
        return [City(row=row) for row in self.rows]

    @strawberry.field(description="The partnership of each hop, in order.")
    def partnerships(self) -> list[Partnership]:
        return [Partnership(row=row) for row in self.partnership_rows]


@strawberry.type(description=(
    "A place that would make a good new partner, with the signals behind its score. "
    "How the score is made is documented in docs/graph-questions.md."))
class PartnerSuggestion:
    row: strawberry.Private[Any]
    score_value: strawberry.Private[float]
    sector_rows: strawberry.Private[list[Any]]
    reason_texts: strawberry.Private[tuple[str, ...]]

    @strawberry.field(description="The suggested place; never the place itself or a partner.")
    def city(self) -> City:
        return City(row=self.row)

    @strawberry.field(description=(
        "Higher is better; the sum of the signals' points, rounded to 3 decimals. Comparable "
        "between the suggestions of one place, not across places."))
    def score(self) -> float:
        return self.score_value

    @strawberry.field(description=(
        "Sectors both places are active in (the sectors of their partnerships), by slug."))
    def shared_sectors(self) -> list[Sector]:
        return [Sector(row=row) for row in self.sector_rows]

    @strawberry.field(description=(
        'Why, in plain words, strongest signal first: "3 partners in common: …", '
        '"both active in ports-logistics".'))
    def reasons(self) -> list[str]:
        return list(self.reason_texts)


def _places(info: Info, index: GraphIndex, ids: Iterable[int]) -> list[Any]:
    """The rows of these places, primed into the request's loader so that nested fields
    (a partnership's cities, say) find them without a query."""
    rows = [index.places[pid] for pid in ids]
    info.context.loaders.place_by_id.prime_many({row.id: row for row in rows})
    return rows


FROM = strawberry.argument(name="from", description="Global id of the place to start from.")
TO = strawberry.argument(description="Global id of the place to reach.")
MAX_HOPS = strawberry.argument(description=(
    f"Longest chain to look for, 0 to {MAX_HOPS_LIMIT} partnerships (default "
    f"{DEFAULT_MAX_HOPS}); null when no chain is that short."))
CITY = strawberry.argument(description="Global id of the place to find partners for.")
FIRST = strawberry.argument(description=(
    f"How many suggestions, best first (default {DEFAULT_SUGGESTIONS}, at most "
    f"{MAX_SUGGESTIONS})."))
SECTOR = strawberry.argument(description=(
    'Only places active in this sector (slug, "ports-logistics"), each of them a candidate.'))


@strawberry.type
class GraphQuery:
    @strawberry.field(description=(
        "The shortest chain of partnerships between two places: fewest hops; among equally "
        "short chains, the one whose sequence of place ids is smallest, and between two "
        "places twinned more than once, the partnership recorded first (smallest id). Every "
        "partnership counts, whatever its kind and status. Null when there is no chain within "
        "maxHops or when either place does not exist."))
    async def path(self, info: Info, from_: Annotated[strawberry.ID, FROM],
                   to: Annotated[strawberry.ID, TO],
                   max_hops: Annotated[int | None, MAX_HOPS] = DEFAULT_MAX_HOPS,
                   ) -> CityPath | None:
        source = decode_id(from_, "City", "from")
        target = decode_id(to, "City", "to")
        limit = DEFAULT_MAX_HOPS if max_hops is None else max_hops
        if not 0 <= limit <= MAX_HOPS_LIMIT:
            raise bad_input(f"maxHops must be between 0 and {MAX_HOPS_LIMIT}, got {limit}",
                            "maxHops")
        index = await graph_index(info.context.db)
        found = shortest_path(index, source, target, limit)
        if found is None:
            return None
        partnerships = [index.partnerships[pid] for pid in found.partnership_ids]
        info.context.loaders.partnership_by_id.prime_many({row.id: row for row in partnerships})
        return CityPath(rows=_places(info, index, found.place_ids),
                        partnership_rows=partnerships)

    @strawberry.field(description=(
        "Places that would make good new partners of this one: never the place itself, its "
        "current partners (any kind or status), or the places it is part of or contains. "
        "Ranked by a score of partners in common, shared sectors, organizations already "
        "working with both, partnerships with similar places (same country and kind of body) "
        "and distance; ties by id. Empty for an id that names no place."))
    async def suggest_partners(self, info: Info, city: Annotated[strawberry.ID, CITY],
                               first: Annotated[int | None, FIRST] = DEFAULT_SUGGESTIONS,
                               sector: Annotated[str | None, SECTOR] = None,
                               ) -> list[PartnerSuggestion]:
        place_id = decode_id(city, "City", "city")
        count = DEFAULT_SUGGESTIONS if first is None else first
        if not 0 <= count <= MAX_SUGGESTIONS:
            raise bad_input(f"first must be between 0 and {MAX_SUGGESTIONS}, got {count}",
                            "first")
        index = await graph_index(info.context.db)
        sector_id = None
        if sector is not None:
            sector_id = index.sector_ids.get(sector.strip().lower())
            if sector_id is None:
                raise bad_input(f"unknown sector slug {sector!r}", "sector")
        found = suggest_partners(index, place_id, count, sector_id)
        rows = _places(info, index, (s.place_id for s in found))
        return [
            PartnerSuggestion(row=row, score_value=s.score,
                              sector_rows=[index.sectors[sid] for sid in s.shared_sector_ids],
                              reason_texts=s.reasons)
            for s, row in zip(found, rows, strict=True)
        ]
