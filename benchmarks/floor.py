"""The floor: a bare Starlette app answering each benchmark shape with one hand-written SQL
statement that builds the whole JSON answer in the database.

It is what the same answers cost with no GraphQL layer at all: the same HTTP
server (uvicorn, one worker, uvloop/httptools when installed), the same drivers
as citylinks (asyncpg; aiosqlite) without an ORM, one statement per request.
It knows only the four documents of shapes.py, matched by their exact text.

    python benchmarks/floor.py --db URL [--host 127.0.0.1] [--port 8100]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shapes import SHAPES, SINCE_FROM, city_pk

# -- PostgreSQL: json_build_object / json_agg, LATERAL for the nested lists.


def _pg_partners(place: str, first: int) -> str:
    """A place's first partners by partnership id: two index range scans, merged."""
    return f"""(SELECT u.id, u.other, u.kind, u.since FROM (
        (SELECT id, place_b_id AS other, kind, since FROM partnerships
          WHERE place_a_id = {place} ORDER BY id LIMIT {first})
        UNION ALL
        (SELECT id, place_a_id AS other, kind, since FROM partnerships
          WHERE place_b_id = {place} ORDER BY id LIMIT {first})
      ) u ORDER BY u.id LIMIT {first})"""


def _pg_sectors(partnership: str) -> str:
    return f"""(SELECT coalesce(json_agg(json_build_object('name', s.name) ORDER BY s.slug),
                                '[]'::json)
       FROM partnership_sectors ps JOIN sectors s ON s.id = ps.sector_id
      WHERE ps.partnership_id = {partnership})"""


PG: dict[str, str] = {
    "Q1": f"""
SELECT json_build_object('data', json_build_object('city', (
  SELECT json_build_object('name', p.name, 'partners', json_build_object('nodes', (
    SELECT coalesce(json_agg(json_build_object(
             'city', json_build_object('name', o.name,
                                       'country', json_build_object('code', c.code)),
             'kind', e.kind, 'since', e.since, 'sectors', sec.j) ORDER BY e.id), '[]'::json)
      FROM {_pg_partners("p.id", 50)} e
      JOIN places o ON o.id = e.other
      JOIN countries c ON c.id = o.country_id
      CROSS JOIN LATERAL {_pg_sectors("e.id")} sec(j))))
    FROM places p WHERE p.id = $1)))::text""",
    "Q2": f"""
SELECT json_build_object('data', json_build_object('cities', json_build_object('nodes', (
  SELECT coalesce(json_agg(json_build_object('name', p.name, 'partners',
                                             json_build_object('nodes', pp.j))
                           ORDER BY p.sort_key, p.id), '[]'::json)
    FROM (SELECT id, name, sort_key FROM places
           WHERE country_id = (SELECT id FROM countries WHERE code = $1)
           ORDER BY sort_key, id LIMIT 100) p
    CROSS JOIN LATERAL (
      SELECT coalesce(json_agg(json_build_object('city', json_build_object('name', o.name),
                                                 'sectors', sec.j) ORDER BY e.id), '[]'::json)
        FROM {_pg_partners("p.id", 20)} e
        JOIN places o ON o.id = e.other
        CROSS JOIN LATERAL {_pg_sectors("e.id")} sec(j)) pp(j)))))::text""",
    "Q3": f"""
SELECT json_build_object('data', json_build_object('city', (
  SELECT json_build_object('partners', json_build_object('nodes', (
    SELECT coalesce(json_agg(json_build_object('city', json_build_object(
             'name', o.name, 'partners', json_build_object('nodes', pp.j))) ORDER BY e.id),
           '[]'::json)
      FROM {_pg_partners("h.id", 20)} e
      JOIN places o ON o.id = e.other
      CROSS JOIN LATERAL (
        SELECT coalesce(json_agg(json_build_object('city', json_build_object('name', o2.name),
                                                   'sectors', sec.j) ORDER BY e2.id), '[]'::json)
          FROM {_pg_partners("o.id", 20)} e2
          JOIN places o2 ON o2.id = e2.other
          CROSS JOIN LATERAL {_pg_sectors("e2.id")} sec(j)) pp(j))))
    FROM places h WHERE h.id = $1)))::text""",
    "Q4": """
SELECT json_build_object('data', json_build_object('partnerships', json_build_object(
  'totalCount', (
    SELECT count(*) FROM partnership_sectors ps JOIN partnerships p ON p.id = ps.partnership_id
     WHERE ps.sector_id = (SELECT id FROM sectors WHERE slug = $1) AND p.since_first >= $2),
  'nodes', (
    SELECT coalesce(json_agg(json_build_object(
             'cities', json_build_array(json_build_object('name', a.name),
                                        json_build_object('name', b.name)),
             'since', t.since) ORDER BY t.id), '[]'::json)
      FROM (SELECT p.id, p.place_a_id, p.place_b_id, p.since
              FROM partnership_sectors ps JOIN partnerships p ON p.id = ps.partnership_id
             WHERE ps.sector_id = (SELECT id FROM sectors WHERE slug = $1)
               AND p.since_first >= $2
             ORDER BY ps.partnership_id LIMIT 50) t
      JOIN places a ON a.id = t.place_a_id
      JOIN places b ON b.id = t.place_b_id))))::text""",
}

