"""The GraphQL clients citylinks' users have, run against a started server on SQLite and
PostgreSQL: graphql-ws (node) subscribing while writes go over HTTP, Apollo Client 4 with
the README's cache paging through every connection both ways, Python gql 4 over its
websockets transport, and GraphQL Code Generator + `tsc` on a frontend's queries set up as
the README says. The node clients are pinned in tests/clients/package-lock.json."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from citylinks.auth import create_token
from citylinks.db.engine import create_database

from tests.builders import load
from tests.conftest import REPO, LiveServer, fresh_store
from tests.paging_world import connection_cases, dig, paging_world

CLIENTS = Path(__file__).resolve().parent / "clients"
FRONTEND = CLIENTS / "frontend"


@pytest.fixture(scope="session")
def node_clients() -> Path:
    """`npm ci` of the pinned clients into the git-ignored node_modules, once per checkout
    (or lock change), never per test."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed to run the real GraphQL clients")
    installed = CLIENTS / "node_modules" / ".package-lock.json"
    lock = CLIENTS / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        run = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                             cwd=CLIENTS, capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            pytest.skip(f"could not install the clients from the npm registry: {run.stderr}")
    return CLIENTS


class World:
    """A started server on the paging world, with an editor's token and the ids tests use."""

    def __init__(self, server: LiveServer, token: str) -> None:
        self.server = server
        self.url = f"{server.url}/graphql"
        self.token = token

    def query(self, document: str, variables: dict[str, Any] | None = None) -> Any:
        response = httpx.post(self.url, json={"query": document, "variables": variables or {}},
                              headers={"authorization": f"Bearer {self.token}"}, timeout=30)
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def place(self, name: str) -> str:
        return str(self.query("query ($n: String!) { city(name: $n, country: \"NR\") { id } }",
                              {"n": name})["city"]["id"])


