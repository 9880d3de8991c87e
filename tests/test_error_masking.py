"""Error masking: an unexpected exception reaches the client as INTERNAL_SERVER_ERROR with an
id that is in the server log, never with its trace, SQL or paths; one setting turns
introspection and GraphiQL off for production."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from citylinks.settings import Settings

from tests.conftest import LiveServer, fresh_store, running_app

SECTORS = "{ sectors { slug name } }"
INTROSPECTION = "{ __schema { queryType { name } types { name } } }"
TYPE_INTROSPECTION = '{ __type(name: "City") { fields { name } } }'
# What must never reach a client: a trace, SQL, source or database paths, driver names.
LEAKS = re.compile(r"Traceback|SELECT|FROM |sqlite|sqlalchemy|\.py\b|/tmp/|\.db\b|File \"",
                   re.IGNORECASE)


def test_an_unexpected_exception_is_masked_with_an_id_that_is_in_the_server_log(
        templates: dict[str, str], tmp_path: Path) -> None:
    # given: a running server whose store loses a table under it (a bug's stand-in: the
    # driver's error carries the SQL and the database's name)
    url, _ = fresh_store("sqlite", templates, tmp_path)
    server = LiveServer(url, env={"CITYLINKS_WEBHOOK_DELIVERY": "0"}).start()
    try:
        assert "errors" not in httpx.post(f"{server.url}/graphql", json={"query": SECTORS}).json()
        with sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///")) as conn:
            conn.execute("DROP TABLE sectors")
        # when
        response = httpx.post(f"{server.url}/graphql", json={"query": SECTORS})
        time.sleep(0.2)  # the log line is written after the answer
        log = server.output()
    finally:
        server.stop()
    # then: the client gets a code and an id, nothing of the cause
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    error_id = error["extensions"]["errorId"]
    assert re.fullmatch(r"[0-9a-f]{12}", error_id)
    assert error_id in error["message"]
    assert not LEAKS.search(response.text), response.text
    assert "no such table" not in response.text
    # and the server log has the id with the whole story, once
    assert log.count(f"internal error {error_id}") == 1, log
    assert "Traceback" in log and "no such table: sectors" in log
    assert re.search(rf'"errorIds":\["{error_id}"\]', log), "the request's log line names it"


async def test_a_client_error_is_not_masked(templates: dict[str, str], tmp_path: Path) -> None:
    url, _ = fresh_store("sqlite", templates, tmp_path)
    async with running_app(Settings(db_url=url, webhook_delivery=False)) as (_, client):
        body = (await client.post("/graphql", json={"query": "{ sectors { slgu } }"})).json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "slgu" in error["message"]


async def test_introspection_and_graphiql_are_on_by_default(
        templates: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITYLINKS_PRODUCTION", raising=False)
    url, _ = fresh_store("sqlite", templates, tmp_path)
    async with running_app(Settings.from_env(db_url=url)) as (_, client):
        schema = (await client.post("/graphql", json={"query": INTROSPECTION})).json()
        page = await client.get("/graphql", headers={"accept": "text/html"})
    assert schema["data"]["__schema"]["queryType"]["name"] == "Query"
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_the_production_switch_turns_off_introspection_and_graphiql(
        templates: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given: CITYLINKS_PRODUCTION=1 and nothing else
    monkeypatch.setenv("CITYLINKS_PRODUCTION", "1")
    monkeypatch.delenv("CITYLINKS_GRAPHIQL", raising=False)
    monkeypatch.delenv("CITYLINKS_INTROSPECTION", raising=False)
    url, _ = fresh_store("sqlite", templates, tmp_path)
    async with running_app(Settings.from_env(db_url=url)) as (_, client):
        # when
        schema = (await client.post("/graphql", json={"query": INTROSPECTION})).json()
        one_type = (await client.post("/graphql", json={"query": TYPE_INTROSPECTION})).json()
        page = await client.get("/graphql", headers={"accept": "text/html"})
        query = (await client.post("/graphql", json={"query": SECTORS})).json()
    # then
    for body in (schema, one_type):
        assert body.get("data") is None
        assert {e["extensions"]["code"] for e in body["errors"]} == {
            "GRAPHQL_VALIDATION_FAILED"}
        assert "introspection" in body["errors"][0]["message"].lower()
    assert page.status_code == 404 and "graphiql" not in page.text.lower()
    assert query["data"]["sectors"], "queries still work"
