"""Query limits: each one refuses with QUERY_TOO_COMPLEX, names itself and by how much, and
runs no SQL; the request body's size limit answers 413."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from citylinks.settings import Settings

from tests.conftest import StatementCounter, running_app

# Small limits, so each document below is over exactly one of them.
LIMITS = {"max_depth": 5, "max_cost": 500, "max_aliases": 3, "max_tokens": 200,
          "max_document_bytes": 3_000, "max_body_bytes": 5_000}

# depth 6: cities > nodes > country > cities > nodes > name
DEEP = "{ cities { nodes { country { cities { nodes { name } } } } } }"
# objects count 1, leaves 0: 1 + 100 * (1 + (1 + 100 * (1 + 0))) = 10,201
COSTLY = "{ cities(first: 100) { nodes { partners(first: 100) { nodes { kind } } } } }"
COSTLY_BY_VARIABLE = """
query Pages($first: Int) {
  cities(first: $first) { nodes { partners(first: 100) { nodes { kind } } } }
}"""
ALIASED = "{ a: sectors { slug } b: sectors { slug } c: sectors { slug } d: sectors { slug } }"
MANY_TOKENS = "{ " + "sectors { slug } " * 60 + "}"  # 242 tokens
PADDED = "{ sectors { slug } }" + " " * 3_100  # 3,120 bytes
WITHIN_LIMITS = "{ sectors { slug } }"
NUL_LITERAL = '{ sector(slug: "\\u0000") { name } }'
NUL_VARIABLE = "query City($name: String) { city(name: $name) { name } }"


@pytest.fixture
async def limited(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, StatementCounter]]:
    """The app with small limits (and no rate limit, whose counters may live in the
    database), and a counter of the SQL statements it sends."""
    settings = Settings(db_url=db_url, rate_limit=0, webhook_delivery=False, **LIMITS)
    async with running_app(settings) as (app, client):
        counter = StatementCounter(app.state.db)
        yield client, counter
        counter.close()


def _includes(actual: dict[str, Any], expected: dict[str, Any]) -> bool:
    return {k: actual.get(k) for k in expected} == expected


async def _refusal(client: httpx.AsyncClient, counter: StatementCounter, query: str,
                   variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one error of a refused request, after checking it ran no SQL."""
    counter.reset()
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    assert counter.statements == [], "a refused query reached the database"
    assert "data" not in body or body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    return dict(error)


async def test_a_query_within_every_limit_is_answered(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    client, counter = limited
    response = await client.post("/graphql", json={"query": WITHIN_LIMITS})
    assert response.status_code == 200
    assert response.json()["data"]["sectors"]
    assert counter.count >= 1


async def test_depth_over_limit_is_refused_before_any_sql(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    error = await _refusal(*limited, DEEP)
    assert _includes(error["extensions"], {"limit": "depth", "actual": 6, "maximum": 5})
    assert "depth is 6" in error["message"] and "limit is 5" in error["message"]
    assert "over by 1" in error["message"]


async def test_cost_over_limit_is_refused_before_any_sql(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    error = await _refusal(*limited, COSTLY)
    assert _includes(error["extensions"], {"limit": "cost", "actual": 10_201, "maximum": 500})
    assert "over by 9,701" in error["message"]


async def test_cost_counts_a_page_size_given_by_a_variable(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    # given: the same document is cheap with 2 cities a page and too costly with 50
    client, counter = limited
    small = await client.post("/graphql", json={"query": COSTLY_BY_VARIABLE,
                                                "variables": {"first": 2}})
    assert "errors" not in small.json()
    # then
    error = await _refusal(client, counter, COSTLY_BY_VARIABLE, {"first": 50})
    assert _includes(error["extensions"], {"limit": "cost", "actual": 5_101, "maximum": 500})
    assert "over by 4,601" in error["message"]


async def test_aliases_over_limit_are_refused_before_any_sql(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    error = await _refusal(*limited, ALIASED)
    assert _includes(error["extensions"], {"limit": "aliases", "actual": 4, "maximum": 3})
    assert "over by 1" in error["message"]


async def test_tokens_over_limit_are_refused_before_any_sql(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    error = await _refusal(*limited, MANY_TOKENS)
    assert _includes(error["extensions"], {"limit": "tokens", "actual": 242, "maximum": 200})
    assert "over by 42" in error["message"]


async def test_document_size_over_limit_is_refused_before_any_sql(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    error = await _refusal(*limited, PADDED)
    assert _includes(error["extensions"], {"limit": "documentSize", "actual": 3_120,
                                        "maximum": 3_000})
    assert "over by 120" in error["message"]


async def test_a_limit_refuses_over_get_too(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    client, counter = limited
    counter.reset()
    response = await client.get("/graphql", params={"query": DEEP})
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == "depth"
    # The HTTP cache reads the data version for a GET's ETag (httpcache.py); the
    # refused query itself runs nothing.
    assert [s for s in counter.statements if "store_state" not in s] == []


async def test_a_body_over_limit_is_413_with_its_size(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    client, counter = limited
    counter.reset()
    body = b'{"query": "{ sectors { slug } }", "variables": {"pad": "' + b"x" * 6_000 + b'"}}'
    response = await client.post("/graphql", content=body,
                                 headers={"content-type": "application/json"})
    assert response.status_code == 413
    [error] = response.json()["errors"]
    assert _includes(error["extensions"], {"code": "QUERY_TOO_COMPLEX", "limit": "bodySize",
                                        "actual": len(body), "maximum": 5_000})
    assert f"over by {len(body) - 5_000:,}" in error["message"]
    assert counter.statements == []


async def test_a_streamed_body_without_length_is_cut_off_at_the_limit(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    # given: a chunked body, so no Content-Length announces its size
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ sectors { slug } }", "variables": {"pad": "'
        for _ in range(10):
            yield b"x" * 1_000
        yield b'"}}'

    client, counter = limited
    counter.reset()
    response = await client.post("/graphql", content=chunks(),
                                 headers={"content-type": "application/json"})
    assert response.status_code == 413
    [error] = response.json()["errors"]
    assert error["extensions"]["limit"] == "bodySize"
    assert "at least" in error["message"]
    assert counter.statements == []


async def test_text_with_a_nul_character_is_bad_user_input_not_an_internal_error(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    # PostgreSQL cannot hold U+0000 in text: found by the fuzz test (tests/test_fuzz.py)
    client, counter = limited
    counter.reset()
    literal = (await client.post("/graphql", json={"query": NUL_LITERAL})).json()
    variable = (await client.post("/graphql", json={"query": NUL_VARIABLE,
                                                    "variables": {"name": "Hu\x00e"}})).json()
    for body in (literal, variable):
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "NUL" in error["message"]
    assert counter.statements == []


def test_the_default_limits_admit_the_introspection_query_graphiql_sends() -> None:
    from citylinks.schema import build_schema
    from graphql import get_introspection_query

    schema = build_schema(Settings())
    result = schema.execute_sync(get_introspection_query(descriptions=True))
    assert result.errors is None