# -- SQLite: json_object / json_group_array. Before 3.44 an aggregate takes no ORDER BY,
# so each array aggregates an ordered subquery; json() restores the JSON subtype that a
# value loses when it crosses a subquery (else it would be embedded as a string).


def _lite_partners(place: str, first: int) -> str:
    return f"""(SELECT id, other, kind, since FROM (
        SELECT * FROM (SELECT id, place_b_id AS other, kind, since FROM partnerships
                        WHERE place_a_id = {place} ORDER BY id LIMIT {first})
        UNION ALL
        SELECT * FROM (SELECT id, place_a_id AS other, kind, since FROM partnerships
                        WHERE place_b_id = {place} ORDER BY id LIMIT {first})
      ) ORDER BY id LIMIT {first})"""


def _lite_sectors(partnership: str) -> str:
    return f"""(SELECT json_group_array(json_object('name', name)) FROM (
       SELECT s.name FROM partnership_sectors ps JOIN sectors s ON s.id = ps.sector_id
        WHERE ps.partnership_id = {partnership} ORDER BY s.slug))"""


LITE: dict[str, str] = {
    "Q1": f"""
SELECT json_object('data', json_object('city', json((
  SELECT json_object('name', p.name, 'partners', json_object('nodes', json((
    SELECT json_group_array(json_object(
             'city', json_object('name', x.name, 'country', json_object('code', x.code)),
             'kind', x.kind, 'since', x.since, 'sectors', json(x.sectors)))
      FROM (SELECT o.name, c.code, e.kind, e.since, {_lite_sectors("e.id")} AS sectors
              FROM {_lite_partners("p.id", 50)} e
              JOIN places o ON o.id = e.other
              JOIN countries c ON c.id = o.country_id
             ORDER BY e.id) x))))
    FROM places p WHERE p.id = ?))))""",
    "Q2": f"""
SELECT json_object('data', json_object('cities', json_object('nodes', json((
  SELECT json_group_array(json_object('name', p.name, 'partners',
                                      json_object('nodes', json(p.partners))))
    FROM (SELECT p.name, (
            SELECT json_group_array(json_object('city', json_object('name', x.name),
                                                'sectors', json(x.sectors)))
              FROM (SELECT o.name, {_lite_sectors("e.id")} AS sectors
                      FROM {_lite_partners("p.id", 20)} e
                      JOIN places o ON o.id = e.other
                     ORDER BY e.id) x) AS partners
            FROM places p
           WHERE p.country_id = (SELECT id FROM countries WHERE code = ?)
           ORDER BY p.sort_key, p.id LIMIT 100) p)))))""",
    "Q3": f"""
SELECT json_object('data', json_object('city', json((
  SELECT json_object('partners', json_object('nodes', json((
    SELECT json_group_array(json_object('city', json_object(
             'name', y.name, 'partners', json_object('nodes', json(y.partners)))))
      FROM (SELECT o.name, (
              SELECT json_group_array(json_object('city', json_object('name', x.name),
                                                  'sectors', json(x.sectors)))
                FROM (SELECT o2.name, {_lite_sectors("e2.id")} AS sectors
                        FROM {_lite_partners("o.id", 20)} e2
                        JOIN places o2 ON o2.id = e2.other
                       ORDER BY e2.id) x) AS partners
              FROM {_lite_partners("h.id", 20)} e
              JOIN places o ON o.id = e.other
             ORDER BY e.id) y))))
    FROM places h WHERE h.id = ?))))""",
    "Q4": """
SELECT json_object('data', json_object('partnerships', json_object(
  'totalCount', (
    SELECT count(*) FROM partnership_sectors ps JOIN partnerships p ON p.id = ps.partnership_id
     WHERE ps.sector_id = (SELECT id FROM sectors WHERE slug = ?1) AND p.since_first >= ?2),
  'nodes', json((
    SELECT json_group_array(json_object(
             'cities', json_array(json_object('name', t.a), json_object('name', t.b)),
             'since', t.since))
      FROM (SELECT a.name AS a, b.name AS b, m.since FROM (
              SELECT p.id, p.place_a_id, p.place_b_id, p.since
                FROM partnership_sectors ps JOIN partnerships p ON p.id = ps.partnership_id
               WHERE ps.sector_id = (SELECT id FROM sectors WHERE slug = ?1)
                 AND p.since_first >= ?2
               ORDER BY ps.partnership_id LIMIT 50) m
              JOIN places a ON a.id = m.place_a_id
              JOIN places b ON b.id = m.place_b_id
             ORDER BY m.id) t)))))""",
}

