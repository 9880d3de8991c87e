"""Automatic persisted queries (Apollo's protocol) over GET and POST, shared by every worker."""

from __future__ import annotations

import hashlib
import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from citylinks.settings import Settings

from tests.conftest import LiveServer, running_app

CITY = '{ city(name: "hai phong") { name country { code } } }'
DEEP = "{ cities(first: 1) { nodes { country { cities(first: 1) { nodes { name } } } } } }"


def sha256(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def send(client: httpx.AsyncClient, method: str, digest: str,
               query: str | None = None) -> tuple[int, dict[str, Any]]:
    """One APQ request, as Apollo's clients send it over `method`."""
    if method == "GET":
        params = {"extensions": json.dumps(persisted(digest))}
        if query is not None:
            params["query"] = query
        response = await client.get("/graphql", params=params)
    else:
        body: dict[str, Any] = {"extensions": persisted(digest)}
        if query is not None:
            body["query"] = query
        response = await client.post("/graphql", json=body)
    return response.status_code, response.json()


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_hash_is_not_found_until_its_query_is_sent_then_stands_for_it(
        client: httpx.AsyncClient, method: str) -> None:
    digest = sha256(CITY)

    # the hash alone, never seen: the client is told to send the document
    status, body = await send(client, method, digest)
    assert status == 200 and codes(body) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert "data" not in body

    # the document with its hash: answered, and registered
    status, body = await send(client, method, digest, CITY)
    assert status == 200 and body == {
        "data": {"city": {"name": "Hai Phong", "country": {"code": "VN"}}}}

    # from now on the hash alone is enough
    status, body = await send(client, method, digest)
    assert status == 200 and body["data"]["city"]["name"] == "Hai Phong"


async def test_a_hash_registered_over_post_is_answered_over_get(
        client: httpx.AsyncClient) -> None:
    digest = sha256(CITY)
    await send(client, "POST", digest, CITY)

    status, body = await send(client, "GET", digest)

    assert status == 200 and body["data"]["city"]["name"] == "Hai Phong"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_hash_that_does_not_match_its_query_is_bad_user_input(
        client: httpx.AsyncClient, method: str) -> None:
    wrong = sha256(CITY + " ")

    status, body = await send(client, method, wrong, CITY)

    assert status == 400 and codes(body) == ["BAD_USER_INPUT"]
    # and nothing was registered under either hash
    for digest in (wrong, sha256(CITY)):
        assert codes((await send(client, method, digest))[1]) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_persisted_query_is_still_checked_against_the_query_limits(
        db_url: str) -> None:
    digest = sha256(DEEP)
    # given: a document registered while the limits allowed it
    async with running_app(Settings(db_url=db_url)) as (_, client):
        status, body = await send(client, "POST", digest, DEEP)
        assert status == 200 and "errors" not in body

    # when: a server with a stricter depth limit is sent only its hash
    async with running_app(Settings(db_url=db_url, max_depth=4)) as (_, client):
        _, body = await send(client, "POST", digest)
        _, other = await send(client, "GET", sha256(DEEP + "\n"), DEEP + "\n")

    # then: it is refused exactly as its text would be, and an over-limit document
    # sent with its hash is refused too, and not registered
    assert codes(body) == ["QUERY_TOO_COMPLEX"] and "data" not in body
    assert codes(other) == ["QUERY_TOO_COMPLEX"]
    async with running_app(Settings(db_url=db_url)) as (_, client):
        _, later = await send(client, "POST", sha256(DEEP + "\n"))
    assert codes(later) == ["PERSISTED_QUERY_NOT_FOUND"]


# ---------------------------------------------------------------- several workers


class Connection:
    """One kept-alive HTTP connection to a live server, and the worker process behind it."""

    def __init__(self, server: LiveServer) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
        self.get("/healthz")
        self.worker = server.worker_serving(self.http.sock.getsockname()[1])

    def get(self, path: str) -> tuple[int, Any]:
        self.http.request("GET", path, headers={"accept": "application/json"})
        response = self.http.getresponse()
        return response.status, json.loads(response.read())

    def apq(self, digest: str, query: str | None = None) -> dict[str, Any]:
        params = {"extensions": json.dumps(persisted(digest))}
        if query is not None:
            params["query"] = query
        status, body = self.get(f"/graphql?{urlencode(params)}")
        assert status == 200, body
        return body  # type: ignore[no-any-return]



@pytest.fixture
def two_workers(pg_url: str) -> Iterator[LiveServer]:
    # Several worker processes share one PostgreSQL; SQLite runs in one process.
    db_url = pg_url
    server = LiveServer(db_url, workers=2, env={"CITYLINKS_RATE_LIMIT": "0"}).start()
    yield server
    server.stop()


def test_a_hash_registered_through_one_worker_is_known_to_the_other(
        two_workers: LiveServer) -> None:
    # given: one connection held by each worker
    opened: list[Connection] = []
    try:
        connections: dict[int, Connection] = {}
        while len(connections) < 2 and len(opened) < 40:
            opened.append(connection := Connection(two_workers))
            if connection.worker is not None:
                connections.setdefault(connection.worker, connection)
        assert len(connections) == 2, "could not reach both workers"
        first, second = connections.values()
        _register_through_one_and_ask_the_other(first, second)
    finally:
        for connection in opened:
            connection.http.close()


def _register_through_one_and_ask_the_other(first: Connection, second: Connection) -> None:
    digest = sha256(CITY)
    assert codes(second.apq(digest)) == ["PERSISTED_QUERY_NOT_FOUND"]

    # when: the document is registered through the first worker
    assert first.apq(digest, CITY)["data"]["city"]["name"] == "Hai Phong"

    # then: the second worker, which had never seen it, answers the hash alone
    assert second.apq(digest) == {"data": {"city": {"name": "Hai Phong",
                                                    "country": {"code": "VN"}}}}
    assert first.worker != second.worker
