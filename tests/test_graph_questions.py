"""Graph questions: shortest chains between places, partner suggestions, and partnerships
in force on a date, on constructed graphs whose answers are known."""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

import httpx
import pytest
from citylinks.db import writes
from citylinks.db.engine import create_database
from citylinks.db.graph import GraphIndex, PlaceFacts, graph_cache, pair, shortest_path
from citylinks.schema.ids import decode_id
from citylinks.settings import Settings
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import document, load, partnership, place
from tests.conftest import StatementCounter, gql, running_app

PATH = """query ($from: ID!, $to: ID!, $maxHops: Int) {
  path(from: $from, to: $to, maxHops: $maxHops) {
    hops cities { id name } partnerships { id kind cities { name } } } }"""
PATH_DEFAULT_HOPS = """query ($from: ID!, $to: ID!) {
  path(from: $from, to: $to) { hops cities { name } } }"""
SUGGEST = """query ($city: ID!, $first: Int, $sector: String) {
  suggestPartners(city: $city, first: $first, sector: $sector) {
    city { id name } score sharedSectors { slug } reasons } }"""
SUGGEST_DEFAULT = """query ($city: ID!) { suggestPartners(city: $city) { city { name } } }"""
CITY_ID = """query ($name: String!) { city(name: $name) { id } }"""
PARTNERS_ACTIVE_ON = """query ($name: String!, $on: PartialDate!) {
  city(name: $name) {
    partners(filter: {activeOn: $on}) { totalCount nodes { city { name } } }
    partnerships(filter: {activeOn: $on}) { totalCount } } }"""
PARTNERSHIPS_ACTIVE_ON = """query ($on: PartialDate!) {
  partnerships(filter: {activeOn: $on, country: "IS"}) { totalCount nodes { since until } } }"""

MISSING_CITY = "Q2l0eTo5OTk5OTk5"  # "City:9999999"


def _chain_world() -> dict[str, Any]:
    """A-B-C-D-E; P reaches R over Q1-S2 or Q2-S1; Lone sits in a component of its own."""
    names = ["A", "B", "C", "D", "E", "P", "Q1", "Q2", "S1", "S2", "R", "Lone", "Lone Pal"]
    places = [place(n.lower().replace(" ", "-"), f"Gq {n}", "IS",
                    latitude=64.0 + i * 0.1, longitude=-21.0) for i, n in enumerate(names)]
    links = [partnership("a", "b"), partnership("b", "c"), partnership("c", "d"),
             partnership("d", "e"),
             partnership("p", "q1"), partnership("p", "q2"),
             partnership("q1", "s2"), partnership("q2", "s1"),
             partnership("s1", "r"), partnership("s2", "r"),
             # Twinned twice: the chain takes the partnership recorded first.
             partnership("a", "b", kind="FRIENDSHIP"),
             partnership("lone", "lone-pal")]
    return document(places, links)


@pytest.fixture
async def graph(app_and_client: tuple[Any, httpx.AsyncClient]) -> tuple[Any, httpx.AsyncClient]:
    app, client = app_and_client
    await load(app.state.db, _chain_world())
    return app, client


async def _id(client: httpx.AsyncClient, name: str) -> str:
    body = await gql(client, CITY_ID, {"name": name})
    return str(body["data"]["city"]["id"])


async def _path(client: httpx.AsyncClient, a: str, b: str,
                max_hops: int | None = None) -> dict[str, Any]:
    variables: dict[str, Any] = {"from": await _id(client, a), "to": await _id(client, b)}
    if max_hops is not None:
        variables["maxHops"] = max_hops
    return await gql(client, PATH, variables)


def _names(path: dict[str, Any]) -> list[str]:
    return [c["name"] for c in path["cities"]]


# ---------------------------------------------------------------- path


@pytest.mark.parametrize(("a", "b", "hops"), [
    ("Gq A", "Gq B", 1), ("Gq A", "Gq C", 2), ("Gq A", "Gq E", 4), ("Gq E", "Gq A", 4),
    ("Gq P", "Gq R", 3)])
