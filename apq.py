"""Automatic persisted queries (Apollo's protocol): documents registered under their SHA-256.

A client sends `extensions.persistedQuery = {"version": 1, "sha256Hash": …}`,
first without the document. Until the document has been sent once with its
hash, that request is answered with `PERSISTED_QUERY_NOT_FOUND`, and the client
sends both; from then on the hash alone stands for the document, over POST and
GET (where it makes short, cacheable URLs).

The registry is a table, so that a hash registered through one worker is known
to all of them; each process keeps the documents it has seen in memory (a
hash names one document forever, so there is nothing to invalidate).

The table holds at most `apq_max_queries` documents: each registration removes
the least recently used beyond that. "Used" is a `last_used_at` that a process
moves forward at most once a minute per document (not on every hit), so a hot
query costs one small write a minute, and anonymous clients registering
documents by the thousand (each registration a request, under the rate limit)
push out only each other and the documents nobody asked for lately.

Resolving a hash only fills in the request's document: the request then goes
the way every request goes, through the same parsing, validation and query
limits, so a persisted query is refused exactly when its text would be.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from citylinks.db.engine import Database
from citylinks.db.models import PersistedQuery
from citylinks.schema.errors import BAD_USER_INPUT, PERSISTED_QUERY_NOT_FOUND
from graphql import ExecutionResult, GraphQLError
from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

log = logging.getLogger("citylinks.apq")

_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
# Documents kept in memory per process; the table keeps up to its cap.
CACHE_SIZE = 2_000
# Seconds between two moves of a document's last_used_at by one process.
TOUCH_AFTER = 60.0
# PostgreSQL advisory lock key for registrations: "apq" in ASCII.
_REGISTRATION_LOCK = 0x617071


def sha256_hex(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


def _refusal(message: str, code: str, sub_response: Any, status: int) -> ExecutionResult:
    sub_response.status_code = status
    # Apollo's clients retry with the document: nobody may cache the refusal.
    sub_response.headers["cache-control"] = "private, no-cache, must-revalidate"
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


class PersistedQueries:
    """The registry, as one server process sees it."""

    def __init__(self, database: Callable[[], Database], schema: Any,
                 cache_size: int = CACHE_SIZE, max_queries: int = 10_000) -> None:
        self._database = database
        self._schema = schema
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size
        self.max_queries = max_queries
        self.touch_after = TOUCH_AFTER
        # When this process last moved each cached document's last_used_at (monotonic).
        self._touched: dict[str, float] = {}

    async def resolve(self, request_data: Any, sub_response: Any,
                      client: str | None = None) -> Any:
        """The request with its document filled in from the registry, or the refusal
        (an ExecutionResult) to answer with. Requests without the extension pass as they are.
        `client` (the rate limiter's key) is whom the gate counts a new document against."""
        extensions = request_data.extensions or {}
        persisted = extensions.get("persistedQuery")
        if persisted is None:
            return request_data
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            return _refusal("Unsupported persisted query: send "
                            '{"version": 1, "sha256Hash": "<hex>"}', BAD_USER_INPUT,
                            sub_response, 400)
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or not _SHA256_HEX.match(digest):
            return _refusal("persistedQuery.sha256Hash must be 64 hexadecimal digits",
                            BAD_USER_INPUT, sub_response, 400)
        digest = digest.lower()
        if request_data.query:
            if sha256_hex(request_data.query) != digest:
                return _refusal("provided sha does not match query", BAD_USER_INPUT,
                                sub_response, 400)
            if await self._runnable(request_data, client):
                await self.register(digest, request_data.query)
            return request_data
        query = await self.lookup(digest)
        if query is None:
            return _refusal("PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND,
                            sub_response, 200)
        return dataclasses.replace(request_data, query=query)

    async def _runnable(self, request_data: Any, client: str | None) -> bool:
        """Only a document that passes the query limits and validation is registered:
        the table is no store for documents that would never run. (The gate keeps its
        verdict, so the request that follows finds it decided.)"""
        verdict = await self._schema.gate.decide(request_data.query,
                                                 request_data.operation_name, client)
        return not verdict.errors

    def _remember(self, digest: str, query: str) -> None:
        self._cache[digest] = query
        self._cache.move_to_end(digest)
        self._touched.setdefault(digest, time.monotonic())
        if len(self._cache) > self._cache_size:
            forgotten, _ = self._cache.popitem(last=False)
            self._touched.pop(forgotten, None)

    async def lookup(self, digest: str) -> str | None:
        query = self._cache.get(digest)
        if query is not None:
            self._cache.move_to_end(digest)
            if time.monotonic() - self._touched.get(digest, 0.0) >= self.touch_after:
                await self._touch(digest)
            return query
        async with self._database().read() as conn:
            row = (await conn.execute(
                select(PersistedQuery.query, PersistedQuery.last_used_at)
                .where(PersistedQuery.sha256 == digest))).first()
        if row is None:
            return None
        self._remember(digest, row.query)
        last_used = row.last_used_at
        if last_used.tzinfo is None:  # SQLite gives back naive UTC
            last_used = last_used.replace(tzinfo=dt.UTC)
        if (dt.datetime.now(dt.UTC) - last_used).total_seconds() >= self.touch_after:
            await self._touch(digest)
        return str(row.query)

    async def _touch(self, digest: str) -> None:
        """Mark the document used now; a failure costs its place in the order, not this
        answer."""
        self._touched[digest] = time.monotonic()
        try:
            async with self._database().write() as session:
                await session.execute(
                    update(PersistedQuery).where(PersistedQuery.sha256 == digest)
                    .values(last_used_at=dt.datetime.now(dt.UTC)))
        except Exception:
            log.warning("could not mark persisted query %s used", digest, exc_info=True)

    async def register(self, digest: str, query: str) -> None:
        """Store the document once, and keep the table within its cap (the least recently
        used go); a failure to store costs the client a resend, not this answer."""
        if digest in self._cache:
            return
        database = self._database()
        insert = pg_insert if database.dialect == "postgresql" else sqlite_insert
        try:
            async with database.write() as session:
                if database.dialect == "postgresql":
                    # Registrations one at a time (SQLite's writes already are): two
                    # concurrent ones would each make room for one, and both add one.
                    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                          {"key": _REGISTRATION_LOCK})
                now = dt.datetime.now(dt.UTC)
                added = await session.execute(
                    insert(PersistedQuery).values(sha256=digest, query=query, created_at=now,
                                                  last_used_at=now)
                    .on_conflict_do_nothing(index_elements=["sha256"]))
                if added.rowcount:  # type: ignore[attr-defined]
                    beyond_cap = (select(PersistedQuery.sha256)
                                  .order_by(PersistedQuery.last_used_at.desc(),
                                            PersistedQuery.sha256)
                                  .offset(self.max_queries))
                    await session.execute(delete(PersistedQuery)
                                          .where(PersistedQuery.sha256.in_(beyond_cap)))
        except Exception:
            log.warning("could not register persisted query %s", digest, exc_info=True)
            return
        self._remember(digest, query)
