"""One statement's one row, straight from the driver, on reader connections held for it.

The compiled read path's statement is plain text with its values bound, and its answer
is JSON text; the response cache reads the data version in one statement. SQLAlchemy's
execution layer would add only overhead to them (schema/compiled, `_fetch_row`), and so
does its pool when a connection is taken for each statement: a checkout through a
greenlet, a checkin through the pool's records and events, and, while every connection
is busy, a task and a timer for each request that waits (its pool timeout). Measured on
the benchmark's Q2 at concurrency 16 with SQLite, that was about a fifth of the
request's time in Python.

So a few connections are taken from the reader pool once and kept here. A statement
waits for one on a plain asyncio queue, as a hand-written server does, and gives it
back by putting it there again. The pool still opens and configures every connection
(SQLite's pragmas, the driver's codecs); a broken one is handed back to it invalidated,
and its place is opened afresh by the next statement that needs it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection


class DriverReads:
    """Up to `size` connections of `reader`'s pool, held for one-statement reads."""

    def __init__(self, reader: AsyncEngine, size: int) -> None:
        self.reader = reader
        self.size = size
        self.postgresql = reader.dialect.name == "postgresql"
        # Made on first use, in the event loop that uses it. Holds idle connections and,
        # for each connection not opened yet (or lost), None: a place to open one. Last
        # in, first out: the connection used last is taken again, and another is opened
        # only while every open one is busy.
        self._idle: asyncio.LifoQueue[PoolProxiedConnection | None] | None = None
        self._held = 0
        self._closed = False

    async def fetch_row(self, sql: str, params: dict[str, Any],
                        numbered_sql: str | None = None) -> tuple[Any, ...]:
        """The statement's one row. `sql` binds `params` by name (:p0, :p1, ...);
        PostgreSQL runs `numbered_sql` ($1, $2, ... in the order of `params`) where
        given, else `sql`."""
        if self._closed:
            raise RuntimeError("the database's connections are closed")
        idle = self._idle
        if idle is None:
            idle = self._idle = asyncio.LifoQueue()
            for _ in range(self.size):
                idle.put_nowait(None)
        pooled = await idle.get()
        try:
            if pooled is None:
                pooled = await self.reader.raw_connection()
                self._held += 1
            driver: Any = pooled.driver_connection
            if self.postgresql:
                record = await driver.fetchrow(numbered_sql or sql, *params.values())
                return tuple(record)
            # One hop to the connection's thread (execute, fetch and close there), not
            # three: each hop costs more than the statement of a small query.
            (row,) = await driver.execute_fetchall(sql, params)
            return tuple(row)
        except BaseException:
            if pooled is not None:
                # SQLAlchemy did not see the failure: a connection broken by it (a
                # database restart) must not be used again. The pool opens a new one.
                pooled.invalidate()
                pooled.close()
                self._held -= 1
            pooled = None
            raise
        finally:
            if self._closed and pooled is not None:
                pooled.close()
                self._held -= 1
            else:
                idle.put_nowait(pooled)

    def idle(self) -> tuple[int, int]:
        """(places idle, connections held): while no statement runs, every place is idle
        and every held connection is among them."""
        return (self.size if self._idle is None else self._idle.qsize()), self._held

    def close(self) -> None:
        """Give every held connection back to the pool, for the pool's dispose to close;
        one in use when this is called goes back when its statement ends."""
        self._closed = True
        if self._idle is None:
            return
        while not self._idle.empty():
            pooled = self._idle.get_nowait()
            if pooled is not None:
                pooled.close()
                self._held -= 1