async def test_path_has_the_fewest_hops(graph: tuple[Any, httpx.AsyncClient], a: str, b: str,
                                        hops: int) -> None:
    path = (await _path(graph[1], a, b))["data"]["path"]
    assert path["hops"] == hops
    assert len(path["cities"]) == hops + 1 and len(path["partnerships"]) == hops
    assert _names(path)[0] == a and _names(path)[-1] == b


async def test_each_partnership_of_a_path_links_its_neighbouring_cities(
        graph: tuple[Any, httpx.AsyncClient]) -> None:
    path = (await _path(graph[1], "Gq A", "Gq E"))["data"]["path"]
    assert _names(path) == ["Gq A", "Gq B", "Gq C", "Gq D", "Gq E"]
    for i, link in enumerate(path["partnerships"]):
        assert {c["name"] for c in link["cities"]} == set(_names(path)[i:i + 2])


async def test_equally_short_paths_resolve_to_the_smallest_place_ids_from_the_start(
        graph: tuple[Any, httpx.AsyncClient]) -> None:
    # given P-Q1-S2-R and P-Q2-S1-R, with Q1 < Q2 and S1 < S2 (created in that order)
    path = (await _path(graph[1], "Gq P", "Gq R"))["data"]["path"]
    # then the first place where they differ decides: Q1, even though S1 < S2
    assert _names(path) == ["Gq P", "Gq Q1", "Gq S2", "Gq R"]
    again = (await _path(graph[1], "Gq P", "Gq R"))["data"]["path"]
    assert again == path


async def test_two_places_twinned_twice_are_linked_by_the_first_partnership(
        graph: tuple[Any, httpx.AsyncClient]) -> None:
    path = (await _path(graph[1], "Gq A", "Gq B"))["data"]["path"]
    assert path["partnerships"][0]["kind"] == "SISTER_CITY"


async def test_a_path_from_a_place_to_itself_has_no_hops(
        graph: tuple[Any, httpx.AsyncClient]) -> None:
    path = (await _path(graph[1], "Gq C", "Gq C", 0))["data"]["path"]
    assert path == {"hops": 0, "cities": [{"id": await _id(graph[1], "Gq C"), "name": "Gq C"}],
                    "partnerships": []}


async def test_places_in_different_components_have_no_path(
        graph: tuple[Any, httpx.AsyncClient]) -> None:
    body = await _path(graph[1], "Gq A", "Gq Lone", 10)
    assert body == {"data": {"path": None}}


async def test_max_hops_cuts_off_longer_chains(graph: tuple[Any, httpx.AsyncClient]) -> None:
    assert (await _path(graph[1], "Gq A", "Gq E", 3))["data"]["path"] is None
    assert (await _path(graph[1], "Gq A", "Gq E", 4))["data"]["path"]["hops"] == 4


