"""A query POSTed as JSON that the compiled path has planned skips Strawberry's generic
request parsing (server.py, GraphQLApp._compiled_post). Its answers must be those of the
usual way, headers included; a request with `"extensions": {}` takes the usual way, so
each case is sent both ways and compared."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from citylinks.auth import create_token
from citylinks.settings import Settings

from tests.conftest import running_app

CITY = "query ($name: String!) { city(name: $name) { name partners(first: 5) { nodes { kind } } } }"
SAME_HEADERS = ("content-type", "cache-control", "x-ratelimit-limit", "x-ratelimit-remaining")

CASES: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("compiled query", {"query": CITY, "variables": {"name": "Da Nang"}}, {}),
    ("with an operation name", {"query": "query A { sectors { slug } } query B { countries "
                                "{ code } }", "operationName": "B"}, {}),
    ("graphql-response+json", {"query": CITY, "variables": {"name": "Hai Phong"}},
     {"accept": "application/graphql-response+json"}),
    ("a variable of the wrong type", {"query": CITY, "variables": {"name": 5}},
     {"accept": "application/graphql-response+json"}),
    ("a missing variable", {"query": CITY, "variables": {}}, {}),
    ("an ambiguous name (an error from the store)", {"query": CITY,
                                                     "variables": {"name": "Kyoto"}}, {}),
]


@pytest.fixture
async def app_client(db_url: str) -> Any:
    async with running_app(Settings(db_url=db_url, rate_limit=1000)) as pair:
        yield pair


def _fast_lane_answers(app: Any) -> list[bool]:
    """Records, per request, whether the fast lane answered it."""
    graphql = app.state.graphql
    answered: list[bool] = []
    original = graphql._compiled_post

    async def spy(request: Any) -> Any:
        response = await original(request)
        answered.append(response is not None)
        return response

    graphql._compiled_post = spy
    return answered


async def _both_ways(client: httpx.AsyncClient, body: dict[str, Any],
                     headers: dict[str, str]) -> tuple[httpx.Response, httpx.Response]:
    fast = await client.post("/graphql", json=body, headers=headers)
    usual = await client.post("/graphql", json={**body, "extensions": {}}, headers=headers)
    return fast, usual


@pytest.mark.parametrize("name", [case[0] for case in CASES])
async def test_the_fast_lane_answers_as_the_usual_way(app_client: Any, name: str) -> None:
    app, client = app_client
    _, body, headers = next(case for case in CASES if case[0] == name)
    answered = _fast_lane_answers(app)
    fast, usual = await _both_ways(client, body, headers)
    assert answered[0] is True, "the fast lane did not take a plannable query"
    assert answered[1] is False
    assert fast.status_code == usual.status_code
    assert fast.json() == usual.json()
    for header in SAME_HEADERS:
        if header == "x-ratelimit-remaining":  # one request later
            assert int(fast.headers[header]) == int(usual.headers[header]) + 1
        else:
            assert fast.headers.get(header) == usual.headers.get(header), header


async def test_the_fast_lane_leaves_mutations_and_other_media_types_alone(
        app_client: Any) -> None:
    app, client = app_client
    answered = _fast_lane_answers(app)
    async with app.state.db.write() as session:
        _, token = await create_token(session, "editor")
    mutation = ('mutation { createCity(input: {name: "Sekong", level: PROVINCE, '
                'country: "LA"}) { name } }')
    created = await client.post("/graphql", json={"query": mutation},
                                headers={"authorization": f"Bearer {token}"})
    assert created.json()["data"]["createCity"]["name"] == "Sekong"
    as_text = await client.post("/graphql", content='{"query": "{ sectors { slug } }"}',
                                headers={"content-type": "text/plain"})
    assert as_text.status_code in (400, 415)
    batch = await client.post("/graphql", json=[{"query": "{ sectors { slug } }"}])
    assert batch.status_code == 400
    assert answered == [False, False, False]


async def test_the_fast_lane_counts_against_the_rate_limit(db_url: str) -> None:
    async with running_app(Settings(db_url=db_url, rate_limit=2)) as (app, client):
        answered = _fast_lane_answers(app)
        body = {"query": CITY, "variables": {"name": "Da Nang"}}
        statuses = [(await client.post("/graphql", json=body)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert answered == [True, True, True]
        refused = await client.post("/graphql", json={**body, "extensions": {}})
        assert refused.status_code == 429
