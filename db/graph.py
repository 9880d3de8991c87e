"""The twinning graph held in memory per process, refreshed by data version, and shortest paths.

Why in memory and not a recursive CTE: a fewest-hops search is a breadth-first
search with a visited set, which a recursive CTE cannot keep (its recursive
term sees only the previous step), so SQL either enumerates walks or runs one
statement per level; both measured far slower than a BFS over a dict (see
docs/graph-questions.md). The index is cheap to build (the whole graph is a few
thousand rows per table) and is keyed on `store_state.data_version`, which every
accepted write bumps in its own transaction: each question first reads that one
integer, so a write from any worker process is seen by the next question here.
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from citylinks.db.engine import Database
from citylinks.db.models import (
    Country,
    Organization,
    Partnership,
    StoreState,
    partnership_organizations,
    partnership_sectors,
)
from citylinks.db.queries import PARTNERSHIP_COLUMNS, PLACE_COLUMNS, SECTOR_COLUMNS
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

DEFAULT_MAX_HOPS = 6
MAX_HOPS_LIMIT = 10

# Provinces twin with provinces and prefectures, cities with cities: suggestions
# compare a place with others of its own class in its country.
REGIONAL_LEVELS = frozenset({"PROVINCE", "PREFECTURE", "STATE", "REGION"})


def level_class(level: str) -> str:
    return "regional" if level in REGIONAL_LEVELS else "local"


class PlaceLike(Protocol):
    """What the graph reads of a place: a row of `db.queries.PLACE_COLUMNS` has it."""

    @property
    def name(self) -> str: ...
    @property
    def country_id(self) -> int: ...
    @property
    def level(self) -> str: ...
    @property
    def parent_id(self) -> int | None: ...
    @property
    def latitude(self) -> float | None: ...
    @property
    def longitude(self) -> float | None: ...


@dataclass(frozen=True)
class PlaceFacts:
    """A place built by hand (tests, tools) rather than read from the store."""

    name: str
    country_id: int
    level: str
    parent_id: int | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass
class GraphIndex:
    """The graph at one data version: who is twinned with whom, and the facts suggestions use.

    Built once per version and then only read, so concurrent requests share it freely.
    """

    version: int | None
    # The rows themselves (PLACE_COLUMNS, PARTNERSHIP_COLUMNS, SECTOR_COLUMNS), read in the
    # same snapshot as the graph: an answer needs no second read, and cannot name a row
    # that a later write removed.
    places: dict[int, PlaceLike] = field(default_factory=dict)
    partnerships: dict[int, Any] = field(default_factory=dict)
    sectors: dict[int, Any] = field(default_factory=dict)
    country_names: dict[int, str] = field(default_factory=dict)
    # Distinct neighbours of each place, ascending: BFS tie-breaks read them in order.
    neighbors: dict[int, tuple[int, ...]] = field(default_factory=dict)
    # (smaller id, larger id) -> the smallest partnership id between them.
    edge: dict[tuple[int, int], int] = field(default_factory=dict)
    # (smaller id, larger id) -> the kinds of partnership between them.
    pair_kinds: dict[tuple[int, int], frozenset[str]] = field(default_factory=dict)
    children: dict[int, tuple[int, ...]] = field(default_factory=dict)
    sector_slugs: dict[int, str] = field(default_factory=dict)
    sector_ids: dict[str, int] = field(default_factory=dict)
    # Sectors of a place: the union of its partnerships' sectors ("active in").
    place_sectors: dict[int, frozenset[int]] = field(default_factory=dict)
    sector_places: dict[int, frozenset[int]] = field(default_factory=dict)
    organization_names: dict[int, str] = field(default_factory=dict)
    # Organizations of a place: based there, or taking part in one of its partnerships.
    place_organizations: dict[int, frozenset[int]] = field(default_factory=dict)
    organization_places: dict[int, frozenset[int]] = field(default_factory=dict)
    # (country id, level class) -> other place -> the places of that group twinned with it.
    group_links: dict[tuple[int, str], dict[int, tuple[int, ...]]] = field(default_factory=dict)
    # The same, as (number of such places, other place), most first: suggestions walk it
    # in order and stop early.
    group_ranked: dict[tuple[int, str], tuple[tuple[int, int], ...]] = field(
        default_factory=dict)

    def degree(self, place_id: int) -> int:
        return len(self.neighbors.get(place_id, ()))

    def group_of(self, place_id: int) -> tuple[int, str]:
        facts = self.places[place_id]
        return facts.country_id, level_class(facts.level)

    def ancestors(self, place_id: int) -> set[int]:
        found: set[int] = set()
        current = self.places[place_id].parent_id
        while current is not None and current not in found and current in self.places:
            found.add(current)
            current = self.places[current].parent_id
        return found

    def descendants(self, place_id: int) -> set[int]:
        found: set[int] = set()
        stack = list(self.children.get(place_id, ()))
        while stack:
            child = stack.pop()
            if child not in found:
                found.add(child)
                stack.extend(self.children.get(child, ()))
        return found


def pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


# ---------------------------------------------------------------- building and caching


async def read_version(conn: AsyncConnection) -> int | None:
    result = await conn.execute(select(StoreState.data_version).where(StoreState.id == 1))
    version: int | None = result.scalar()
    return version


async def build_index(conn: AsyncConnection) -> GraphIndex:
    """Read the whole graph; `conn` should see one snapshot (see `GraphCache._build`)."""
    index = GraphIndex(version=await read_version(conn))
    PS, ORG = Partnership.__table__, Organization.__table__
    children: dict[int, list[int]] = defaultdict(list)
    for row in (await conn.execute(select(*PLACE_COLUMNS))).all():
        index.places[row.id] = row
        if row.parent_id is not None:
            children[row.parent_id].append(row.id)
    index.children = {k: tuple(sorted(v)) for k, v in children.items()}
    index.country_names = dict((await conn.execute(select(Country.id, Country.name))).all())
    for row in (await conn.execute(select(*SECTOR_COLUMNS))).all():
        index.sectors[row.id] = row
        index.sector_slugs[row.id] = row.slug
        index.sector_ids[row.slug] = row.id

    neighbors: dict[int, set[int]] = defaultdict(set)
    kinds: dict[tuple[int, int], set[str]] = defaultdict(set)
    ends: dict[int, tuple[int, int]] = {}
    for row in (await conn.execute(select(*PARTNERSHIP_COLUMNS).order_by(PS.c.id))).all():
        pid, a, b = row.id, row.place_a_id, row.place_b_id
        index.partnerships[pid] = row
        ends[pid] = (a, b)
        neighbors[a].add(b)
        neighbors[b].add(a)
        key = pair(a, b)
        index.edge.setdefault(key, pid)  # ascending ids: the first seen is the smallest
        kinds[key].add(row.kind)
    index.neighbors = {k: tuple(sorted(v)) for k, v in neighbors.items()}
    index.pair_kinds = {k: frozenset(v) for k, v in kinds.items()}

    place_sectors: dict[int, set[int]] = defaultdict(set)
    sector_places: dict[int, set[int]] = defaultdict(set)
    for pid, sid in (await conn.execute(select(partnership_sectors.c.partnership_id,
                                               partnership_sectors.c.sector_id))).all():
        for place_id in ends.get(pid, ()):
            place_sectors[place_id].add(sid)
            sector_places[sid].add(place_id)
    index.place_sectors = {k: frozenset(v) for k, v in place_sectors.items()}
    index.sector_places = {k: frozenset(v) for k, v in sector_places.items()}

    place_orgs: dict[int, set[int]] = defaultdict(set)
    org_places: dict[int, set[int]] = defaultdict(set)
    for oid, name, place_id in (await conn.execute(
            select(ORG.c.id, ORG.c.name, ORG.c.place_id))).all():
        index.organization_names[oid] = name
        if place_id is not None:
            place_orgs[place_id].add(oid)
            org_places[oid].add(place_id)
    for pid, oid in (await conn.execute(select(
            partnership_organizations.c.partnership_id,
            partnership_organizations.c.organization_id))).all():
        for place_id in ends.get(pid, ()):
            place_orgs[place_id].add(oid)
            org_places[oid].add(place_id)
    index.place_organizations = {k: frozenset(v) for k, v in place_orgs.items()}
    index.organization_places = {k: frozenset(v) for k, v in org_places.items()}

    groups: dict[tuple[int, str], dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for place_id, others in index.neighbors.items():
        facts = index.places.get(place_id)
        if facts is None:
            continue
        links = groups[(facts.country_id, level_class(facts.level))]
        for other in others:
            links[other].append(place_id)
    index.group_links = {g: {x: tuple(sorted(ps)) for x, ps in links.items()}
                         for g, links in groups.items()}
    index.group_ranked = {
        g: tuple(sorted(((len(ps), x) for x, ps in links.items()), key=lambda c: (-c[0], c[1])))
        for g, links in index.group_links.items()}
    return index


class GraphCache:
    """One process's index for one database, rebuilt when the data version moves."""

    def __init__(self, engine: AsyncEngine) -> None:
        # Weak: the registry below is keyed on the engine and must not keep it alive.
        self._engine = weakref.ref(engine)
        self._index: GraphIndex | None = None
        self._lock: asyncio.Lock | None = None
        self.builds = 0

    async def current(self) -> GraphIndex:
        engine = self._engine()
        assert engine is not None, "the engine was disposed of"
        async with engine.connect() as conn:
            version = await read_version(conn)
        index = self._index
        if index is not None and index.version == version and version is not None:
            return index
        builds = self.builds
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            index = self._index
            # Reusable if built while this request waited, from a snapshot at least as new
            # as the version it read (a version that went down means a restored store).
            fresh = (index is not None and version is not None and index.version is not None
                     and (index.version == version
                          or (self.builds != builds and index.version > version)))
            if not fresh:
                index = self._index = await self._build(engine)
                self.builds += 1
            assert index is not None
            return index

    @staticmethod
    async def _build(engine: AsyncEngine) -> GraphIndex:
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # One snapshot for every statement of the build, and for its version tag.
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            # SQLite: the connection's transaction is a snapshot from its first read (WAL).
            return await build_index(conn)