async def test_max_hops_defaults_to_six(graph: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = graph
    # given E - Far 1 - ... - Far 5 - End: six hops from E, seven from D
    names = [f"Gq Far {i}" for i in range(1, 6)] + ["Gq End"]
    places = [place("e", "Gq E", "IS"), *(place(f"f{i}", n, "EE") for i, n in enumerate(names))]
    chain = ["e", *(f"f{i}" for i in range(len(names)))]
    links = [partnership(x, y) for x, y in itertools.pairwise(chain)]
    await load(app.state.db, document(places, links))
    end = await _id(client, "Gq End")
    body = await gql(client, PATH_DEFAULT_HOPS, {"from": await _id(client, "Gq E"), "to": end})
    assert body["data"]["path"]["hops"] == 6
    body = await gql(client, PATH_DEFAULT_HOPS, {"from": await _id(client, "Gq D"), "to": end})
    assert body == {"data": {"path": None}}


async def _pk(client: httpx.AsyncClient, name: str) -> int:
    return decode_id(await _id(client, name), "City")


@pytest.mark.parametrize("max_hops", [-1, 11])
async def test_max_hops_outside_zero_to_ten_is_bad_user_input(
        graph: tuple[Any, httpx.AsyncClient], max_hops: int) -> None:
    body = await _path(graph[1], "Gq A", "Gq B", max_hops)
    assert body["data"] is None or body["data"]["path"] is None
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "maxHops"


@pytest.mark.parametrize("field", ["from", "to"])
async def test_a_malformed_id_is_bad_user_input_naming_its_argument(
        graph: tuple[Any, httpx.AsyncClient], field: str) -> None:
    variables = {"from": await _id(graph[1], "Gq A"), "to": await _id(graph[1], "Gq B")}
    variables[field] = "not-an-id"
    error = (await gql(graph[1], PATH, variables))["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_a_well_formed_id_of_a_missing_city_gives_a_null_path(
        graph: tuple[Any, httpx.AsyncClient]) -> None:
    body = await gql(graph[1], PATH, {"from": await _id(graph[1], "Gq A"), "to": MISSING_CITY})
    assert body == {"data": {"path": None}}


async def test_path_sees_a_write_made_by_another_process_at_once(
        graph: tuple[Any, httpx.AsyncClient], db_url: str) -> None:
    client = graph[1]
    assert (await _path(client, "Gq A", "Gq Lone"))["data"]["path"] is None
    # given another worker (its own engine and pool) twinning E with Lone
    other = create_database(db_url)
    try:
        async with other.write() as session:
            created = await writes.create_partnership(session, {
                "cities": [await _pk(client, "Gq E"), await _pk(client, "Gq Lone")],
                "kind": "FRIENDSHIP", "status": "ACTIVE"})
        # then the next question here sees the new chain
        path = (await _path(client, "Gq A", "Gq Lone"))["data"]["path"]
        assert _names(path) == ["Gq A", "Gq B", "Gq C", "Gq D", "Gq E", "Gq Lone"]
        # and its deletion
        async with other.write() as session:
            await writes.delete_partnership(session, created.id)
        assert (await _path(client, "Gq A", "Gq Lone"))["data"]["path"] is None
    finally:
        await other.dispose()


async def test_an_unchanged_graph_costs_one_statement_per_question(
        graph: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = graph
    variables = {"from": await _id(client, "Gq A"), "to": await _id(client, "Gq E")}
    await gql(client, PATH, variables)
    builds = graph_cache(app.state.db).builds
    counter = StatementCounter(app.state.db)
    try:
        await gql(client, PATH, variables)
    finally:
        counter.close()
    assert graph_cache(app.state.db).builds == builds
    # the data version alone: the rows of the answer come with the graph
    reads = [s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1 and "store_state" in reads[0], counter.statements


async def test_the_graph_index_is_built_at_start_and_the_first_question_reuses_it(
        db_url: str) -> None:
    # given: a server started as `citylinks serve` starts it (the index at start)
    async with running_app(Settings(db_url=db_url), graph_index_at_start=True) as (app, client):
        cache = graph_cache(app.state.db)
        # then: the index was built before any request
        assert cache.builds == 1
        # and the first graph question answers from it, building nothing
        sectors = (await gql(client, "{ sectors { slug } }"))["data"]["sectors"]
        assert sectors
        place = (await gql(client, '{ search(text: "Hai Phong", first: 1) { id } }'))
        city = place["data"]["search"][0]["id"]
        answer = await gql(client, f'{{ suggestPartners(city: "{city}", first: 3) {{ score }} }}')
        assert "errors" not in answer
        assert cache.builds == 1
    # while an app started without it builds the index on its first question
    async with running_app(Settings(db_url=db_url)) as (app, client):
        assert graph_cache(app.state.db).builds == 0


# ---------------------------------------------------------------- the algorithm itself


def _index(edges: list[tuple[int, int]], nodes: int) -> GraphIndex:
    index = GraphIndex(version=0)
    index.places = {i: PlaceFacts(f"n{i}", 1, "CITY", None, None, None) for i in range(nodes)}
    adjacency: dict[int, set[int]] = {i: set() for i in range(nodes)}
    for n, (u, v) in enumerate(edges):
        if u != v:
            adjacency[u].add(v)
            adjacency[v].add(u)
            index.edge.setdefault(pair(u, v), n)
    index.neighbors = {k: tuple(sorted(v)) for k, v in adjacency.items()}
    return index


def _reference(index: GraphIndex, source: int, target: int,
               max_hops: int) -> tuple[int, ...] | None:
    """Plain BFS from the target, then the smallest next place that stays on a shortest path."""
    distance = {target: 0}
    queue = deque([target])
    while queue:
        v = queue.popleft()
        for w in index.neighbors[v]:
            if w not in distance:
                distance[w] = distance[v] + 1
                queue.append(w)
    if source not in distance or distance[source] > max_hops:
        return None
    path = [source]
    while path[-1] != target:
        here = path[-1]
        path.append(min(w for w in index.neighbors[here]
                        if distance.get(w) == distance[here] - 1))
    return tuple(path)


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 30).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n),
    st.integers(0, n - 1), st.integers(0, n - 1), st.integers(0, 10))))
