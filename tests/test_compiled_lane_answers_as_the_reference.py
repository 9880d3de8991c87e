"""Behind the one front door (frontdoor.py) two executors answer: the compiled read lane
for a query the planner took, Strawberry's executor for the rest. Over HTTP their
answers are the same, headers included: each case is sent with the compiled lane on and
with it off, and compared."""

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
    # Each way computes its answer: the response cache would give the second the first's.
    async with running_app(Settings(db_url=db_url, rate_limit=1000,
                                    response_cache=False)) as pair:
        yield pair


def _compiled_lane_calls(app: Any) -> list[bool]:
    """Records, per request, whether the door handed it to the compiled lane."""
    compiled = app.state.graphql.compiled
    called: list[bool] = []
    original = compiled.execute_plan
    compiled.enabled = True

    async def spy(*args: Any) -> Any:
        called.append(compiled.enabled)
        return await original(*args) if compiled.enabled else None

    compiled.execute_plan = spy
    return called


async def _both_ways(app: Any, client: httpx.AsyncClient, body: dict[str, Any],
                     headers: dict[str, str]) -> tuple[httpx.Response, httpx.Response]:
    compiled = app.state.graphql.compiled
    fast = await client.post("/graphql", json=body, headers=headers)
    compiled.enabled = False
    try:
        usual = await client.post("/graphql", json=body, headers=headers)
    finally:
        compiled.enabled = True
    return fast, usual


@pytest.mark.parametrize("name", [case[0] for case in CASES])
async def test_the_compiled_lane_answers_as_the_reference(app_client: Any, name: str) -> None:
    app, client = app_client
    _, body, headers = next(case for case in CASES if case[0] == name)
    called = _compiled_lane_calls(app)
    fast, usual = await _both_ways(app, client, body, headers)
    assert called == [True, False], "the compiled lane did not take a plannable query"
    assert fast.status_code == usual.status_code
    assert fast.json() == usual.json()
    for header in SAME_HEADERS:
        if header == "x-ratelimit-remaining":  # one request later
            assert int(fast.headers[header]) == int(usual.headers[header]) + 1
        else:
            assert fast.headers.get(header) == usual.headers.get(header), header


async def test_mutations_and_refused_requests_never_reach_the_compiled_lane(
        app_client: Any) -> None:
    app, client = app_client
    called = _compiled_lane_calls(app)
    async with app.state.db.write() as session:
        _, token = await create_token(session, "editor")
    mutation = ('mutation { createCity(input: {name: "Sekong", level: PROVINCE, '
                'country: "LA"}) { name } }')
    created = await client.post("/graphql", json={"query": mutation},
                                headers={"authorization": f"Bearer {token}"})
    assert created.json()["data"]["createCity"]["name"] == "Sekong"
    as_text = await client.post("/graphql", content='{"query": "{ sectors { slug } }"}',
                                headers={"content-type": "text/plain"})
    assert as_text.status_code == 415
    batch = await client.post("/graphql", json=[{"query": "{ sectors { slug } }"}])
    assert batch.status_code == 400
    assert called == []


async def test_the_compiled_lane_counts_against_the_rate_limit(db_url: str) -> None:
    async with running_app(Settings(db_url=db_url, rate_limit=2)) as (app, client):
        called = _compiled_lane_calls(app)
        body = {"query": CITY, "variables": {"name": "Da Nang"}}
        statuses = [(await client.post("/graphql", json=body)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert called == [True, True], "a rate-limited request reached an executor"
