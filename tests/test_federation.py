"""Apollo Federation 2: the subgraph SDL, `_entities` in batches, composition into a supergraph."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from citylinks.settings import Settings
from graphql import DirectiveNode, ObjectTypeDefinitionNode, parse, print_ast

from tests.conftest import StatementCounter, gql, running_app

FEDERATION_DIR = Path(__file__).parent / "federation"

SERVICE_SDL = "{ _service { sdl } }"
ENTITIES = """
query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on City { id name wikidataId }
    ... on Country { id code }
    ... on Partnership { id kind }
    ... on Sector { id slug }
    ... on Organization { id name }
  }
}
"""
IDS = """
{
  cities(first: 100) { nodes { id wikidataId } }
  countries { id }
  partnerships(first: 100) { nodes { id } }
  sectors { id }
  organizations(first: 100) { nodes { id } }
}
"""
EXPECTED_KEYS = {
    "City": {"id", "wikidataId"},
    "Country": {"id"},
    "Partnership": {"id"},
    "Sector": {"id"},
    "Organization": {"id"},
}
# A second subgraph that contributes reviews to the cities citylinks owns.
REVIEWS_SUBGRAPH = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])

type City @key(fields: "id", resolvable: false) {
  id: ID!
}

type Review {
  city: City!
  stars: Int!
}

type Query {
  reviews: [Review!]!
}
"""


def _keys(definition: ObjectTypeDefinitionNode) -> set[str]:
    def fields(directive: DirectiveNode) -> str:
        argument = next(a for a in directive.arguments if a.name.value == "fields")
        return str(print_ast(argument.value)).strip('"')

    return {fields(d) for d in definition.directives if d.name.value == "key"}


async def _service_sdl(client: httpx.AsyncClient) -> str:
    body = await gql(client, SERVICE_SDL)
    assert "errors" not in body, body
    return str(body["data"]["_service"]["sdl"])


async def test_service_sdl_parses_and_declares_the_entity_keys(
        client: httpx.AsyncClient) -> None:
    sdl = await _service_sdl(client)

    document = parse(sdl)
    types = {d.name.value: d for d in document.definitions
             if isinstance(d, ObjectTypeDefinitionNode)}
    assert {name: _keys(types[name]) for name in EXPECTED_KEYS} == EXPECTED_KEYS
    assert 'url: "https://specs.apollo.dev/federation/v2.' in sdl
    # The public schema stays the contract: no federation machinery in it.
    public = (await client.get("/schema.graphql")).text
    assert "@key" not in public and "_entities" not in public and "_Any" not in public


async def test_entities_answers_100_mixed_representations_in_order_with_bounded_statements(
        app_and_client: tuple[Any, httpx.AsyncClient]) -> None:
    # given: representations of every entity type, by id, City also by wikidataId,
    # interleaved, and some naming nothing
    app, client = app_and_client
    data = (await gql(client, IDS))["data"]
    pool: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for node in data["cities"]["nodes"]:
        pool.append(({"__typename": "City", "id": node["id"]}, {"id": node["id"]}))
        if node["wikidataId"]:
            pool.append(({"__typename": "City", "wikidataId": node["wikidataId"]},
                         {"id": node["id"]}))
    pool += [({"__typename": "Country", "id": c["id"]}, {"id": c["id"]})
             for c in data["countries"][:15]]
    for name, nodes in (("Partnership", data["partnerships"]["nodes"]),
                        ("Sector", data["sectors"]),
                        ("Organization", data["organizations"]["nodes"])):
        pool += [({"__typename": name, "id": n["id"]}, {"id": n["id"]}) for n in nodes]
    pool += [({"__typename": "City", "wikidataId": "Q999999999"}, None),
             ({"__typename": "Sector", "id": "U2VjdG9yOjk5OTk5"}, None)]  # Sector:99999
    by_type: dict[str, list[Any]] = {}
    for item in pool:
        by_type.setdefault(item[0]["__typename"], []).append(item)
    mixed = [item for group in zip(*by_type.values(), strict=False) for item in group]
    mixed += [item for item in pool if item not in mixed]
    chosen = (mixed * 3)[:100]
    assert len({r["__typename"] for r, _ in chosen}) == 5
    counter = StatementCounter(app.state.db)
    try:
        # when
        body = await gql(client, ENTITIES, {"representations": [r for r, _ in chosen]})
        statements = counter.count
    finally:
        counter.close()

    # then: one answer per representation, in the order given
    assert "errors" not in body, body
    entities = body["data"]["_entities"]
    assert len(entities) == 100
    for (representation, expected), entity in zip(chosen, entities, strict=True):
        if expected is None:
            assert entity is None
        else:
            assert entity["__typename"] == representation["__typename"]
            assert entity["id"] == expected["id"]
    # one batch per entity type, the wikidataId lookup and the places it finds, and the
    # rate limiter's count on PostgreSQL (measured: 6 on SQLite, 7 on PostgreSQL); one
    # statement per representation would be 100
    assert statements <= 8, counter.statements