def test_bidirectional_search_agrees_with_a_plain_breadth_first_search(
        case: tuple[int, list[tuple[int, int]], int, int, int]) -> None:
    nodes, edges, source, target, max_hops = case
    index = _index(edges, nodes)
    found = shortest_path(index, source, target, max_hops)
    expected = _reference(index, source, target, max_hops)
    assert (found.place_ids if found else None) == expected
    if found is not None:
        assert found.partnership_ids == tuple(
            index.edge[pair(u, v)] for u, v in itertools.pairwise(found.place_ids))


# ---------------------------------------------------------------- suggestions


def _suggestion_world() -> dict[str, Any]:
    def at(ref: str, name: str, country: str, lat: float, lon: float,
           **extra: Any) -> dict[str, Any]:
        return place(ref, f"Gq {name}", country, latitude=lat, longitude=lon, **extra)

    # Countries the bundled world has no place in (Svalbard, Åland, the Faroes, Bouvet
    # Island, the Isle of Man), so that its places neither share partners with these
    # nor count as similar places.
    places = [
        at("county", "County", "SJ", 60.0, 10.0, level="PROVINCE"),
        at("home", "Home", "SJ", 59.9, 10.7, parent="county"),
        at("ward", "Home Ward", "SJ", 59.91, 10.75, level="DISTRICT", parent="home"),
        at("peer", "Peer", "SJ", 60.4, 5.3),
        *(at(f"p{i}", f"Pal {i}", "AX", 57.0 + i, 12.0) for i in range(1, 5)),
        at("obvious", "Obvious", "FO", 55.7, 12.6),
        at("near", "Near", "FO", 56.0, 10.0),
        at("hub", "Hubby", "BV", 60.2, 24.9),
        at("peerpal", "Peerpal", "IM", 59.4, 24.7),
    ]
    organizations = [{"ref": "port", "name": "Gq Port Authority", "kind": "PORT_AUTHORITY",
                      "place": "obvious"}]
    ports = ["ports-logistics", "maritime"]
    links = [
        partnership("home", "p1", sectors=ports, organizations=["port"]),
        partnership("home", "p2", sectors=["ports-logistics"]),
        partnership("home", "p3", sectors=["culture"]),
        partnership("home", "p4", kind="FRIENDSHIP"),
        partnership("obvious", "p1", sectors=["ports-logistics"]),
        partnership("obvious", "p2"),
        partnership("obvious", "p3", sectors=["sports"]),
        partnership("near", "p4"),
        partnership("hub", "p1", sectors=["sports"]),
        partnership("county", "p2"),
        partnership("ward", "p3"),
        partnership("peer", "peerpal"),
    ]
    return document(places, links, organizations)


@pytest.fixture
async def suggestions(app_and_client: tuple[Any, httpx.AsyncClient]
                      ) -> tuple[Any, httpx.AsyncClient]:
    app, client = app_and_client
    await load(app.state.db, _suggestion_world())
    return app, client


async def _suggest(client: httpx.AsyncClient, name: str, **variables: Any) -> dict[str, Any]:
    return await gql(client, SUGGEST, {"city": await _id(client, name), **variables})


async def test_the_obvious_candidate_ranks_first_with_its_reasons(
        suggestions: tuple[Any, httpx.AsyncClient]) -> None:
    found = (await _suggest(suggestions[1], "Gq Home"))["data"]["suggestPartners"]
    best = found[0]
    assert best["city"]["name"] == "Gq Obvious"
    assert best["reasons"][0] == "3 partners in common: Gq Pal 1, Gq Pal 2, Gq Pal 3"
    assert "both active in ports-logistics" in best["reasons"]
    assert "1 organization already works with both: Gq Port Authority" in best["reasons"]
    assert [s["slug"] for s in best["sharedSectors"]] == ["ports-logistics"]
    assert best["score"] > found[1]["score"]
    assert [s["score"] for s in found] == sorted((s["score"] for s in found), reverse=True)


