"""HTTP surface: GraphQL over GET and POST, GraphiQL, health, SDL, CORS."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import httpx
from citylinks.schema import schema_sdl
from citylinks.settings import Settings

from tests.conftest import running_app

REPO = Path(__file__).resolve().parent.parent


async def test_post_answers_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ sectors { slug } }"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert {"slug": "education"} in response.json()["data"]["sectors"]


async def test_get_answers_a_query(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ sectors { slug } }"})
    assert response.status_code == 200
    assert response.json()["data"]["sectors"]


async def test_a_browser_opening_graphql_gets_graphiql(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_graphiql_loads_its_scripts_and_styles_from_this_server(
        client: httpx.AsyncClient) -> None:
    # GraphiQL must work on a closed network: every asset its page names is served
    # here, and is the very file its integrity hash names.
    page = (await client.get("/graphql", headers={"accept": "text/html"})).text
    assets = re.findall(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"[^>]*>', page)
    assert len(assets) >= 5, assets
    assert not [a for a in assets if not a.startswith(("/", "data:"))], "assets from elsewhere"
    for tag in re.findall(r"<(?:script|link)\b[^>]*>", page):
        address = re.search(r'(?:src|href)="([^"]+)"', tag)
        integrity = re.search(r'integrity="sha384-([^"]+)"', tag)
        if address is None or integrity is None:
            continue
        asset = await client.get(address[1])
        assert asset.status_code == 200, address[1]
        digest = base64.b64encode(hashlib.sha384(asset.content).digest()).decode()
        assert digest == integrity[1], f"{address[1]} is not the file its page names"


async def test_healthz_is_ok_while_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_healthz_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    settings = Settings(db_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
                        migrate_on_start=False)
    async with running_app(settings) as (_, client):
        response = await client.get("/healthz")
    assert response.status_code == 503
    assert "Traceback" not in response.text and "127.0.0.1" not in response.text


async def test_schema_graphql_serves_the_sdl(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema.graphql")
    assert response.status_code == 200
    assert "type City implements Node" in response.text


def test_committed_schema_matches_the_exported_one() -> None:
    committed = (REPO / "schema.graphql").read_text(encoding="utf-8")
    assert committed == schema_sdl(), "run `citylinks schema > schema.graphql` and review the diff"


async def test_cors_allows_any_origin_for_queries(client: httpx.AsyncClient) -> None:
    response = await client.options("/graphql", headers={
        "origin": "https://example.org", "access-control-request-method": "POST"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://example.org")


async def test_a_mutation_over_get_is_refused_with_405(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={
        "query": 'mutation { deletePartnership(id: "UGFydG5lcnNoaXA6MQ==") }'})
    assert response.status_code == 405
