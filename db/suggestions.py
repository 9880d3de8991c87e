"""Partner suggestions: which places would make good new partners of a place, and why.

The score adds up signals a twinning officer would name (docs/graph-questions.md
explains each and why its weight is what it is):

- partners in common, each worth more the fewer partners it has itself
  (Adamic-Adar: a shared small partner says more than a shared hub);
- sectors both places are active in (the sectors of their partnerships);
- organizations that already work with both;
- partnerships with places like this one (same country, same kind of body)
  of a kind this place also has;
- distance, as a small bonus for being closer.

A place qualifies when at least one of the first four signals (or, with a
`sector`, activity in that sector) holds; distance alone never makes a suggestion.
The result is deterministic: by score (rounded to 3 decimals), then by place id.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from citylinks.db.geo import EARTH_RADIUS_KM, haversine_km
from citylinks.db.graph import GraphIndex, level_class, pair

COMMON_PARTNER_WEIGHT = 2.0  # per shared partner, divided by log2(1 + its partner count)
SECTOR_WEIGHT = 0.5  # per sector both are active in
MAX_SECTORS_COUNTED = 6
ORGANIZATION_WEIGHT = 1.0  # per organization already working with both
MAX_ORGANIZATIONS_COUNTED = 3
PEER_WEIGHT = 1.0  # times log2(1 + number of similar places twinned with the candidate)
PROXIMITY_WEIGHT = 0.5  # times (1 - distance / half the Earth's circumference)
CLOSE_BY_KM = 1500.0  # below this, the distance is named as a reason
NAMES_IN_A_REASON = 3

HALF_CIRCUMFERENCE_KM = math.pi * EARTH_RADIUS_KM

KIND_WORDS = {
    "SISTER_CITY": "sister city",
    "FRIENDSHIP": "friendship",
    "COOPERATION": "cooperation",
}


@dataclass(frozen=True)
class Suggestion:
    place_id: int
    score: float
    shared_sector_ids: tuple[int, ...]
    reasons: tuple[str, ...]


def _listing(names: list[str], limit: int = NAMES_IN_A_REASON) -> str:
    shown = ", ".join(names[:limit])
    rest = len(names) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


class _Scorer:
    """The signals of one place against its candidates."""

    def __init__(self, index: GraphIndex, place_id: int) -> None:
        self.index = index
        self.place_id = place_id
        self.facts = index.places[place_id]
        self.partners = set(index.neighbors.get(place_id, ()))
        self.excluded = (self.partners | {place_id} | index.ancestors(place_id)
                         | index.descendants(place_id))
        self.sectors = index.place_sectors.get(place_id, frozenset())
        self.organizations = index.place_organizations.get(place_id, frozenset())
        self.kinds = frozenset().union(
            *(index.pair_kinds[pair(place_id, z)] for z in self.partners))
        self.group = (self.facts.country_id, level_class(self.facts.level))
        self.group_links = index.group_links.get(self.group, {})

    def candidates(self, sector_id: int | None) -> Iterator[tuple[float, int, list[int]]]:
        """(upper bound of the score, place, partners in common) for every place with a
        qualifying signal, or with `sector_id` every place active in it, best bound first.

        Lazily: a place with only the similar-places signal (thousands, in a big country)
        is bounded by its number of such links alone, and those come pre-sorted, so the
        ranking usually stops after a few dozen of them.
        """
        index, excluded = self.index, self.excluded
        active = index.sector_places.get(sector_id, frozenset()) if sector_id is not None \
            else None
        common: dict[int, list[int]] = defaultdict(list)
        common_score: dict[int, float] = defaultdict(float)
        for z in sorted(self.partners):
            weight = COMMON_PARTNER_WEIGHT / math.log2(1 + index.degree(z))
            for x in index.neighbors.get(z, ()):
                if x not in excluded:
                    common[x].append(z)
                    common_score[x] += weight
        for organization in self.organizations:
            for x in index.organization_places.get(organization, ()):
                if x not in excluded:
                    common.setdefault(x, [])
        if active is not None:
            common = {x: partners for x, partners in common.items() if x in active}
        links = self.group_links
        cap_sectors = min(len(self.sectors), MAX_SECTORS_COUNTED)
        cap_organizations = min(len(self.organizations), MAX_ORGANIZATIONS_COUNTED)
        sectors, organizations = index.place_sectors, index.place_organizations
        log2 = math.log2
        # Beyond partners in common and peers, what any candidate can add at most.
        rest = PROXIMITY_WEIGHT + SECTOR_WEIGHT * cap_sectors
        explicit = sorted(
            (-(common_score.get(x, 0.0) + PROXIMITY_WEIGHT
               + PEER_WEIGHT * log2(1 + len(links.get(x, ())))
               + SECTOR_WEIGHT * min(cap_sectors, len(sectors.get(x, ())))
               + ORGANIZATION_WEIGHT * min(cap_organizations, len(organizations.get(x, ())))),
             x)
            for x in common)

        def by_peers() -> Iterator[tuple[float, int]]:
            for count, x in index.group_ranked.get(self.group, ()):
                if x not in excluded and x not in common and (active is None or x in active):
                    yield -(rest + PEER_WEIGHT * log2(1 + count)), x

        def by_sector() -> Iterator[tuple[float, int]]:
            if active is None:
                return
            for x in sorted(active):
                if x not in excluded and x not in common and x not in links:
                    yield -rest, x

        for negative_bound, x in heapq.merge(explicit, by_peers(), by_sector()):
            yield -negative_bound, x, common.get(x, [])

    def peers_of(self, candidate: int) -> list[int]:
        """Places like ours twinned with the candidate by a kind we have (any, if we have none)."""
        peers = self.group_links.get(candidate, ())
        if not self.kinds:
            return [p for p in peers if p != self.place_id]
        return [p for p in peers if p != self.place_id
                and self.index.pair_kinds[pair(p, candidate)] & self.kinds]

    def distance_km(self, candidate: int) -> float | None:
        a, b = self.facts, self.index.places[candidate]
        if a.latitude is None or a.longitude is None or b.latitude is None \
                or b.longitude is None:
            return None
        return haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)

    def score(self, candidate: int, common: list[int]) -> tuple[float, tuple[int, ...]]:
        index = self.index
        total = sum(COMMON_PARTNER_WEIGHT / math.log2(1 + index.degree(z)) for z in common)
        shared = tuple(sorted(self.sectors & index.place_sectors.get(candidate, frozenset()),
                              key=lambda s: index.sector_slugs[s]))
        total += SECTOR_WEIGHT * min(len(shared), MAX_SECTORS_COUNTED)
        if self.organizations:
            ties = self.organizations & index.place_organizations.get(candidate, frozenset())
            total += ORGANIZATION_WEIGHT * min(len(ties), MAX_ORGANIZATIONS_COUNTED)
        if self.group_links:
            total += PEER_WEIGHT * math.log2(1 + len(self.peers_of(candidate)))
        distance = self.distance_km(candidate)
        if distance is not None:
            total += PROXIMITY_WEIGHT * max(0.0, 1 - distance / HALF_CIRCUMFERENCE_KM)
        return round(total, 3), shared

    def has_a_reason(self, candidate: int, common: list[int], shared: tuple[int, ...],
                     sector_id: int | None) -> bool:
        """Whether a reason besides distance holds: a candidate reached through a signal
        that then does not hold for it (places like ours twinned with it, but by a kind
        we have none of) would be suggested for its distance alone."""
        return bool(common or shared or sector_id is not None
                    or self.organizations & self.index.place_organizations.get(
                        candidate, frozenset())
                    or self.peers_of(candidate))

    def reasons(self, candidate: int, common: list[int], shared: tuple[int, ...],
                sector_id: int | None) -> list[str]:
        index = self.index
        name = {p: index.places[p].name for p in common}
        out: list[str] = []
        if common:
            ranked = sorted(common, key=lambda z: (index.degree(z), name[z], z))
            out.append(f"{_plural(len(common), 'partner')} in common: "
                       f"{_listing([name[z] for z in ranked])}")
        if shared:
            out.append("both active in " + _listing([index.sector_slugs[s] for s in shared], 4))
        if sector_id is not None and sector_id not in shared:
            out.append(f"active in {index.sector_slugs[sector_id]}")
        ties = sorted(self.organizations & index.place_organizations.get(candidate, frozenset()),
                      key=lambda o: (index.organization_names[o], o))
        if ties:
            verb = "works" if len(ties) == 1 else "work"
            out.append(f"{_plural(len(ties), 'organization')} already {verb} with both: "
                       + _listing([index.organization_names[o] for o in ties]))
        peers = self.peers_of(candidate)
        if peers:
            kinds = frozenset().union(*(index.pair_kinds[pair(p, candidate)] for p in peers))
            wanted = sorted(kinds & self.kinds if self.kinds else kinds)
            kind_words = " or ".join(KIND_WORDS.get(k, k.lower()) for k in wanted)
            group = "region" if self.group[1] == "regional" else "city"
            places = "regions" if self.group[1] == "regional" else "cities"
            country = index.country_names.get(self.facts.country_id, "the same country")
            ranked_peers = sorted(peers, key=lambda p: (index.places[p].name, p))
            noun = group if len(peers) == 1 else places
            out.append(f"{kind_words} partner of {len(peers)} other {noun} in {country}: "
                       + _listing([index.places[p].name for p in ranked_peers]))
        distance = self.distance_km(candidate)
        if distance is not None and distance < CLOSE_BY_KM:
            out.append(f"close by: {distance:,.0f} km apart")
        return out


def suggest_partners(index: GraphIndex, place_id: int, first: int,
                     sector_id: int | None = None) -> list[Suggestion]:
    """The `first` best places to twin with `place_id` that are not yet its partners.

    With `sector_id`, only places active in that sector, each of them a candidate.
    """
    if place_id not in index.places or first <= 0:
        return []
    scorer = _Scorer(index, place_id)
    # Best upper bounds first; once the next bound is below the k-th score, no later
    # candidate can enter the top k (the slack covers rounding to 3 decimals).
    best: list[tuple[float, int, tuple[int, ...], list[int]]] = []
    for bound, x, common in scorer.candidates(sector_id):
        if len(best) >= first and bound + 0.001 < -best[-1][0]:
            break
        score, shared = scorer.score(x, common)
        if not scorer.has_a_reason(x, common, shared, sector_id):
            continue
        bisect.insort(best, (-score, x, shared, common))
        del best[first:]
    return [
        Suggestion(x, -negative, shared, tuple(scorer.reasons(x, common, shared, sector_id)))
        for negative, x, shared, common in best
    ]
