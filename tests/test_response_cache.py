"""Answers of compiled reads from memory (responsecache.py): what a hit costs, what is kept
and dropped, and that no worker ever answers from memory what a committed write changed."""

from __future__ import annotations

import asyncio
import http.client
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from citylinks.auth import create_token
from citylinks.responsecache import ByteLRU, Entry, NextRead
from citylinks.settings import Settings

from tests.conftest import LiveServer, StatementCounter, fresh_store, gql, running_app

CITY = "query ($id: ID!) { city(id: $id) { name localName partners(first: 3) { nodes { kind } } } }"
CITY_ID_BY_NAME = 'query ($name: String!) { city(name: $name) { id } }'
RENAME = """mutation ($id: ID!, $name: String!) { updateCity(id: $id, input: {localName: $name}) {
  localName } }"""


# ---------------------------------------------------------------- the parts alone


def test_the_least_recently_used_answers_go_first_when_the_bytes_run_out() -> None:
    lru = ByteLRU(max_bytes=300)
    for key in "abc":
        lru.put(key, Entry(1, b"x", 100))
    assert lru.get("a") is not None  # a is now the most recently used
    lru.put("d", Entry(1, b"x", 100))
    assert lru.get("b") is None and lru.evictions == 1
    assert [k for k in "acd" if lru.get(k) is not None] == ["a", "c", "d"]
    assert lru.bytes == 300
    lru.put("e", Entry(1, b"x", 250))  # room for it alone: three go
    assert len(lru) == 1 and lru.bytes == 250 and lru.evictions == 4
    lru.put("f", Entry(1, b"x", 301))  # larger than the whole cache: not kept
    assert lru.get("f") is None and lru.bytes == 250


async def test_concurrent_version_reads_share_one_that_started_after_each_caller() -> None:
    started: list[int] = []
    release = asyncio.Event()

    async def read() -> int:
        started.append(len(started))
        await release.wait()
        release.clear()
        return len(started)

    shared = NextRead(read)
    # given a read under way, and two callers that arrive while it runs
    first = asyncio.ensure_future(shared())
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(shared()) for _ in range(2)]
    await asyncio.sleep(0)
    assert len(started) == 1
    release.set()
    # then the first caller gets the read under way, the later ones the next read (begun
    # after they came), and the two of them share it
    assert await first == 1
    await asyncio.sleep(0)
    assert len(started) == 2
    release.set()
    assert [await f for f in later] == [2, 2]


# ---------------------------------------------------------------- in one process


def _settings(db_url: str, **overrides: Any) -> Settings:
    # No webhook loop: its polls would count among the statements of a request.
    return Settings(db_url=db_url, rate_limit=0, webhook_delivery=False, **overrides)


