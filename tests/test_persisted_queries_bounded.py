"""The persisted-query registry is bounded: at most its cap of documents, the least recently
used going first; registering is a request like any other, under the rate limit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from alembic import command
from citylinks.db.engine import Database, create_database
from citylinks.db.migrate import alembic_config
from citylinks.settings import Settings
from sqlalchemy import text

from tests.conftest import running_app
from tests.test_persisted_queries import codes, send, sha256

CAP = 30
REGISTRATIONS = 300
CONCURRENCY = 16


def _document(n: int) -> str:
    return f"query Registered{n} {{ sectors {{ slug }} }}"


async def _stored(db_url: str) -> list[str]:
    database = create_database(db_url)
    try:
        async with database.read() as conn:
            return list((await conn.execute(text("SELECT sha256 FROM persisted_queries"))
                         ).scalars())
    finally:
        await database.dispose()


async def _register(client: httpx.AsyncClient, numbers: range) -> list[int]:
    """Register each document as Apollo's client does (hash and document), CONCURRENCY at
    a time; the statuses."""
    statuses: list[int] = []
    queue = list(numbers)

    async def worker() -> None:
        while queue:
            query = _document(queue.pop())
            status, _ = await send(client, "POST", sha256(query), query)
            statuses.append(status)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return statuses


async def test_hundreds_of_anonymous_registrations_leave_at_most_the_cap(db_url: str) -> None:
    settings = Settings(db_url=db_url, apq_max_queries=CAP, rate_limit=0,
                        webhook_delivery=False, request_log=False)
    async with running_app(settings) as (_, client):
        statuses = await _register(client, range(REGISTRATIONS))
        # the newest still stand for their documents
        newest = _document(0)
        status, body = await send(client, "POST", sha256(newest))
    assert set(statuses) == {200}
    assert status == 200 and body["data"]["sectors"]
    assert len(await _stored(db_url)) <= CAP


async def test_the_least_recently_used_document_goes_first(db_url: str) -> None:
    settings = Settings(db_url=db_url, apq_max_queries=3, rate_limit=0,
                        webhook_delivery=False, request_log=False)
    async with running_app(settings) as (app, client):
        app.state.persisted_queries.touch_after = 0.0  # every use counts, for the test
        for n in (1, 2, 3):
            await send(client, "POST", sha256(_document(n)), _document(n))
            await asyncio.sleep(0.01)
        # when: the first is used again, then a fourth registered
        status, body = await send(client, "POST", sha256(_document(1)))
        assert status == 200 and "errors" not in body
        await send(client, "POST", sha256(_document(4)), _document(4))
    # then: the second, the least recently used, made room
    assert sorted(await _stored(db_url)) == sorted(sha256(_document(n)) for n in (1, 3, 4))


async def test_registrations_count_against_the_rate_limit(db_url: str) -> None:
    limit = 20
    # An hour-long fixed window: with the default minute, a run that straddles a window's
    # end gets a fresh allowance half-way (seen on a loaded machine).
    settings = Settings(db_url=db_url, rate_limit=limit, rate_limit_window=3_600,
                        webhook_delivery=False, request_log=False)
    async with running_app(settings) as (_, client):
        statuses = await _register(client, range(2 * limit))
        status, body = await send(client, "POST", sha256(_document(10_000)), _document(10_000))
    assert statuses.count(429) == limit and status == 429
    assert codes(body) == ["RATE_LIMITED"]
    assert len(await _stored(db_url)) == limit


async def test_a_registry_from_before_the_cap_upgrades_with_its_documents(
        tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0004")
    database: Database = create_database(url)
    try:
        async with database.write() as session:
            await session.execute(text(
                "INSERT INTO persisted_queries (sha256, query, created_at) "
                "VALUES ('ab', '{ sectors { slug } }', '2026-01-02 03:04:05')"))
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        async with database.read() as conn:
            row = (await conn.execute(text(
                "SELECT sha256, last_used_at FROM persisted_queries"))).one()
    finally:
        await database.dispose()
    assert row.sha256 == "ab" and str(row.last_used_at).startswith("2026-01-02 03:04:05")