async def test_suggestions_leave_out_the_place_its_partners_and_its_own_tree(
        suggestions: tuple[Any, httpx.AsyncClient]) -> None:
    found = (await _suggest(suggestions[1], "Gq Home", first=50))["data"]["suggestPartners"]
    names = {s["city"]["name"] for s in found}
    assert names == {"Gq Obvious", "Gq Near", "Gq Hubby", "Gq Peerpal"}


async def test_places_twinned_with_similar_places_are_suggested_with_that_reason(
        suggestions: tuple[Any, httpx.AsyncClient]) -> None:
    found = (await _suggest(suggestions[1], "Gq Home", first=50))["data"]["suggestPartners"]
    peerpal = next(s for s in found if s["city"]["name"] == "Gq Peerpal")
    assert peerpal["reasons"][0] == (
        "sister city partner of 1 other city in Svalbard and Jan Mayen: Gq Peer")


async def test_suggestions_are_the_same_every_time(
        suggestions: tuple[Any, httpx.AsyncClient]) -> None:
    first = await _suggest(suggestions[1], "Gq Home")
    assert await _suggest(suggestions[1], "Gq Home") == first


async def test_a_sector_keeps_only_places_active_in_it(
        suggestions: tuple[Any, httpx.AsyncClient]) -> None:
    found = (await _suggest(suggestions[1], "Gq Home", sector="sports")
             )["data"]["suggestPartners"]
    # Obvious and Hubby are active in sports; Home is not, so it is named plainly.
    assert [s["city"]["name"] for s in found] == ["Gq Obvious", "Gq Hubby"]
    assert "active in sports" in found[1]["reasons"]


