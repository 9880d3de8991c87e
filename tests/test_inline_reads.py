"""Short SQLite reads run on the event loop's own connection, never past their budget."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from citylinks.db.engine import SQLITE_MMAP_BYTES, configure_sqlite_connection, create_database
from citylinks.db.inline_reads import InlineReader, NotInline
from citylinks.settings import Settings
from sqlalchemy import text

from tests.conftest import fresh_store, running_app

# About a hundred million steps of SQLite's virtual machine: seconds of work.
LONG_STATEMENT = """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
  WHERE i < 100000000) SELECT count(*) FROM n"""
Q1 = """query ($id: ID!) { city(id: $id) { name partners(first: 50) { nodes {
  city { name country { code } } kind since sectors { name } } } } }"""


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "inline.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        connection.execute("INSERT INTO t VALUES (1, 'first')")
    return path


def test_a_short_read_answers_on_the_callers_connection(store: Path) -> None:
    reader = InlineReader(str(store), configure_sqlite_connection, budget_s=60.0)
    try:
        assert reader.fetch("SELECT v, citylinks_b64(v) FROM t WHERE id = :p0",
                            {"p0": 1}) == ("first", "Zmlyc3Q=")
        assert (reader.statements, reader.interrupted) == (1, 0)
    finally:
        reader.close()


def test_a_read_past_its_budget_is_interrupted_and_the_connection_goes_on(
        store: Path) -> None:
    reader = InlineReader(str(store), configure_sqlite_connection, budget_s=0.001)
    try:
        # when a statement runs long past the budget
        with pytest.raises(NotInline) as refused:
            reader.fetch(LONG_STATEMENT, {})
        # then it is interrupted for the reader threads to run, and the next one answers
        assert refused.value.over_budget
        assert reader.interrupted == 1
        assert reader.fetch("SELECT v FROM t WHERE id = 1", {}) == ("first",)
    finally:
        reader.close()


def test_the_next_read_sees_every_commit_made_before_it(store: Path) -> None:
    reader = InlineReader(str(store), configure_sqlite_connection, budget_s=60.0)
    try:
        assert reader.fetch("SELECT v FROM t WHERE id = 1", {}) == ("first",)
        with sqlite3.connect(store) as writer:
            writer.execute("UPDATE t SET v = 'second' WHERE id = 1")
        assert reader.fetch("SELECT v FROM t WHERE id = 1", {}) == ("second",)
    finally:
        reader.close()


def test_the_inline_connection_does_not_write(store: Path) -> None:
    reader = InlineReader(str(store), configure_sqlite_connection, budget_s=60.0)
    try:
        with pytest.raises(sqlite3.OperationalError):
            reader.fetch("UPDATE t SET v = 'x' RETURNING v", {})
    finally:
        reader.close()


async def _city_id(client: Any) -> str:
    body = (await client.post("/graphql", json={
        "query": "{ cities(first: 1, orderBy: {field: PARTNER_COUNT, direction: DESC}) "
                 "{ nodes { id } } }"})).json()
    return str(body["data"]["cities"]["nodes"][0]["id"])


async def test_a_compiled_read_runs_inline_and_answers_as_on_the_reader_threads(
        templates: dict[str, str], tmp_path: Path) -> None:
    url, _ = fresh_store("sqlite", templates, tmp_path)
    async with running_app(Settings(db_url=url, response_cache=False)) as (app, client):
        db = app.state.db
        assert db.inline is not None
        city = await _city_id(client)
        request = {"query": Q1, "variables": {"id": city}}
        # given the answer as the reader threads give it (the inline way refused)
        db.inline.budget_s = -1.0
        db.inline.steps_per_look = 1
        db.inline.close()
        threaded = (await client.post("/graphql", json=request)).json()
        # when the inline way is open again (a new plan: the old one went to the threads)
        # (a budget no loaded machine runs past: the test is of the answers)
        inline = InlineReader(db.inline.path, configure_sqlite_connection, budget_s=60.0)
        db.inline.close()
        db.inline = inline
        app.state.graphql.compiled.gate._accepted.clear()
        answers = [(await client.post("/graphql", json=request)).json() for _ in range(3)]
        # then every answer is the same, and these ran on the event loop's connection
        assert "errors" not in threaded and threaded["data"]["city"]["partners"]["nodes"]
        assert all(answer == threaded for answer in answers)
        assert inline.statements == 3 and inline.interrupted == 0


async def test_a_statement_often_past_the_budget_moves_to_the_reader_threads(
        templates: dict[str, str], tmp_path: Path) -> None:
    url, _ = fresh_store("sqlite", templates, tmp_path)
    async with running_app(Settings(db_url=url, response_cache=False)) as (app, client):
        db = app.state.db
        city = await _city_id(client)
        # given an inline budget that every statement runs past
        db.inline.close()
        db.inline = InlineReader(db.inline.path, configure_sqlite_connection,
                                 budget_s=-1.0, steps_per_look=1)
        request = {"query": Q1, "variables": {"id": city}}
        answers = [(await client.post("/graphql", json=request)).json() for _ in range(8)]
        # then each is answered all the same (by the reader threads), and after six
        # interruptions the statement is no longer tried inline
        assert all("errors" not in a and a == answers[0] for a in answers)
        assert db.inline.interrupted == 6
        assert db.inline.statements == 6


async def test_every_sqlite_connection_reads_through_a_memory_map(store: Path) -> None:
    # the pool's readers and writer, and the event loop's own connection, alike
    database = create_database(f"sqlite+aiosqlite:///{store}")
    try:
        async with database.read() as conn:
            assert await conn.scalar(text("PRAGMA mmap_size")) == SQLITE_MMAP_BYTES
        async with database.write() as session:
            assert (await session.execute(text("PRAGMA mmap_size"))).scalar() == \
                SQLITE_MMAP_BYTES
        assert database.inline is not None
        assert database.inline.fetch("PRAGMA mmap_size", {}) == (SQLITE_MMAP_BYTES,)
    finally:
        await database.dispose()
