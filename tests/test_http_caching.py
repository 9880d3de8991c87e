"""HTTP caching of GET queries: ETag, Cache-Control, 304, and new ETags after every write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from citylinks.auth import create_token
from citylinks.settings import Settings

from tests.conftest import running_app

CITY = 'query City($name: String!) { city(name: $name) { id name population } }'
UPDATE_CITY = """
mutation Update($id: ID!, $population: Int) {
  updateCity(id: $id, input: {population: $population}) { id population }
}
"""
MAX_AGE = 123


@pytest.fixture
async def cached(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client of an app with a max-age of MAX_AGE, and an editor's token."""
    async with running_app(Settings(db_url=db_url, cache_max_age=MAX_AGE)) as (app, client):
        async with app.state.db.write() as session:
            _, token = await create_token(session, "editor", "caching tests")
        yield client, token


async def get_city(client: httpx.AsyncClient, name: str = "hai phong",
                   headers: dict[str, str] | None = None) -> httpx.Response:
    return await client.get("/graphql", params={"query": CITY, "variables": f'{{"name":"{name}"}}'},
                            headers=headers or {})


async def test_a_get_query_carries_an_etag_and_public_cache_control_with_the_max_age(
        cached: tuple[httpx.AsyncClient, str]) -> None:
    client, _ = cached

    response = await get_city(client)

    assert response.status_code == 200
    assert response.json()["data"]["city"]["name"] == "Hai Phong"
    assert response.headers["etag"].startswith('"')
    assert response.headers["cache-control"] == f"public, max-age={MAX_AGE}"
    assert {"Accept", "Authorization"} <= {
        v.strip() for v in response.headers["vary"].split(",")}


async def test_if_none_match_with_the_current_etag_answers_304_without_a_body(
        cached: tuple[httpx.AsyncClient, str]) -> None:
    client, _ = cached
    etag = (await get_city(client)).headers["etag"]

    again = await get_city(client, headers={"if-none-match": etag})

    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == f"public, max-age={MAX_AGE}"


async def test_different_queries_have_different_etags(
        cached: tuple[httpx.AsyncClient, str]) -> None:
    client, _ = cached
    hai_phong = (await get_city(client)).headers["etag"]

    da_nang = await get_city(client, "da nang", headers={"if-none-match": hai_phong})

    assert da_nang.status_code == 200 and da_nang.headers["etag"] != hai_phong


async def test_an_accepted_write_changes_the_etag_and_the_next_get_has_fresh_data(
        cached: tuple[httpx.AsyncClient, str]) -> None:
    client, token = cached
    before = await get_city(client)
    city = before.json()["data"]["city"]

    # when: a mutation is accepted
    update = await client.post("/graphql", json={
        "query": UPDATE_CITY, "variables": {"id": city["id"], "population": 2_123_456}},
        headers={"authorization": f"Bearer {token}"})
    assert "errors" not in update.json(), update.json()

    # then: the old ETag no longer matches, and the answer is the new data
    after = await get_city(client, headers={"if-none-match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert after.json()["data"]["city"]["population"] == 2_123_456
    assert (await get_city(client, headers={"if-none-match": after.headers["etag"]})
            ).status_code == 304


async def test_a_refused_write_leaves_the_etag_as_it_was(
        cached: tuple[httpx.AsyncClient, str]) -> None:
    client, token = cached
    before = await get_city(client)

    refused = await client.post("/graphql", json={
        "query": UPDATE_CITY, "variables": {"id": before.json()["data"]["city"]["id"],
                                            "population": -1}},
        headers={"authorization": f"Bearer {token}"})

    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await get_city(client, headers={"if-none-match": before.headers["etag"]})
            ).status_code == 304


async def test_a_request_with_a_token_is_private_no_store(
        cached: tuple[httpx.AsyncClient, str]) -> None:
    client, token = cached
    anonymous = (await get_city(client)).headers["etag"]

    response = await get_city(client, headers={"authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"
    # an anonymous ETag is not the token holder's: the answer is sent in full
    again = await get_city(client, headers={"authorization": f"Bearer {token}",
                                            "if-none-match": anonymous})
    assert again.status_code == 200 and again.headers["cache-control"] == "private, no-store"


@pytest.mark.parametrize("request_args", [
    {"method": "POST", "json": {"query": CITY, "variables": {"name": "hai phong"}}},
    {"method": "GET", "params": {"query": "{ city(name: \"hai phong\") { nope } }"}},
], ids=["post", "get-with-errors"])
async def test_posts_and_answers_with_errors_are_not_cached(
        cached: tuple[httpx.AsyncClient, str], request_args: dict[str, Any]) -> None:
    client, _ = cached

    response = await client.request(url="/graphql", **request_args)

    assert "etag" not in response.headers
    assert "public" not in response.headers.get("cache-control", "")