async def test_a_malformed_representation_is_an_error_in_its_place(
        client: httpx.AsyncClient) -> None:
    representations = [{"__typename": "Sector", "id": "U2VjdG9yOjE="},
                       {"__typename": "Airport", "id": "x"},
                       {"__typename": "Country", "code": "VN"}]

    body = await gql(client, ENTITIES, {"representations": representations})

    entities = body["data"]["_entities"]
    assert entities[0]["slug"] and entities[1] is None and entities[2] is None
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["_entities", 1], "BAD_USER_INPUT"), (["_entities", 2], "BAD_USER_INPUT")]


def _composition_tools() -> Path:
    """tests/federation with its node_modules installed from the committed lockfile."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed to run @apollo/composition")
    if not (FEDERATION_DIR / "node_modules" / "@apollo" / "composition").is_dir():
        install = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=FEDERATION_DIR, capture_output=True, text=True, timeout=240)
        if install.returncode != 0:
            pytest.skip(f"could not install @apollo/composition from the npm registry: "
                        f"{install.stderr.strip()[-300:]}")
    return FEDERATION_DIR


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_subgraph_composes_with_a_second_subgraph(
        db_url: str, tmp_path: Path) -> None:
    tools = _composition_tools()
    async with running_app(Settings(db_url=db_url)) as (_, client):
        sdl = await _service_sdl(client)
    services = [{"name": "citylinks", "url": "http://citylinks.test/graphql", "sdl": sdl},
                {"name": "reviews", "url": "http://reviews.test/graphql",
                 "sdl": REVIEWS_SUBGRAPH}]

    run = subprocess.run(["node", "compose.mjs"], cwd=tools, input=json.dumps(services),
                         capture_output=True, text=True, timeout=120)

    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["errors"] == []
    supergraph = result["supergraphSdl"]
    assert "join__graph" in supergraph and "CITYLINKS" in supergraph and "REVIEWS" in supergraph
    assert "reviews: [Review!]!" in supergraph and "partnerships(" in supergraph


async def test_introspection_shows_the_public_contract_and_gateways_keep_their_fields(
        client: httpx.AsyncClient) -> None:
    from graphql import build_client_schema, get_introspection_query, print_schema
    from graphql import build_schema as build_sdl

    # given the standard introspection query a client tool sends to /graphql
    body = await gql(client, get_introspection_query(descriptions=True))
    assert "errors" not in body, body
    served = build_client_schema(body["data"])
    # then it describes exactly the contract, with none of federation's machinery
    contract = (Path(__file__).resolve().parent.parent / "schema.graphql").read_text()
    assert print_schema(served) == print_schema(build_sdl(contract))
    names = set(served.type_map) | {d.name for d in served.directives}
    assert not names & {"_Any", "_FieldSet", "_Service", "_Entity", "link__Import", "key",
                        "link"}
    hidden = await gql(client, '{ __type(name: "_Any") { name } }')
    assert hidden == {"data": {"__type": None}}
    # and a gateway still reads the subgraph SDL and resolves entities
    sdl = (await gql(client, SERVICE_SDL))["data"]["_service"]["sdl"]
    assert "scalar _Any" in sdl and "@key" in sdl
    ids = (await gql(client, "{ countries { id } }"))["data"]["countries"]
    found = await gql(client, ENTITIES, {"representations": [
        {"__typename": "Country", "id": ids[0]["id"]}]})
    assert found["data"]["_entities"][0]["id"] == ids[0]["id"]


GATEWAY_BATCH = 2_000
GATEWAY_FETCH = ("query($representations:[_Any!]!){_entities(representations:$representations)"
                 "{...on City{__typename id name}}}")


async def test_a_gateway_batch_of_2000_representations_is_answered_in_order(
        client: httpx.AsyncClient) -> None:
    # given: a batch as a gateway sends it when 2,000 references to places need resolving
    ids = [n["id"] for n in (await gql(client, IDS))["data"]["cities"]["nodes"]]
    wanted = [ids[i % len(ids)] for i in range(GATEWAY_BATCH)]
    payload = json.dumps({"query": GATEWAY_FETCH, "variables": {"representations": [
        {"__typename": "City", "id": id_} for id_ in wanted]}})
    assert len(payload) > 65_536  # over the limit bodies had before
    # when
    response = await client.post("/graphql", content=payload,
                                 headers={"content-type": "application/json"})
    # then
    assert response.status_code == 200, response.text[:200]
    body = response.json()
    assert "errors" not in body, body["errors"][:2]
    assert [e["id"] for e in body["data"]["_entities"]] == wanted