Runner = Callable[[str, tuple[Any, ...]], Awaitable[str | None]]


def _arguments(shape: str, variables: dict[str, Any], pg: bool) -> tuple[Any, ...] | None:
    if shape in ("Q1", "Q3"):
        pk = city_pk(str(variables.get("id" if shape == "Q1" else "hub", "")))
        return None if pk is None else (pk,)
    if shape == "Q2":
        return (str(variables.get("cc", "")).upper(),)
    since = dt.date.fromisoformat(SINCE_FROM)
    return (str(variables.get("s", "")), since if pg else since.isoformat())


class PostgresStore:
    def __init__(self, url: str) -> None:
        # asyncpg takes a plain postgresql:// URL.
        self.dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.pool: Any = None

    async def open(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        self.pool = await asyncpg.create_pool(self.dsn, min_size=2, max_size=10)

    async def close(self) -> None:
        await self.pool.close()

    async def fetch(self, sql: str, args: tuple[Any, ...]) -> str | None:
        async with self.pool.acquire() as connection:
            value: str | None = await connection.fetchval(sql, *args)
            return value


class SqliteStore:
    """A few aiosqlite connections with the pragmas citylinks sets for reads."""

    SIZE = int(os.environ.get("FLOOR_SQLITE_CONNECTIONS", "4"))

    def __init__(self, url: str) -> None:
        self.path = url.split(":///", 1)[1]
        self.idle: asyncio.Queue[Any] = asyncio.Queue()
        self.all: list[Any] = []

    async def open(self) -> None:
        import aiosqlite

        for _ in range(self.SIZE):
            connection = await aiosqlite.connect(self.path, isolation_level=None)
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA synchronous=NORMAL")
            await connection.execute("PRAGMA foreign_keys=ON")
            await connection.execute("PRAGMA busy_timeout=10000")
            await connection.execute("PRAGMA mmap_size=268435456")
            self.all.append(connection)
            self.idle.put_nowait(connection)

    async def close(self) -> None:
        for connection in self.all:
            await connection.close()

    async def fetch(self, sql: str, args: tuple[Any, ...]) -> str | None:
        connection = await self.idle.get()
        try:
            async with connection.execute(sql, args) as cursor:
                row = await cursor.fetchone()
            return None if row is None else row[0]
        finally:
            self.idle.put_nowait(connection)


def create_app(url: str) -> Starlette:
    pg = url.startswith("postgresql")
    store: PostgresStore | SqliteStore = PostgresStore(url) if pg else SqliteStore(url)
    statements = PG if pg else LITE
    by_text = {text: shape for shape, text in SHAPES.items()}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        try:
            yield
        finally:
            await store.close()

    async def graphql(request: Request) -> Response:
        body = orjson.loads(await request.body())
        shape = by_text.get(body.get("query", ""))
        if shape is None:
            return Response(b'{"errors":[{"message":"the floor knows only the benchmark '
                            b'shapes"}]}', 400, media_type="application/json")
        arguments = _arguments(shape, body.get("variables") or {}, pg)
        if arguments is None:
            return Response(b'{"errors":[{"message":"malformed id"}]}', 200,
                            media_type="application/json")
        text = await store.fetch(statements[shape], arguments)
        return Response(text, media_type="application/json")

    async def healthz(request: Request) -> Response:
        await store.fetch("SELECT 1", ())
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"]),
                             Route("/healthz", healthz)], lifespan=lifespan)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    # The flags `citylinks serve` passes to uvicorn.
    uvicorn.run(create_app(args.db), host=args.host, port=args.port, workers=1,
                log_level=args.log_level, loop="auto", http="auto", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
