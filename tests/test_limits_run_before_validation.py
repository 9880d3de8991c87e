"""The query limits run on the parsed document before validation, and validation itself
runs under a budget: a document over a limit is refused without being validated, and a
document whose validation would be super-linear (a field repeated hundreds of times) is
refused as QUERY_TOO_COMPLEX (`limit: "validation"`) before graphql-core spends half a
second on it. A rate-limited client's document is not even parsed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from citylinks.settings import Settings

from tests.conftest import running_app, uncached

# 3,700 fields: over the cost limit (Q: 1 + 3,700 x ...), and far over validation budget.
WIDE = "{ " + " ".join(["stats { cities }"] * 1850) + " }"
REPEATED_300 = "{ " + " ".join(["stats { cities }"] * 300) + " }"
REPEATED_490 = "{ " + " ".join(["stats { cities }"] * 490) + " }"
SECTORS = "{ sectors { slug } }"


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(db_url=db_url, rate_limit=0, webhook_delivery=False,
                        max_tokens=20_000, max_document_bytes=60_000)
    async with running_app(settings) as (_, http):
        yield http


@pytest.mark.parametrize("document", [REPEATED_300, REPEATED_490],
                         ids=["300 times", "490 times"])
async def test_a_field_repeated_hundreds_of_times_is_refused_before_validation(
        client: httpx.AsyncClient, validations: list[int], document: str) -> None:
    response = await client.post("/graphql", json={"query": uncached(document)})
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == "validation"
    assert error["extensions"]["actual"] > error["extensions"]["maximum"] == 10_000
    assert "over by" in error["message"]
    assert validations == []


async def test_a_document_over_the_cost_limit_is_never_validated(
        client: httpx.AsyncClient, validations: list[int]) -> None:
    over = ("{ cities(first: 100) { nodes { partners(first: 100) { nodes { city { "
            "partners(first: 100) { nodes { kind } } } } } } } }")
    response = await client.post("/graphql", json={"query": uncached(over)})
    [error] = response.json()["errors"]
    assert error["extensions"]["limit"] == "cost"
    assert validations == []


async def test_a_rate_limited_client_gets_429_before_its_document_is_parsed(
        db_url: str, parsed: list[str]) -> None:
    settings = Settings(db_url=db_url, rate_limit=1, webhook_delivery=False,
                        max_tokens=20_000, max_document_bytes=60_000)
    async with running_app(settings) as (_, client):
        first = await client.post("/graphql", json={"query": SECTORS})
        parsed.clear()
        refused = await client.post("/graphql", json={"query": uncached(WIDE)})
    assert first.status_code == 200
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert parsed == []


async def test_a_repeated_refused_document_is_decided_once(
        client: httpx.AsyncClient, parsed: list[str]) -> None:
    document = uncached(REPEATED_300)
    codes = [(await client.post("/graphql", json={"query": document})).json()["errors"][0]
             ["extensions"]["code"] for _ in range(3)]
    assert codes == ["QUERY_TOO_COMPLEX"] * 3
    assert len(parsed) == 1


async def test_a_repeated_accepted_document_is_parsed_and_validated_once(
        client: httpx.AsyncClient, validations: list[int], parsed: list[str]) -> None:
    document = uncached(SECTORS)
    answers = [(await client.post("/graphql", json={"query": document})).json()
               for _ in range(3)]
    get = (await client.get("/graphql", params={"query": document})).json()
    assert all(answer["data"]["sectors"] for answer in [*answers, get])
    assert len(parsed) == 1
    assert validations == [1]