_caches: weakref.WeakKeyDictionary[AsyncEngine, GraphCache] = weakref.WeakKeyDictionary()


def graph_cache(database: Database) -> GraphCache:
    """The process-wide cache of this database's graph (one per engine)."""
    cache = _caches.get(database.engine)
    if cache is None:
        cache = _caches[database.engine] = GraphCache(database.engine)
    return cache


async def graph_index(database: Database) -> GraphIndex:
    """The graph as of the latest committed write (one cheap `SELECT` when unchanged)."""
    return await graph_cache(database).current()


# ---------------------------------------------------------------- shortest paths


@dataclass(frozen=True)
class CityPathResult:
    """Places from start to end, both included, and the partnership of each hop."""

    place_ids: tuple[int, ...]
    partnership_ids: tuple[int, ...]

    @property
    def hops(self) -> int:
        return len(self.partnership_ids)


def _frontier_cost(index: GraphIndex, layer: Iterable[int]) -> int:
    return sum(len(index.neighbors.get(v, ())) for v in layer)


def shortest_path(index: GraphIndex, source: int, target: int,
                  max_hops: int = DEFAULT_MAX_HOPS) -> CityPathResult | None:
    """Fewest hops from source to target within max_hops; None when there is no such chain.

    Among equally short chains, the one whose sequence of place ids is
    lexicographically smallest; between two places twinned more than once, the
    smallest partnership id. Bidirectional BFS, always growing the side whose next
    level is cheaper, then a greedy walk over the shortest-path layers.
    """
    if source not in index.places or target not in index.places:
        return None
    if source == target:
        return CityPathResult((source,), ())
    adjacency = index.neighbors
    forward: dict[int, int] = {source: 0}
    backward: dict[int, int] = {target: 0}
    forward_layers: list[list[int]] = [[source]]
    backward_layers: list[list[int]] = [[target]]
    meeting: list[int] = []
    while not meeting:
        if len(forward_layers) + len(backward_layers) - 2 >= max_hops:
            return None
        grow_forward = (_frontier_cost(index, forward_layers[-1])
                        <= _frontier_cost(index, backward_layers[-1]))
        seen, layers, other = ((forward, forward_layers, backward) if grow_forward
                               else (backward, backward_layers, forward))
        depth = len(layers)
        layer: list[int] = []
        for v in layers[-1]:
            for w in adjacency.get(v, ()):
                if w not in seen:
                    seen[w] = depth
                    layer.append(w)
        if not layer:
            return None
        layers.append(layer)
        meeting = [w for w in layer if w in other]
    # Every shortest chain passes the meeting level: forward depth a, backward depth b.
    a, b = len(forward_layers) - 1, len(backward_layers) - 1
    hops = a + b
    on_path: list[set[int]] = [set() for _ in range(a + 1)]
    on_path[a] = set(meeting)
    for depth in range(a, 0, -1):
        for v in on_path[depth]:
            for u in adjacency[v]:
                if forward.get(u) == depth - 1:
                    on_path[depth - 1].add(u)
    places = [source]
    for step in range(1, hops + 1):
        current = places[-1]
        if step <= a:
            nxt = min(w for w in adjacency[current] if w in on_path[step])
        else:
            nxt = min(w for w in adjacency[current] if backward.get(w) == hops - step)
        places.append(nxt)
    partnerships = tuple(index.edge[pair(u, v)] for u, v in itertools.pairwise(places))
    return CityPathResult(tuple(places), partnerships)
