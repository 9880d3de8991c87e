"""Under concurrent reads the pool is reused: no connection is opened per request.

A read pool that overflows closes its extra connections as they come back, so under
steady load it opens a new connection (a login on PostgreSQL, a thread on SQLite) for
many requests; the benchmark showed throughput falling as concurrency rose."""

from __future__ import annotations

import asyncio
from typing import Any

from citylinks.db.engine import SQLITE_READERS
from citylinks.settings import Settings
from sqlalchemy import event

from tests.conftest import gql, running_app

CONCURRENCY = 24
QUERY = "{ city(name: \"Da Nang\") { name partners(first: 5) { nodes { city { name } } } } }"


async def test_concurrent_reads_reuse_a_bounded_pool(db_url: str) -> None:
    async with running_app(Settings(db_url=db_url, rate_limit=0)) as (app, client):
        reader = app.state.db.reader.sync_engine
        opened: list[Any] = []
        event.listen(reader, "connect", lambda *args: opened.append(args))

        async def wave() -> None:
            answers = await asyncio.gather(*(gql(client, QUERY) for _ in range(CONCURRENCY)))
            assert all(a["data"]["city"]["name"] == "Da Nang" for a in answers), answers[0]

        await wave()
        first_wave = len(opened)
        # The reader pool: readers for SQLAlchemy's reads, as many held for one-statement
        # reads (db/driver_reads.py).
        limit = 2 * (SQLITE_READERS if app.state.db.dialect == "sqlite" else 10)
        assert 0 < first_wave <= limit, f"{first_wave} connections for {CONCURRENCY} reads"
        for _ in range(5):
            await wave()
        assert len(opened) == first_wave, (
            f"{len(opened) - first_wave} connections opened after the pool was warm")