async def _prepare(url: str) -> str:
    database = create_database(url)
    try:
        await load(database, paging_world())
        async with database.write() as session:
            _, token = await create_token(session, "editor", "client conformance")
    finally:
        await database.dispose()
    return token


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, templates: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One server per database for the module: the clients only add what they remove."""
    url, cleanup = fresh_store(request.param, templates, tmp_path_factory.mktemp("clients"))
    token = asyncio.run(_prepare(url))
    server = LiveServer(url, env={"CITYLINKS_RATE_LIMIT": "0",
                                  "CITYLINKS_WEBHOOK_DELIVERY": "0"}).start()
    try:
        yield World(server, token)
    finally:
        server.stop()
        cleanup()


def _node(args: list[str], cwd: Path, timeout: float = 120,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **(env or {})})
    assert run.returncode == 0, (
        f"{' '.join(args)} failed ({run.returncode}):\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}")
    return run


def test_graphql_ws_client_receives_the_changes_written_over_http(
        node_clients: Path, world: World) -> None:
    place, other = world.place("Qwerty Town 1"), world.place("Qwerty Town 4")
    run = _node(["node", "subscribe.mjs", world.url, world.token, place, other], node_clients)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    events = [e for e in result["events"] if e["partnershipId"] == result["created"]]
    # then the new partnership's three changes, in order; besides them only the probes
    # (the writes that showed the subscription was live), nothing of another place
    assert [e["action"] for e in events] == ["CREATED", "UPDATED", "DELETED"], result
    assert events[1]["partnership"]["description"] == "seen by graphql-ws"
    assert events[2]["partnership"] is None
    others = {e["partnershipId"] for e in result["events"]} - {result["created"]}
    assert others == {result["probed"]}, result
    assert result["socketErrors"] == []


def test_apollo_client_pages_every_connection_both_ways_with_the_readme_cache(
        node_clients: Path, world: World, tmp_path: Path) -> None:
    cases = []
    for case in connection_cases(world.place("Qwerty Province")):
        whole = dig(world.query(case.document, {**case.variables, "first": 100}), case.path)
        assert len(whole["edges"]) == whole["totalCount"] >= 3, case.name
        cases.append({"name": case.name, "document": case.document, "path": list(case.path),
                      "variables": case.variables,
                      "expected": [edge["node"] for edge in whole["edges"]]})
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps(cases))
    run = _node(["node", "apollo.mjs", world.url, str(cases_file)], node_clients, timeout=240)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["failures"] == []
    # every connection was walked both ways, over more than one page
    assert len(result["walked"]) == 2 * len(cases)
    assert all(walk["pages"] >= 2 for walk in result["walked"]), result["walked"]


async def test_gql_websockets_transport_receives_the_changes_written_over_http(
        world: World) -> None:
    from gql import Client, GraphQLRequest
    from gql.transport.websockets import WebsocketsTransport

    place, other = world.place("Qwerty Town 2"), world.place("Qwerty Town 5")
    probe = world.query("query ($id: ID!) { city(id: $id) { partnerships(first: 1) { "
                        "nodes { id } } } }", {"id": place})["city"]["partnerships"]["nodes"]
    update = ("mutation ($id: ID!, $t: String) { updatePartnership(id: $id, "
              "input: {description: $t}) { id } }")
    transport = WebsocketsTransport(url=world.url.replace("http", "ws", 1))
    received: list[dict[str, Any]] = []
    async with Client(transport=transport) as session:
        subscription = GraphQLRequest(
            "subscription ($city: ID) { partnershipChanged(city: $city) { "
            "action partnershipId partnership { description } } }",
            variable_values={"city": place})

        async def listen() -> None:
            async for result in session.subscribe(subscription):
                received.append(result["partnershipChanged"])

        listener = asyncio.create_task(listen())
        try:
            # the protocol has no "subscribed" answer: probe until the first event arrives
            for n in range(100):
                await asyncio.to_thread(world.query, update, {"id": probe[0]["id"],
                                                              "t": f"probe {n}"})
                await asyncio.sleep(0.1)
                if received:
                    break
            created = await asyncio.to_thread(world.query, (
                "mutation ($a: ID!, $b: ID!) { createPartnership(input: {cities: [$a, $b], "
                "kind: COOPERATION, status: PROPOSED}) { id } }"), {"a": place, "b": other})
            await asyncio.to_thread(world.query, update, {"id": created["createPartnership"]["id"],
                                                          "t": "seen by gql"})
            new_id = created["createPartnership"]["id"]
            for _ in range(150):
                if len([e for e in received if e["partnershipId"] == new_id]) >= 2:
                    break
                await asyncio.sleep(0.1)
        finally:
            listener.cancel()
        if listener.done() and not listener.cancelled() and listener.exception():
            raise AssertionError("the subscription failed") from listener.exception()
    events = [e for e in received if e["partnershipId"] == new_id]
    assert [e["action"] for e in events] == ["CREATED", "UPDATED"], received
    assert events[1]["partnership"]["description"] == "seen by gql"
    assert {e["partnershipId"] for e in received} == {new_id, probe[0]["id"]}, received
    await asyncio.to_thread(world.query, "mutation ($id: ID!) { deletePartnership(id: $id) }",
                            {"id": created["createPartnership"]["id"]})


def _readme_block(first_line: str) -> str:
    """The README's code block that starts with `first_line`."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for block in re.findall(r"```\w*\n(.*?)```", readme, re.S):
        if block.startswith(first_line):
            return str(block)
    raise AssertionError(f"the README has no code block starting with {first_line!r}")


def test_the_clients_use_exactly_the_frontend_set_up_the_readme_shows() -> None:
    assert (CLIENTS / "apollo-cache.mjs").read_text() == _readme_block("// apollo-cache.mjs")
    assert (FRONTEND / "codegen.ts").read_text() == _readme_block("// codegen.ts")


def test_codegen_with_strict_scalars_types_a_frontends_queries_and_tsc_accepts_them(
        node_clients: Path, world: World) -> None:
    generated = FRONTEND / "src" / "gql"
    shutil.rmtree(generated, ignore_errors=True)
    bin_dir = node_clients / "node_modules" / ".bin"
    _node([str(bin_dir / "graphql-codegen"), "--config", "codegen.ts"], FRONTEND,
          env={"CITYLINKS_GRAPHQL_URL": world.url})
    types = (generated / "graphql.ts").read_text()
    assert "PlacePartnersQuery" in types and "PathBetweenQuery" in types
    assert "_Any" not in types
    _node([str(bin_dir / "tsc"), "--noEmit", "-p", "tsconfig.json"], FRONTEND)
