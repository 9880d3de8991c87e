"""The cost limit counts every list, with arguments coerced as execution coerces them: a float
page size (`first: 100.0`, which graphql-core runs as 100) counts 100; `nodes(ids:)` and
`_entities(representations:)` count one object per item; lists without a page size
(`countries`, `sectors`, a partnership's lists) count their documented bound
(schema/limits.py, LIST_BOUNDS)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from citylinks.schema import build_schema
from citylinks.schema.limits import DEFAULT_LIST_BOUND, LIST_BOUNDS, measure
from citylinks.settings import Settings
from graphql import parse

from tests.conftest import StatementCounter, running_app

BY_VARIABLE = """
query Pages($n: Int) {
  cities(first: $n) { nodes { partners(first: $n) { nodes { city {
    partners(first: $n) { nodes { kind } } } } } } }
}"""
NODES = ("query ($ids: [ID!]!) { nodes(ids: $ids) { ... on City { partners(first: 100) { "
         "nodes { kind } } } } }")
COUNTRIES = ("{ countries { cities(first: 100) { nodes { partners(first: 100) { nodes { "
             "kind } } } } } }")
SECTORS = ("{ sectors { partnerships(first: 100) { nodes { milestones { source { title } } } } "
           "} }")
ENTITIES = ('query ($r: [_Any!]!) { _entities(representations: $r) { ... on City { '
            'partners(first: 100) { nodes { kind } } } } }')


@pytest.fixture
async def limited(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, StatementCounter]]:
    # No webhook delivery: its poll, once a second, is a statement no request sent, and
    # counted here it would fail a refusal that reached nothing.
    async with running_app(Settings(db_url=db_url, rate_limit=0,
                                    webhook_delivery=False)) as (app, client):
        counter = StatementCounter(app.state.db)
        yield client, counter
        counter.close()


async def _cost_refusal(client: httpx.AsyncClient, counter: StatementCounter, query: str,
                        variables: dict[str, object] | None = None) -> int:
    counter.reset()
    body = (await client.post("/graphql", json={"query": query,
                                                "variables": variables})).json()
    assert counter.statements == [], "a refused query reached the database"
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == "cost"
    return int(error["extensions"]["actual"])


async def test_a_float_page_size_counts_as_the_integer_it_runs_as(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    client, counter = limited
    as_int = await _cost_refusal(client, counter, BY_VARIABLE, {"n": 100})
    as_float = await _cost_refusal(client, counter, BY_VARIABLE, {"n": 100.0})
    assert as_float == as_int == 1_030_201


async def test_nodes_counts_each_id_it_is_given(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    client, counter = limited
    ids = ["Q2l0eTox"] * 600
    cost = await _cost_refusal(client, counter, NODES, {"ids": ids})
    assert cost == 1 + 600 * (1 + 100 * 1)


async def test_entities_count_each_representation(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    client, counter = limited
    representations = [{"__typename": "City", "id": "Q2l0eTox"}] * 600
    cost = await _cost_refusal(client, counter, ENTITIES, {"r": representations})
    assert cost == 1 + 600 * (1 + 100 * 1)


async def test_lists_without_a_page_size_count_their_bound(
        limited: tuple[httpx.AsyncClient, StatementCounter]) -> None:
    client, counter = limited
    cost = await _cost_refusal(client, counter, COUNTRIES)
    # countries > cities (100) > nodes > partners (100) > nodes: each object 1
    assert cost == 1 + LIST_BOUNDS["countries"] * (1 + 100 * (1 + (1 + 100 * 1)))


def test_every_list_of_a_partnership_counts_the_default_bound() -> None:
    schema = build_schema()
    cost = measure(schema._schema, parse(SECTORS)).cost
    # sectors > partnerships (100) > nodes > milestones > source
    assert cost == 1 + LIST_BOUNDS["sectors"] * (1 + 100 * (1 + (1 + DEFAULT_LIST_BOUND * 1)))


def test_the_default_limits_still_admit_the_benchmark_and_the_explorer_shapes() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from shapes import SHAPES

    schema = build_schema()
    for name, document in SHAPES.items():
        assert measure(schema._schema, parse(document)).cost <= 50_000, name
