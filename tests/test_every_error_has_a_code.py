"""Every error answers with `extensions.code`, in a GraphQL response of the media type the
client accepts: a syntax error is GRAPHQL_PARSE_FAILED, and the refusals of the transport
(batching, a mutation over GET, an unsupported content type, another method) are GraphQL
JSON with BAD_USER_INPUT, not plain text. (Over WebSocket:
test_sockets_follow_the_rules_of_http.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from citylinks.settings import Settings

from tests.conftest import running_app

SYNTAX_ERROR = "{ sectors { slug }"
SECTORS = "{ sectors { slug } }"
MUTATION = 'mutation { deleteCity(id: "Q2l0eTox") }'
GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(Settings(db_url=db_url, rate_limit=0)) as (_, http):
        yield http


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_a_syntax_error_is_graphql_parse_failed(client: httpx.AsyncClient,
                                                      accept: str) -> None:
    posted = await client.post("/graphql", json={"query": SYNTAX_ERROR},
                               headers={"accept": accept})
    got = await client.get("/graphql", params={"query": SYNTAX_ERROR},
                           headers={"accept": accept})
    for response in (posted, got):
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
        assert error["locations"] == [{"line": 1, "column": 19}]
        assert response.status_code == (400 if accept == GRAPHQL_RESPONSE else 200)


def _request(kind: str) -> dict[str, Any]:
    return {
        "batch": {"method": "POST", "json": [{"query": SECTORS}, {"query": SECTORS}]},
        "mutation over GET": {"method": "GET", "params": {"query": MUTATION}},
        "unsupported content type": {"method": "POST", "content": SECTORS,
                                     "headers": {"content-type": "application/graphql"}},
        "no content type": {"method": "POST", "content": '{"query": "{ sectors { slug } }"}'},
        "PUT": {"method": "PUT", "json": {"query": SECTORS}},
        "no query": {"method": "POST", "json": {"variables": {}}},
    }[kind]


@pytest.mark.parametrize(("kind", "status"), [
    ("batch", 400), ("mutation over GET", 405), ("unsupported content type", 415),
    ("no content type", 415), ("PUT", 405), ("no query", 400)])
@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_a_refusal_of_the_transport_is_a_coded_graphql_response(
        client: httpx.AsyncClient, kind: str, status: int, accept: str) -> None:
    request = _request(kind)
    headers = {"accept": accept, **request.pop("headers", {})}
    response = await client.request(request.pop("method"), "/graphql", headers=headers,
                                    **request)
    assert response.status_code == status
    assert response.headers["content-type"].startswith(accept)
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"]


async def test_the_405_answer_advertises_only_the_methods_that_work(
        client: httpx.AsyncClient) -> None:
    put = await client.put("/graphql", json={"query": SECTORS})
    allowed = {m.strip() for m in put.headers["allow"].split(",")}
    assert allowed == {"GET", "POST"}
    head = await client.head("/graphql", params={"query": SECTORS})
    assert head.status_code == 405
