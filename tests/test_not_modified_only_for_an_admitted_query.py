"""A 304 answers only a GET whose query the front door admitted: `If-None-Match: *` never
turns a mutation, a syntax error or an over-limit document into 304; a 304 still counts
against the rate limit; a refused GET document reads no data version (no SQL at all); the
logged operation name is cut short."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from citylinks.settings import Settings

from tests.conftest import StatementCounter, running_app

SECTORS = "{ sectors { slug } }"
MUTATION = 'mutation { deleteCity(id: "Q2l0eTox") }'
SYNTAX_ERROR = "{ sectors { slug }"
OVER_COST = ("{ cities(first: 100) { nodes { partners(first: 100) { nodes { city { "
             "partners(first: 100) { nodes { kind } } } } } } } }")
UNKNOWN_FIELD = "{ sectors { colour } }"


@pytest.fixture
async def app_client(db_url: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async with running_app(Settings(db_url=db_url, rate_limit=0,
                                    webhook_delivery=False)) as pair:
        yield pair


@pytest.mark.parametrize("document", [MUTATION, SYNTAX_ERROR, OVER_COST, UNKNOWN_FIELD],
                         ids=["mutation", "syntax error", "over a limit", "invalid"])
async def test_if_none_match_star_never_answers_304_for_a_refused_document(
        app_client: tuple[Any, httpx.AsyncClient], document: str) -> None:
    app, client = app_client
    counter = StatementCounter(app.state.db)
    try:
        response = await client.get("/graphql", params={"query": document},
                                    headers={"if-none-match": "*"})
        statements = list(counter.statements)
    finally:
        counter.close()
    assert response.status_code != 304
    assert response.json()["errors"][0]["extensions"]["code"]
    assert statements == [], "a refused GET read the data version"


async def test_if_none_match_star_answers_304_for_an_admitted_query(
        app_client: tuple[Any, httpx.AsyncClient]) -> None:
    _, client = app_client
    response = await client.get("/graphql", params={"query": SECTORS},
                                headers={"if-none-match": "*"})
    assert response.status_code == 304


async def test_a_304_counts_against_the_rate_limit(db_url: str) -> None:
    async with running_app(Settings(db_url=db_url, rate_limit=3,
                                    webhook_delivery=False)) as (_, client):
        etag = (await client.get("/graphql", params={"query": SECTORS})).headers["etag"]
        statuses = [(await client.get("/graphql", params={"query": SECTORS},
                                      headers={"if-none-match": etag})).status_code
                    for _ in range(3)]
    assert statuses == [304, 304, 429]


async def test_the_logged_operation_name_is_cut_short(
        app_client: tuple[Any, httpx.AsyncClient], caplog: pytest.LogCaptureFixture) -> None:
    _, client = app_client
    name = "A" * 5_000
    with caplog.at_level(logging.INFO, logger="citylinks.requests"):
        await client.post("/graphql", json={"query": f"query {name} {{ sectors {{ slug }} }}",
                                            "operationName": name})
    [line] = [json.loads(r.getMessage()) for r in caplog.records
              if r.name == "citylinks.requests"]
    assert line["operationName"].startswith("AAAA")
    assert len(line["operationName"]) <= 101
