"""Connections: Relay paging with keyset cursors, defaults and limits as the contract says."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.builders import document, load, partnership, place
from tests.conftest import gql

CITIES_PAGE = """query ($first: Int, $after: String, $last: Int, $before: String) {
  cities(first: $first, after: $after, last: $last, before: $before,
         filter: {country: "AQ"}) {
    totalCount edges { cursor node { name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""


@pytest.fixture
async def app_db(app_and_client: tuple[Any, httpx.AsyncClient]) -> Any:
    app, _ = app_and_client
    places = [place(f"p{i}", f"Zulu {i:02d}", "AQ") for i in range(25)]
    await load(app.state.db, document(places, [partnership("p0", "p1")]))
    return app.state.db


@pytest.fixture
async def za_client(app_and_client: tuple[Any, httpx.AsyncClient],
                    app_db: Any) -> httpx.AsyncClient:
    return app_and_client[1]


async def test_first_defaults_to_twenty_with_the_whole_count(za_client: httpx.AsyncClient) -> None:
    page = (await gql(za_client, CITIES_PAGE))["data"]["cities"]
    assert len(page["edges"]) == 20
    assert page["totalCount"] == 25
    assert page["pageInfo"]["hasNextPage"] is True


async def test_walking_pages_visits_every_place_once_in_name_order(
        za_client: httpx.AsyncClient) -> None:
    seen: list[str] = []
    after = None
    for _ in range(10):
        page = (await gql(za_client, CITIES_PAGE, {"first": 7, "after": after}))["data"]["cities"]
        seen += [e["node"]["name"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"Zulu {i:02d}" for i in range(25)]


async def test_cursor_stays_valid_while_rows_are_inserted(za_client: httpx.AsyncClient,
                                                          app_db: Any) -> None:
    first = (await gql(za_client, CITIES_PAGE, {"first": 5}))["data"]["cities"]
    # given new places inserted before and after the cursor position
    await load(app_db, document([place("early", "Zulu 00a", "AQ"),
                                 place("late", "Zulu 99", "AQ")], []))
    after = first["pageInfo"]["endCursor"]
    second = (await gql(za_client, CITIES_PAGE, {"first": 3, "after": after}))["data"]["cities"]
    # then the next page continues right after the last name seen
    assert [e["node"]["name"] for e in second["edges"]] == ["Zulu 05", "Zulu 06", "Zulu 07"]


async def test_last_and_before_page_backwards(za_client: httpx.AsyncClient) -> None:
    tail = (await gql(za_client, CITIES_PAGE, {"last": 3}))["data"]["cities"]
    assert [e["node"]["name"] for e in tail["edges"]] == ["Zulu 22", "Zulu 23", "Zulu 24"]
    assert tail["pageInfo"]["hasPreviousPage"] is True
    before = tail["pageInfo"]["startCursor"]
    earlier = (await gql(za_client, CITIES_PAGE, {"last": 2, "before": before}))["data"]["cities"]
    assert [e["node"]["name"] for e in earlier["edges"]] == ["Zulu 20", "Zulu 21"]


async def test_first_zero_gives_an_empty_page_with_its_count(za_client: httpx.AsyncClient) -> None:
    page = (await gql(za_client, CITIES_PAGE, {"first": 0}))["data"]["cities"]
    assert page["edges"] == [] and page["totalCount"] == 25


@pytest.mark.parametrize("first", [101, -1])
async def test_first_out_of_range_is_bad_user_input_not_a_cap(za_client: httpx.AsyncClient,
                                                              first: int) -> None:
    body = await gql(za_client, CITIES_PAGE, {"first": first})
    assert body["data"] is None or body["data"].get("cities") is None
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}


async def test_malformed_cursor_is_bad_user_input(za_client: httpx.AsyncClient) -> None:
    body = await gql(za_client, CITIES_PAGE, {"after": "bm90IGEgY3Vyc29y"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == "after"


async def test_cursor_of_another_ordering_is_refused(za_client: httpx.AsyncClient) -> None:
    partnerships = await gql(za_client, "{ partnerships(first: 1) { pageInfo { endCursor } } }")
    cursor = partnerships["data"]["partnerships"]["pageInfo"]["endCursor"]
    body = await gql(za_client, CITIES_PAGE, {"after": cursor})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
