"""A client's mistake is answered as the client's: a body that is JSON but not an operation,
a field of the wrong type, JSON nested a thousand deep, invalid UTF-8, a lone surrogate,
a subscription by POST or GET. Each is a 4xx with BAD_USER_INPUT and a message saying
what is wrong; nothing is logged as an internal error."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from citylinks.settings import Settings

from tests.conftest import running_app

SECTORS = "{ sectors { slug } }"
CITY_BY_NAME = "query ($name: String!) { city(name: $name) { name } }"
SUBSCRIPTION = "subscription { partnershipChanged { action } }"
NESTED_1000 = b'{"query": "{ sectors { slug } }", "variables": {"a": ' + b"[" * 1000 \
    + b"]" * 1000 + b"}}"

BODIES: list[tuple[str, bytes, str]] = [
    ("a JSON string", b'"just a string"', "got a string"),
    ("JSON null", b"null", "got null"),
    ("a JSON number", b"5", "got a number"),
    ("operationName as an array",
     b'{"query": "{ sectors { slug } }", "operationName": ["a"]}',
     "`operationName` must be a string"),
    ("variables as a string", b'{"query": "{ sectors { slug } }", "variables": "x"}',
     "`variables` must be an object"),
    ("JSON nested a thousand deep", b"[" * 1000 + b"]" * 1000, "Batching"),
    ("variables nested a thousand deep", NESTED_1000, "nest deeper than"),
    ("invalid UTF-8", b'{"query": "{ sectors { slug } }\xff"}', "not JSON"),
    ("a lone surrogate in a variable",
     b'{"query": "query ($name: String!) { city(name: $name) { name } }", '
     b'"variables": {"name": "\\ud800"}}', "not JSON"),
    ("not JSON at all", b"{query", "not JSON"),
]


@pytest.fixture
async def app_client(db_url: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async with running_app(Settings(db_url=db_url, rate_limit=0)) as pair:
        yield pair


@pytest.mark.parametrize("name", [body[0] for body in BODIES])
async def test_a_malformed_body_is_a_400_bad_user_input_that_says_what_is_wrong(
        app_client: tuple[Any, httpx.AsyncClient], caplog: pytest.LogCaptureFixture,
        name: str) -> None:
    _, client = app_client
    _, body, says = next(b for b in BODIES if b[0] == name)
    with caplog.at_level(logging.WARNING):
        response = await client.post("/graphql", content=body,
                                     headers={"content-type": "application/json"})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert says in error["message"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_subscription_over_http_is_refused_as_the_clients_mistake(
        app_client: tuple[Any, httpx.AsyncClient], caplog: pytest.LogCaptureFixture,
        method: str) -> None:
    _, client = app_client
    with caplog.at_level(logging.WARNING):
        if method == "POST":
            response = await client.post("/graphql", json={"query": SUBSCRIPTION})
        else:
            response = await client.get("/graphql", params={"query": SUBSCRIPTION})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "WebSocket" in error["message"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_lone_surrogate_in_a_get_variable_is_the_clients_mistake(
        app_client: tuple[Any, httpx.AsyncClient], caplog: pytest.LogCaptureFixture) -> None:
    _, client = app_client
    with caplog.at_level(logging.WARNING):
        response = await client.get("/graphql", params={
            "query": CITY_BY_NAME, "variables": '{"name": "\\ud800"}'})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