async def test_an_unknown_sector_is_bad_user_input(
        suggestions: tuple[Any, httpx.AsyncClient]) -> None:
    error = (await _suggest(suggestions[1], "Gq Home", sector="smuggling"))["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "sector"}


async def test_suggestions_count_defaults_to_ten_and_first_zero_gives_none(
        suggestions: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = suggestions
    # given twelve more places sharing a partner with Home
    extra = [place(f"x{i}", f"Gq Extra {i:02d}", "LT") for i in range(12)]
    await load(app.state.db, document(
        [*extra, place("p1", "Gq Pal 1", "AX")],
        [partnership(f"x{i}", "p1") for i in range(12)]))
    body = await gql(client, SUGGEST_DEFAULT, {"city": await _id(client, "Gq Home")})
    assert len(body["data"]["suggestPartners"]) == 10
    assert (await _suggest(client, "Gq Home", first=0))["data"]["suggestPartners"] == []


@pytest.mark.parametrize("first", [-1, 51])
async def test_first_outside_zero_to_fifty_is_bad_user_input(
        suggestions: tuple[Any, httpx.AsyncClient], first: int) -> None:
    error = (await _suggest(suggestions[1], "Gq Home", first=first))["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}


async def test_suggestions_for_a_missing_city_are_empty_and_a_malformed_id_is_refused(
        suggestions: tuple[Any, httpx.AsyncClient]) -> None:
    client = suggestions[1]
    assert (await gql(client, SUGGEST, {"city": MISSING_CITY})) == {
        "data": {"suggestPartners": []}}
    error = (await gql(client, SUGGEST, {"city": "nope"}))["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "city"}


async def test_a_new_partnership_removes_its_partner_from_the_suggestions(
        suggestions: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = suggestions
    async with app.state.db.write() as session:
        await writes.create_partnership(session, {
            "cities": [await _pk(client, "Gq Home"), await _pk(client, "Gq Obvious")],
            "kind": "SISTER_CITY", "status": "PROPOSED"})
    found = (await _suggest(client, "Gq Home", first=50))["data"]["suggestPartners"]
    assert "Gq Obvious" not in {s["city"]["name"] for s in found}


# ---------------------------------------------------------------- in force on a date


def _dated_world() -> dict[str, Any]:
    places = [place(r, f"Gq {r.title()}", "IS") for r in
              ("hub", "y2005", "apr2009", "ended2010", "planned", "undated", "suspended")]
    return document(places, [
        partnership("hub", "y2005", since="2005"),
        partnership("hub", "apr2009", since="2009-04"),
        partnership("hub", "ended2010", status="ENDED", since="2001", until="2010"),
        partnership("hub", "planned", status="PROPOSED", since="2008"),
        partnership("hub", "undated"),
        partnership("hub", "suspended", status="SUSPENDED", since="2009-04-15"),
    ])


# "Gq Undated" is never listed: an unknown start is not "always" (the contract).
IN_FORCE = [
    ("2004", {"Gq Ended2010"}),
    ("2005-06", {"Gq Y2005", "Gq Ended2010"}),
    # A month stands for its whole length: "2009-04" covers the 15th, and "2009" April.
    ("2009-03", {"Gq Y2005", "Gq Ended2010"}),
    ("2009-04", {"Gq Y2005", "Gq Apr2009", "Gq Ended2010", "Gq Suspended"}),
    ("2009-04-14", {"Gq Y2005", "Gq Apr2009", "Gq Ended2010"}),
    ("2009", {"Gq Y2005", "Gq Apr2009", "Gq Ended2010", "Gq Suspended"}),
    # Ended some time in 2010: still in force on a day of 2010, not in 2011.
    ("2010-12-31", {"Gq Y2005", "Gq Apr2009", "Gq Ended2010", "Gq Suspended"}),
    ("2011", {"Gq Y2005", "Gq Apr2009", "Gq Suspended"}),
]


async def test_active_on_covers_the_whole_period_of_a_partial_date(
        app_and_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_and_client
    await load(app.state.db, _dated_world())
    for on, partners in IN_FORCE:
        body = await gql(client, PARTNERS_ACTIVE_ON, {"name": "Gq Hub", "on": on})
        city = body["data"]["city"]
        assert {n["city"]["name"] for n in city["partners"]["nodes"]} == partners, on
        assert city["partners"]["totalCount"] == len(partners), on
        assert city["partnerships"]["totalCount"] == len(partners), on
        top = (await gql(client, PARTNERSHIPS_ACTIVE_ON, {"on": on}))["data"]["partnerships"]
        assert top["totalCount"] == len(partners), on


async def test_active_on_refuses_what_is_not_a_partial_date(
        client: httpx.AsyncClient) -> None:
    for on in ["2009-13", "09", "2009/04", "2009-02-30"]:
        body = await gql(client, PARTNERSHIPS_ACTIVE_ON, {"on": on})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", on


async def test_every_suggestion_says_why_and_distance_alone_suggests_nothing(
        app_and_client: tuple[Any, httpx.AsyncClient]) -> None:
    # given a place whose only partnership is a friendship, a place like it (same country,
    # same level) twinned as sister cities with a faraway place, and nothing else in common
    app, client = app_and_client
    places = [place("lonely", "Gq Lonely", "NR", latitude=-0.5, longitude=166.9),
              place("friend", "Gq Friend", "NR", latitude=-0.6, longitude=166.9),
              place("peer", "Gq Peer Nr", "NR", latitude=-0.55, longitude=166.95),
              place("far", "Gq Faraway", "IS", latitude=64.1, longitude=-21.9),
              place("peer-friend", "Gq Peer Friend", "FR", latitude=48.8, longitude=2.3)]
    await load(app.state.db, document(places, [
        partnership("lonely", "friend", kind="FRIENDSHIP"),
        partnership("peer", "far", kind="SISTER_CITY"),
        partnership("peer", "peer-friend", kind="FRIENDSHIP")]))
    found = (await _suggest(client, "Gq Lonely", first=50))["data"]["suggestPartners"]
    # then the faraway place, whose only score is its distance, is not suggested, and
    # every suggestion has a reason besides distance
    names = {s["city"]["name"] for s in found}
    assert "Gq Faraway" not in names
    assert "Gq Peer Friend" in names
    for suggestion in found:
        assert [r for r in suggestion["reasons"] if not r.startswith("close by")], suggestion
