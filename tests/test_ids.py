"""Ids are never reused: a deleted object's id never names another one, on either database,
in databases created before AUTOINCREMENT too."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any

from alembic import command
from citylinks.auth import create_token
from citylinks.db.engine import create_database
from citylinks.db.migrate import alembic_config, upgrade
from citylinks.db.models import Base
from citylinks.settings import Settings
from sqlalchemy import func, select, text

from tests.builders import document, load, partnership, place
from tests.conftest import gql, running_app

CREATE_CITY = """mutation ($name: String!) {
  createCity(input: {name: $name, level: CITY, country: "NR"}) { id } }"""
DELETE_CITY = "mutation ($id: ID!) { deleteCity(id: $id) }"
CREATE_PARTNERSHIP = """mutation ($a: ID!, $b: ID!) {
  createPartnership(input: {cities: [$a, $b], kind: SISTER_CITY, status: ACTIVE}) { id } }"""
DELETE_PARTNERSHIP = "mutation ($id: ID!) { deletePartnership(id: $id) }"


def _key(global_id: str) -> int:
    return int(base64.b64decode(global_id).decode().split(":")[1])


async def _ok(client: Any, headers: dict[str, str], query: str, **variables: Any) -> Any:
    body = await gql(client, query, variables, headers)
    assert "errors" not in body, body
    return body["data"]


async def _delete_newest_then_create(db_url: str) -> None:
    async with running_app(Settings(db_url=db_url)) as (app, client):
        async with app.state.db.write() as session:
            _, token = await create_token(session, "editor", "id tests")
        headers = {"authorization": f"Bearer {token}"}
        # given the newest city and the newest partnership, deleted
        a = (await _ok(client, headers, CREATE_CITY, name="Yaren Alpha"))["createCity"]["id"]
        b = (await _ok(client, headers, CREATE_CITY, name="Yaren Beta"))["createCity"]["id"]
        link = (await _ok(client, headers, CREATE_PARTNERSHIP, a=a, b=b))["createPartnership"]
        await _ok(client, headers, DELETE_PARTNERSHIP, id=link["id"])
        await _ok(client, headers, DELETE_CITY, id=b)
        # when the next ones are created
        c = (await _ok(client, headers, CREATE_CITY, name="Yaren Gamma"))["createCity"]["id"]
        again = (await _ok(client, headers, CREATE_PARTNERSHIP, a=a, b=c))["createPartnership"]
        # then each gets an id never given before
        assert _key(c) > _key(b)
        assert _key(again["id"]) > _key(link["id"])


async def test_a_deleted_objects_id_is_never_given_to_the_next_one(db_url: str) -> None:
    await _delete_newest_then_create(db_url)


async def test_imported_rows_leave_the_sequences_ahead_of_every_id(db_url: str) -> None:
    # given rows loaded through the importer (as the bundled data set is)
    database = create_database(db_url)
    try:
        await load(database, document([place("x", "Yaren Import 1", "NR"),
                                       place("y", "Yaren Import 2", "NR")],
                                      [partnership("x", "y")]))
        async with database.read() as conn:
            highest = {table: (await conn.execute(
                select(func.max(Base.metadata.tables[table].c.id)))).scalar_one()
                for table in ("places", "partnerships")}
    finally:
        await database.dispose()
    # then a write after them gets an id above every imported one
    async with running_app(Settings(db_url=db_url)) as (app, client):
        async with app.state.db.write() as session:
            _, token = await create_token(session, "editor", "id tests")
        created = await _ok(client, {"authorization": f"Bearer {token}"}, CREATE_CITY,
                            name="Yaren After")
        assert _key(created["createCity"]["id"]) > highest["places"]


async def _schema_and_counts(url: str) -> tuple[dict[str, str], dict[str, int]]:
    database = create_database(url)
    try:
        async with database.read() as conn:
            rows = (await conn.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                "AND name NOT LIKE 'sqlite_%'"))).all()
            # the tables of the model that this version of the store has
            counts = {table: (await conn.execute(
                text(f'SELECT count(*) FROM "{table}"'))).scalar_one()
                for table in Base.metadata.tables if table in {name for name, _ in rows}}
    finally:
        await database.dispose()
    return {name: sql for name, sql in rows}, counts


def _definition(sql: str) -> tuple[str, frozenset[str]]:
    """A table's definition as its head and its set of columns and constraints (batch
    mode may write the constraints in another order), with its key written one way
    (AUTOINCREMENT goes inline: `id INTEGER PRIMARY KEY AUTOINCREMENT`)."""
    sql = " ".join(sql.replace('"', "").split())
    head, _, body = sql.partition("(")
    parts, depth, current = [], 0, ""
    for char in body.rsplit(")", 1)[0]:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    parts = [p.replace(" PRIMARY KEY AUTOINCREMENT", "") for p in parts
             if not re.fullmatch(r"CONSTRAINT \w+ PRIMARY KEY \(id\)", p)]
    return head.strip(), frozenset(parts)


# Rows as version 0002 stored them, in plain SQL (the models may have moved on since):
# the newest place, 10, was deleted, which only the change log remembers.
OLD_ROWS = [
    "INSERT INTO countries (id, code, name) VALUES (1, 'NR', 'Nauru')",
    "INSERT INTO sectors (id, slug, name) VALUES (1, 'water', 'Water')",
    "INSERT INTO store_state (id, data_version) VALUES (1, 3)",
    *(f"INSERT INTO places (id, name, level, country_id, sort_key, partner_count, created_at, "
      f"updated_at) VALUES ({i}, 'Yaren {i}', 'CITY', 1, 'yaren {i}', 1, "
      f"'2026-01-01', '2026-01-01')" for i in (1, 2, 3)),
    "INSERT INTO partnerships (id, place_a_id, place_b_id, kind, status, created_at, "
    "updated_at) VALUES (1, 1, 2, 'SISTER_CITY', 'ACTIVE', '2026-01-01', '2026-01-01')",
    "INSERT INTO partnership_sectors (partnership_id, sector_id) VALUES (1, 1)",
    "INSERT INTO place_aliases (id, place_id, alias, position) VALUES (1, 3, 'Y3', 0)",
    "INSERT INTO change_log (id, at, action, entity_type, entity_id) "
    "VALUES (1, '2026-01-01', 'deleted', 'city', 10)",
]


async def test_a_sqlite_store_made_before_autoincrement_never_reuses_ids_after_upgrade(
        tmp_path: Path) -> None:
    # given a store of version 0002 with rows in tables that refer to each other
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0002")
    database = create_database(url)
    try:
        async with database.engine.begin() as conn:
            for statement in OLD_ROWS:
                await conn.execute(text(statement))
    finally:
        await database.dispose()
    before_schema, before_counts = await _schema_and_counts(url)
    # when it is upgraded
    database = create_database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()
    after_schema, after_counts = await _schema_and_counts(url)
    # then no row was lost (a recreated parent table cascades nothing), the tables are
    # as they were but for AUTOINCREMENT, and every integer-keyed table has it
    assert {table: after_counts[table] for table in before_counts} == before_counts
    # (later migrations may add columns: every column there was is there as it was)
    for name, before in before_schema.items():
        if name in after_schema:
            (head_after, columns_after), (head_before, columns_before) = (
                _definition(after_schema[name]), _definition(before))
            assert head_after == head_before and columns_before <= columns_after, name
    with_ids = [t.name for t in Base.metadata.tables.values()
                if t.dialect_kwargs.get("sqlite_autoincrement")]
    assert {"places", "partnerships", "countries", "organizations", "sectors"} <= set(with_ids)
    for table in with_ids:
        assert "AUTOINCREMENT" in after_schema[table], table
    # and neither the place deleted before the upgrade nor one deleted after it comes back
    async with running_app(Settings(db_url=url)) as (app, client):
        async with app.state.db.write() as session:
            _, token = await create_token(session, "editor", "id tests")
        created = await _ok(client, {"authorization": f"Bearer {token}"}, CREATE_CITY,
                            name="Yaren New")
        assert _key(created["createCity"]["id"]) > 10
    await _delete_newest_then_create(url)


def test_a_fresh_sqlite_store_has_autoincrement(templates: dict[str, str]) -> None:
    schema, _ = asyncio.run(_schema_and_counts(f"sqlite+aiosqlite:///{templates['sqlite']}"))
    assert "AUTOINCREMENT" in schema["places"] and "AUTOINCREMENT" in schema["partnerships"]