@pytest.fixture
async def app_client(db_url: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async with running_app(_settings(db_url)) as pair:
        yield pair


async def _editor_headers(app: Any, role: str = "editor") -> dict[str, str]:
    async with app.state.db.write() as session:
        _, token = await create_token(session, role, "response cache tests")
    return {"authorization": f"Bearer {token}"}


async def _city_id(client: httpx.AsyncClient, name: str) -> str:
    body = await gql(client, CITY_ID_BY_NAME, {"name": name})
    return str(body["data"]["city"]["id"])


async def test_a_cached_answer_costs_only_the_version_check(
        app_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_client
    cache = app.state.graphql.compiled.response_cache
    postgres = app.state.db.dialect == "postgresql"
    hai_phong = await _city_id(client, "Hai Phong")
    counter = StatementCounter(app.state.db)
    try:
        # when the same read is asked twice
        before = cache.stats()
        first = await gql(client, CITY, {"id": hai_phong})
        miss = list(counter.statements)
        counter.reset()
        second = await gql(client, CITY, {"id": hai_phong})
        hit = list(counter.statements)
    finally:
        counter.close()
    after = cache.stats()
    # then the second answer is the first, from memory
    assert first["data"]["city"]["name"] == "Hai Phong"
    assert second == first
    assert (after["misses"] - before["misses"], after["hits"] - before["hits"]) == (1, 1)
    # and the miss was one statement: on PostgreSQL it read the version too (a column of
    # its own, from the same snapshot), on SQLite the version is read apart (below)
    assert len(miss) == 1
    assert ("store_state" in miss[0]) is postgres
    # and the hit cost the version check alone: on PostgreSQL one statement, on SQLite
    # none through the pool (PRAGMA data_version on the cache's own connection)
    if postgres:
        assert len(hit) == 1 and "store_state" in hit[0] and "places" not in hit[0]
    else:
        assert hit == []
    assert after["version_reads"] - before["version_reads"] == (1 if postgres else 2)


async def test_a_write_makes_the_next_read_a_miss_with_the_new_answer(
        app_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_client
    cache = app.state.graphql.compiled.response_cache
    editor = await _editor_headers(app)
    da_nang = await _city_id(client, "Da Nang")
    for round_ in range(3):
        await gql(client, CITY, {"id": da_nang})
        hits = cache.hits
        assert (await gql(client, CITY, {"id": da_nang}))["data"]["city"]["localName"] \
            != f"Đà Nẵng {round_}"
        assert cache.hits == hits + 1
        # when a write commits
        written = await gql(client, RENAME, {"id": da_nang, "name": f"Đà Nẵng {round_}"},
                            headers=editor)
        assert "errors" not in written, written
        # then the next read is computed afresh
        misses = cache.misses
        answer = await gql(client, CITY, {"id": da_nang})
        assert answer["data"]["city"]["localName"] == f"Đà Nẵng {round_}"
        assert cache.misses == misses + 1


async def test_an_answer_is_kept_per_role(app_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_client
    cache = app.state.graphql.compiled.response_cache
    reader = await _editor_headers(app, role="reader")
    kitakyushu = await _city_id(client, "Kitakyushu")
    # given an anonymous viewer's answer in memory
    await gql(client, CITY, {"id": kitakyushu})
    hits, misses = cache.hits, cache.misses
    # when a reader's token asks the same, it is not served the anonymous answer
    await gql(client, CITY, {"id": kitakyushu}, headers=reader)
    assert (cache.hits, cache.misses) == (hits, misses + 1)
    # and each role then has its own
    await gql(client, CITY, {"id": kitakyushu}, headers=reader)
    await gql(client, CITY, {"id": kitakyushu})
    assert (cache.hits, cache.misses) == (hits + 2, misses + 1)


async def test_metrics_show_the_hit_rate_and_the_setting_turns_the_cache_off(
        db_url: str) -> None:
    async with running_app(_settings(db_url)) as (app, client):
        hai_phong = await _city_id(client, "Hai Phong")
        for _ in range(4):
            await gql(client, CITY, {"id": hai_phong})
        text = (await client.get("/metrics")).text
        assert "citylinks_response_cache_hits_total" in text
        ratio = next(line for line in text.splitlines()
                     if line.startswith("citylinks_response_cache_hit_ratio{"))
        # the lookup by name, then one miss and three hits
        assert float(ratio.rsplit(" ", 1)[1]) == pytest.approx(3 / 5)
    async with running_app(_settings(db_url, response_cache=False)) as (app, client):
        assert app.state.graphql.compiled.response_cache is None
        await gql(client, CITY, {"id": hai_phong})
        assert "citylinks_response_cache" not in (await client.get("/metrics")).text


@pytest.fixture
def sqlite_url(templates: dict[str, str], tmp_path: Path) -> Iterator[str]:
    url, cleanup = fresh_store("sqlite", templates, tmp_path)
    yield url
    cleanup()


async def test_sqlite_sees_any_connections_commit_even_one_that_leaves_the_version(
        sqlite_url: str) -> None:
    # PRAGMA data_version moves on every commit by another connection, in any process: a
    # change written by a tool that knows nothing of store_state still reaches readers.
    async with running_app(_settings(sqlite_url)) as (_app, client):
        da_nang = await _city_id(client, "Da Nang")
        path = sqlite_url.split(":///", 1)[1]
        for round_ in range(5):
            await gql(client, CITY, {"id": da_nang})
            await gql(client, CITY, {"id": da_nang})
            with sqlite3.connect(path) as outside:
                outside.execute("UPDATE places SET local_name = ? WHERE name = 'Da Nang'",
                                (f"outside {round_}",))
            answer = await gql(client, CITY, {"id": da_nang})
            assert answer["data"]["city"]["localName"] == f"outside {round_}"


# ---------------------------------------------------------------- two workers, a real socket



class Connection:
    """One keep-alive connection, so one worker."""

    def __init__(self, server: LiveServer) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
        self.http.request("GET", "/healthz")
        self.http.getresponse().read()
        self.worker = server.worker_serving(self.http.sock.getsockname()[1])

    def post(self, query: str, variables: dict[str, Any],
             headers: dict[str, str] | None = None) -> dict[str, Any]:
        self.http.request("POST", "/graphql", json.dumps(
            {"query": query, "variables": variables}),
            {"content-type": "application/json", **(headers or {})})
        response = self.http.getresponse()
        body: dict[str, Any] = json.loads(response.read())
        assert "errors" not in body, body
        return body

    def cache_hits(self) -> int:
        self.http.request("GET", "/metrics")
        text = self.http.getresponse().read().decode()
        line = next(line for line in text.splitlines()
                    if line.startswith("citylinks_response_cache_hits_total{"))
        return int(line.rsplit(" ", 1)[1])


def _token(db_url: str) -> str:
    from citylinks.db.engine import create_database

    async def make() -> str:
        database = create_database(db_url)
        try:
            async with database.write() as session:
                return (await create_token(session, "editor", "two workers"))[1]
        finally:
            await database.dispose()

    return asyncio.run(make())


def test_after_a_write_through_one_worker_the_other_answers_anew(pg_url: str) -> None:
    token = _token(pg_url)
    editor = {"authorization": f"Bearer {token}"}
    server = LiveServer(pg_url, workers=2, env={"CITYLINKS_RATE_LIMIT": "0",
                                                "CITYLINKS_WEBHOOK_DELIVERY": "0"}).start()
    opened: list[Connection] = []
    try:
        connections: dict[int, Connection] = {}
        while len(connections) < 2 and len(opened) < 40:
            opened.append(connection := Connection(server))
            if connection.worker is not None:
                connections.setdefault(connection.worker, connection)
        assert len(connections) == 2, "could not reach both workers"
        one, other = connections.values()
        city = one.post(CITY_ID_BY_NAME, {"name": "Le Havre"})["data"]["city"]["id"]
        hits_before = other.cache_hits()
        for round_ in range(30):
            writer, reader = (one, other) if round_ % 2 == 0 else (other, one)
            # given the reader's answer in its memory (a hit the second time)
            reader.post(CITY, {"id": city})
            reader.post(CITY, {"id": city})
            # when the writer's worker commits a change and acknowledges it
            name = f"Le Havre {round_}"
            assert writer.post(RENAME, {"id": city, "name": name}, editor)[
                "data"]["updateCity"]["localName"] == name
            # then the other worker's very next answer is the new one
            assert reader.post(CITY, {"id": city})["data"]["city"]["localName"] == name
        # and it did answer from memory in between
        assert other.cache_hits() >= hits_before + 15
    finally:
        for connection in opened:
            connection.http.close()
        server.stop()
