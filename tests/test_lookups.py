"""Finding places: by global id, by any name or alias, and by ranked search."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.builders import document, load, partnership, place
from tests.conftest import gql

CITY_BY_NAME = """query ($name: String!, $country: String) {
  city(name: $name, country: $country) { id name country { code } } }"""
NODE = """query ($id: ID!) { node(id: $id) { id __typename ... on City { name } } }"""
NODES = """query ($ids: [ID!]!) { nodes(ids: $ids) { id ... on City { name } } }"""
SEARCH = """query ($text: String!) { search(text: $text, first: 5) {
  name level country { code } parent { name } } }"""


@pytest.fixture
async def world(app_and_client: tuple[Any, httpx.AsyncClient]) -> httpx.AsyncClient:
    app, client = app_and_client
    await load(app.state.db, document([
        # Invented names, or countries the bundled world has no place in, so that the
        # world's own places (its Zanzibar, its Łódź) do not answer instead.
        place("zn", "Qunguja Town", "TZ", localName="Mji wa Qunguja",
              aliases=["Stone Town of Qunguja"]),
        place("sp1", "Springfield", "AQ"),
        place("sp2", "Springfield", "AQ"),
        place("ld", "Lodzka", "BV", localName="Łódzka"),
        place("lw", "Lodzka Wola", "BV"),
        place("os", "Oslo", "NO"),
    ], [partnership("ld", "os"), partnership("zn", "os")]))
    return client


async def _city_id(client: httpx.AsyncClient, name: str) -> str:
    body = await gql(client, CITY_BY_NAME, {"name": name})
    return str(body["data"]["city"]["id"])


@pytest.mark.parametrize("spelling", ["Łódzka", "lodzka", "LODZKA", " Lódzka "])
async def test_city_by_name_is_accent_case_and_space_insensitive(world: httpx.AsyncClient,
                                                                 spelling: str) -> None:
    body = await gql(world, CITY_BY_NAME, {"name": spelling})
    assert body["data"]["city"]["name"] == "Lodzka"


async def test_city_by_alias_finds_the_place(world: httpx.AsyncClient) -> None:
    body = await gql(world, CITY_BY_NAME, {"name": "stone town of qunguja"})
    assert body["data"]["city"]["name"] == "Qunguja Town"


async def test_ambiguous_name_is_bad_user_input_listing_the_candidates(
        world: httpx.AsyncClient) -> None:
    body = await gql(world, CITY_BY_NAME, {"name": "Springfield", "country": "AQ"})
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].count("Springfield, AQ (city, id ") == 2


async def test_unknown_name_is_null_not_an_error(world: httpx.AsyncClient) -> None:
    body = await gql(world, CITY_BY_NAME, {"name": "Atlantis"})
    assert body == {"data": {"city": None}}


async def test_node_fetches_a_city_by_its_global_id(world: httpx.AsyncClient) -> None:
    city_id = await _city_id(world, "Oslo")
    body = await gql(world, NODE, {"id": city_id})
    assert body["data"]["node"] == {"id": city_id, "__typename": "City", "name": "Oslo"}


async def test_well_formed_id_of_a_missing_object_is_null(world: httpx.AsyncClient) -> None:
    missing = base64.b64encode(b"City:999999").decode()
    assert (await gql(world, NODE, {"id": missing}))["data"]["node"] is None


@pytest.mark.parametrize("bad", ["not-an-id", base64.b64encode(b"Planet:1").decode(),
                                 base64.b64encode(b"City:abc").decode()])
async def test_malformed_id_is_bad_user_input(world: httpx.AsyncClient, bad: str) -> None:
    body = await gql(world, NODE, {"id": bad})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_nodes_answers_in_the_order_asked_with_nulls(world: httpx.AsyncClient) -> None:
    oslo, lodz = await _city_id(world, "Oslo"), await _city_id(world, "Lodzka")
    missing = base64.b64encode(b"City:999999").decode()
    body = await gql(world, NODES, {"ids": [lodz, missing, oslo]})
    assert [n and n["name"] for n in body["data"]["nodes"]] == ["Lodzka", None, "Oslo"]


async def test_search_ranks_exact_names_before_partial_matches(world: httpx.AsyncClient) -> None:
    await gql(world, "{ __typename }")
    body = await gql(world, SEARCH, {"text": "lodzka"})
    names = [c["name"] for c in body["data"]["search"]]
    # the exact name, then a name it begins, then names it is only inside of
    assert names[:2] == ["Lodzka", "Lodzka Wola"]
    assert names.index("Bystrzyca Kłodzka") > 1
    body = await gql(world, SEARCH, {"text": "oslo"})
    assert body["data"]["search"][0]["name"] == "Oslo"


async def test_search_results_name_country_and_level(world: httpx.AsyncClient) -> None:
    body = await gql(world, SEARCH, {"text": "qunguja"})
    assert body["data"]["search"][0] == {
        "name": "Qunguja Town", "level": "CITY", "country": {"code": "TZ"}, "parent": None}
