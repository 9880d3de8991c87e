"""Answers of compiled reads kept in memory, each valid for the data version it was computed at.

An answer is kept under its plan (one per document and operation name), its
variables and the viewer's role, bounded in bytes, least recently used out
first; the front door looks it up between planning and execution
(frontdoor.answer_from_cache), and execution keeps a miss's answer. It answers
a later request only if the store's data version is still the one read before
the answer was computed, and every request reads the version afresh, after it
arrived: so a cached answer is never older than any write that committed before
the request came, whichever worker or process made it.

How the version is read, per database (figures in docs/read-path.md):

- SQLite: `PRAGMA data_version` on a connection kept for the purpose. SQLite
  changes the value a connection sees whenever another connection, in any
  process, has committed to the file since; it is a read of the shared WAL
  index, about 3 us, done inline (no hop to a driver thread).
- PostgreSQL: `store_state.data_version`, which every accepted write bumps in
  its own transaction (db/writes.record_change). One round trip; concurrent
  requests share one read, provided it started after each of them arrived
  (`NextRead`), so under load it costs a fraction of a round trip per request.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from citylinks.db.engine import Database
from citylinks.db.models import StoreState
from sqlalchemy import select
from sqlalchemy.engine import make_url

# What an entry costs besides its answer: its key's variables are counted, and about
# this much for the key's other parts and the bookkeeping.
ENTRY_OVERHEAD = 200
VERSION_SQL = "SELECT data_version FROM store_state WHERE id = 1"


@dataclass(frozen=True)
class Ticket:
    """A miss: where its answer goes, and the version read before it (None: to be read
    with the answer, in the same statement)."""

    cache: ResponseCache
    key: Hashable
    key_size: int
    version: int | None


@dataclass(frozen=True)
class Entry:
    version: int
    body: bytes  # the answer's `data`, as JSON
    size: int


class ByteLRU:
    """Entries bounded by their total size in bytes; the least recently used go first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evictions = 0
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, entry: Entry) -> None:
        self.discard(key)
        if entry.size > self.max_bytes:
            return  # an answer larger than the whole cache is not kept
        self._entries[key] = entry
        self.bytes += entry.size
        while self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size
            self.evictions += 1

    def discard(self, key: Hashable) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0


class NextRead:
    """Concurrent callers share one read, which starts after each of them called: a
    caller never gets a value read before it arrived, and under load one round trip
    answers every request that came while the previous one was under way."""

    def __init__(self, read: Callable[[], Awaitable[int]]) -> None:
        self._read = read
        self._next: asyncio.Future[int] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __call__(self) -> int:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            # Retrieved here, so that a failure nobody waits for any more (a caller
            # gone) is not reported as never retrieved.
            self._next.add_done_callback(lambda f: f.cancelled() or f.exception())
            if self._reader is None:
                self._reader = asyncio.get_running_loop().create_task(self._read_all())
        return await asyncio.shield(self._next)

    async def _read_all(self) -> None:
        try:
            while self._next is not None:
                future, self._next = self._next, None
                try:
                    future.set_result(await self._read())
                except Exception as error:  # every waiter of this read gets it
                    future.set_exception(error)
        finally:
            self._reader = None


class SqliteVersion:
    """`PRAGMA data_version` on a connection of its own, kept open."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None

    async def __call__(self) -> int:
        if self._connection is None:
            # Autocommit, and only ever this one statement, read to its end: no
            # transaction stays open to hold back the WAL's checkpoints.
            self._connection = sqlite3.connect(self.path, isolation_level=None,
                                               check_same_thread=False)
            self._connection.execute("PRAGMA busy_timeout=1000")
        ((version,),) = self._connection.execute("PRAGMA data_version").fetchall()
        return int(version)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class StoreStateVersion:
    """`store_state.data_version`, read on a held reader connection (db/driver_reads.py)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._shared = NextRead(self._read)

    async def __call__(self) -> int:
        return await self._shared()

    async def _read(self) -> int:
        db = self.database
        engine = db.reader.sync_engine
        if engine.dispatch.before_cursor_execute or engine.echo:
            # Something counts or logs statements: go through SQLAlchemy, as the
            # compiled path does (schema/compiled, _fetch_row).
            async with db.read() as conn:
                version = await conn.scalar(
                    select(StoreState.data_version).where(StoreState.id == 1))
            return int(version or 0)
        (value,) = await db.driver_reads.fetch_row(VERSION_SQL, {})
        return int(value or 0)

    def close(self) -> None:
        """Nothing of its own to close: the database closes its connections."""


class ResponseCache:
    """Answers by (document, operation, variables, role), each for one data version."""

    def __init__(self, version: SqliteVersion | StoreStateVersion, max_bytes: int) -> None:
        self.version = version
        # PostgreSQL: a miss reads the version in its own statement (the SQL tier's),
        # from the same snapshot as the answer, so it costs no extra round trip.
        self.version_with_answer = isinstance(version, StoreStateVersion)
        self.entries = ByteLRU(max_bytes)
        self.hits = 0
        self.misses = 0
        self.version_reads = 0
        self._version_seen: int | None = None

    @classmethod
    def for_database(cls, database: Database, max_bytes: int) -> ResponseCache:
        url = make_url(database.url)
        path = url.database
        if database.dialect == "sqlite" and path and path != ":memory:" and not url.query:
            return cls(SqliteVersion(path), max_bytes)
        return cls(StoreStateVersion(database), max_bytes)

    async def current_version(self) -> int:
        """The data version now: read after the caller arrived, never remembered."""
        version = await self.version()
        self.version_reads += 1
        if version != self._version_seen:
            # Every entry is of an older version: none can answer again.
            self.entries.clear()
            self._version_seen = version
        return version

    async def look_up(self, plan: Any, variables: Mapping[str, Any] | None,
                      role: str | None) -> bytes | Ticket | None:
        """The answer kept for this plan, variables and role at the current data version;
        else a ticket to keep the answer once computed; None: not to be kept (variables
        that are not JSON)."""
        try:
            # Sorted JSON: the same variables make the same key, however they were sent.
            variables_key = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None
        key = (plan.cache_token, variables_key, role)
        key_size = len(variables_key)
        if self.version_with_answer and self.entries.get(key) is None:
            # Nothing to compare: the version is read with the answer, no round trip.
            self.misses += 1
            return Ticket(self, key, key_size, None)
        # Read after this request arrived: a write committed before it moved it.
        version = await self.current_version()
        body = self.get(key, version)
        return body if body is not None else Ticket(self, key, key_size, version)

    def get(self, key: Hashable, version: int) -> bytes | None:
        entry = self.entries.get(key)
        if entry is not None and entry.version == version:
            self.hits += 1
            return entry.body
        self.misses += 1
        return None

    def put(self, ticket: Ticket, version: int, body: bytes) -> None:
        """Keep an answer computed after `version` was read, or with it (so at least
        that fresh). A version older than one seen since is not kept."""
        if self._version_seen is None or version > self._version_seen:
            self.entries.clear()
            self._version_seen = version
        if version == self._version_seen:
            size = len(body) + ticket.key_size + ENTRY_OVERHEAD
            self.entries.put(ticket.key, Entry(version, body, size))

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "bytes": self.entries.bytes,
                "max_bytes": self.entries.max_bytes, "entries": len(self.entries),
                "evictions": self.entries.evictions, "version_reads": self.version_reads}

    def close(self) -> None:
        self.version.close()
