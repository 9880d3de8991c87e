"""One async engine and session factory from a URL, with SQLite made safe for concurrent writers."""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from citylinks.db.driver_reads import DriverReads
from citylinks.db.inline_reads import InlineReader
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# Write transactions on SQLite take the write lock up front: with a deferred
# BEGIN, concurrent read-then-write transactions fail with "database is locked"
# (182 of 200 in a measurement on these machines); with BEGIN IMMEDIATE all commit.
_IMMEDIATE = "citylinks_begin_immediate"
_READER = "citylinks_reader"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# PRAGMA mmap_size (configure_sqlite_connection): a store larger than this reads the rest.
SQLITE_MMAP_BYTES = 256 * 1024 * 1024


def normalize_url(url: str) -> str:
    """Accept the plain driver names people type and pick the async driver."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def _b64(value: str | None) -> str | None:
    """base64 for SQL: SQLite has none, and the compiled path builds global ids in SQL."""
    return None if value is None else base64.b64encode(value.encode()).decode()


def configure_sqlite_connection(dbapi_connection: Any) -> None:
    """The pragmas and functions every citylinks connection to SQLite has."""
    # Take transaction control from the driver so BEGIN is ours to emit.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # Pages read through a memory map instead of a read() each: the benchmark's nested
    # reads (Q2-Q4) cost SQLite 20-33 % less. Address space only; the OS's page cache
    # holds the pages either way.
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    try:
        cursor.execute("SELECT sin(1.0)")
    except Exception:  # an SQLite built without its math functions
        for name, fn in (("sin", math.sin), ("cos", math.cos), ("asin", math.asin),
                         ("sqrt", math.sqrt), ("radians", math.radians)):
            dbapi_connection.create_function(name, 1, fn, deterministic=True)
    dbapi_connection.create_function("citylinks_b64", 1, _b64, deterministic=True)
    cursor.close()


def _install_sqlite_pragmas(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        configure_sqlite_connection(dbapi_connection)

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(_READER):
            return
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_IMMEDIATE) else "BEGIN")


@dataclass
class Database:
    """The engine and how to open sessions on it; one per process."""

    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # Reads run on their own pool, in autocommit: a read is one statement (or a
    # few), and BEGIN, ROLLBACK and isolation resets around it were three more
    # round trips per request — on aiosqlite each one a hop to its thread.
    reader: AsyncEngine
    # One-statement reads on connections held out of the reader pool (db/driver_reads.py).
    driver_reads: DriverReads
    # SQLite files: short reads on the event loop's own connection (db/inline_reads.py).
    inline: InlineReader | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A short connection for batch reads (Core statements), outside any transaction."""
        async with self.reader.connect() as connection:
            yield connection

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: committed when the block ends, rolled back on any error."""
        async with self.sessions() as session:
            await session.connection(execution_options={_IMMEDIATE: True})
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        if self.inline is not None:
            self.inline.close()
        self.driver_reads.close()
        await self.engine.dispose()
        await self.reader.dispose()


SQLITE_READERS = 4


def create_database(url: str, *, pool_size: int = 10) -> Database:
    url = normalize_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    # Each aiosqlite connection is a thread: past a few, more threads only take the CPU
    # from the event loop (and from each other) while their queries wait.
    readers = SQLITE_READERS
    if parsed.get_backend_name() == "postgresql":
        # No pre-ping: it is a round trip per checkout. A connection that died with
        # its server is invalidated on its first error and the pool opens fresh ones.
        kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        readers = pool_size
    # Reads beyond the pool wait for a connection rather than overflow: an overflow
    # connection is closed when it comes back, and opening one costs more than the
    # read, so under load the pool churned and throughput fell. As many again are
    # held for one-statement reads (DriverReads), opened as they are first needed.
    reader_kwargs = dict(pool_size=2 * readers, max_overflow=0, pool_timeout=30)
    engine = create_async_engine(url, **kwargs)
    reader = create_async_engine(url, pool_reset_on_return=None,
                                 execution_options={_READER: True}, **reader_kwargs)
    if engine.dialect.name == "sqlite":
        _install_sqlite_pragmas(engine)
        _install_sqlite_pragmas(reader)
        # A reader never opens a transaction (no BEGIN, and SELECTs start none), so
        # the ROLLBACK SQLAlchemy sends when a connection is closed has nothing to
        # undo; on aiosqlite it would still cost a hop to the connection's thread.
        reader.sync_engine.dialect.do_rollback = lambda dbapi_connection: None  # type: ignore[method-assign]
    else:
        reader = reader.execution_options(isolation_level="AUTOCOMMIT")
    sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    inline = None
    if engine.dialect.name == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not parsed.query:
        inline = InlineReader(parsed.database, configure_sqlite_connection)
    return Database(url=url, engine=engine, sessions=sessions, reader=reader,
                    driver_reads=DriverReads(reader, readers), inline=inline)
