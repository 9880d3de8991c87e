"""One-statement reads run on a few connections held out of the reader pool: requests
wait for one on a queue, a broken one is replaced, and every place comes back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from citylinks.db.engine import Database, create_database
from sqlalchemy import event

VERSION = "SELECT data_version FROM store_state WHERE id = 1"


async def test_statements_one_after_another_use_one_connection(database: Database) -> None:
    for _ in range(10):
        await database.driver_reads.fetch_row(VERSION, {})
    assert database.driver_reads.idle() == (database.driver_reads.size, 1)


async def test_many_statements_at_once_share_the_held_connections(database: Database) -> None:
    reads = database.driver_reads
    opened: list[Any] = []
    event.listen(database.reader.sync_engine, "connect", lambda *args: opened.append(args))

    rows = await asyncio.gather(*(reads.fetch_row(VERSION, {}) for _ in range(5 * reads.size)))

    assert len(set(rows)) == 1 and isinstance(rows[0][0], int)
    assert 0 < len(opened) <= reads.size
    # Held, not given back: the pool sees them out, and the queue has every place.
    assert reads.idle() == (reads.size, len(opened))
    assert database.reader.sync_engine.pool.checkedout() == len(opened)
    await asyncio.gather(*(reads.fetch_row(VERSION, {}) for _ in range(5 * reads.size)))
    assert len(opened) == reads.idle()[1], "a connection was opened once all were held"


async def test_values_are_bound_by_name_and_in_order(database: Database) -> None:
    reads = database.driver_reads
    params = {"p0": "Da Nang", "p1": 2}
    if database.dialect == "postgresql":
        row = await reads.fetch_row("unused", params, "SELECT $1::text, $2::int + 1")
    else:
        row = await reads.fetch_row("SELECT :p0, :p1 + 1", params)
    assert row == ("Da Nang", 3)


async def test_a_failed_statement_gives_its_place_back(database: Database) -> None:
    reads = database.driver_reads
    await reads.fetch_row(VERSION, {})
    with pytest.raises(Exception, match="no_such_table"):
        await reads.fetch_row("SELECT * FROM no_such_table", {})
    # Its connection went back to the pool invalidated; its place is free to open anew.
    places, held = reads.idle()
    assert places == reads.size
    assert database.reader.sync_engine.pool.checkedout() == held
    assert await reads.fetch_row(VERSION, {}) == (await reads.fetch_row(VERSION, {}))


async def test_a_connection_the_server_closed_is_replaced(pg_url: str) -> None:
    database = create_database(pg_url)
    try:
        reads = database.driver_reads
        (first,) = await reads.fetch_row("SELECT pg_backend_pid()", {})
        async with database.engine.connect() as admin:
            await admin.exec_driver_sql(f"SELECT pg_terminate_backend({first})")
        # The statement that meets the closed connection (the one used last is taken
        # first) fails, as it would have through SQLAlchemy; those after it run on a new
        # connection.
        with pytest.raises(Exception):  # noqa: B017 (asyncpg's words vary with the timing)
            await reads.fetch_row("SELECT pg_backend_pid()", {})
        (second,) = await reads.fetch_row("SELECT pg_backend_pid()", {})
        assert second != first
        assert reads.idle() == (reads.size, 1)
    finally:
        await database.dispose()


async def test_closing_gives_every_held_connection_back_to_the_pool(
        database: Database) -> None:
    reads = database.driver_reads
    await asyncio.gather(*(reads.fetch_row(VERSION, {}) for _ in range(reads.size)))
    assert database.reader.sync_engine.pool.checkedout() > 0
    reads.close()
    assert database.reader.sync_engine.pool.checkedout() == 0
    with pytest.raises(RuntimeError, match="closed"):
        await reads.fetch_row(VERSION, {})
