"""Broadcast of committed change events to this process's subscribers, across workers on PostgreSQL.

On PostgreSQL every write transaction sends its events with `pg_notify`, which
the server delivers only when (and if) the transaction commits, to every
listening connection of the same database: each worker process keeps one
asyncpg connection that LISTENs and fans the events out to its own subscriber
queues. A write handled by one worker so reaches subscribers on all of them,
and a rolled-back write reaches nobody. On SQLite (one process) the events are
handed to the subscribers right after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from citylinks.db.engine import Database
from citylinks.db.writes import EVENTS_KEY, ChangeEvent
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("citylinks.events")

CHANNEL = "citylinks_changes"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; the event's data is
# a convenience (subscribers re-read the row), so it is dropped when too big.
MAX_PAYLOAD_BYTES = 7900
# A subscriber that falls this far behind is cut off rather than let the queue grow without bound.
SUBSCRIBER_BACKLOG = 1000
_PING_SECONDS = 30.0
_RECONNECT_MAX_SECONDS = 30.0
_START_TIMEOUT_SECONDS = 10.0


class SubscriberOverflow(Exception):
    """The subscriber read too slowly and events were dropped: it must resubscribe."""


def encode_event(event: ChangeEvent) -> str:
    payload = {"type": event.entity_type, "action": event.action, "id": event.entity_id,
               "places": list(event.place_ids), "data": event.data}
    encoded = json.dumps(payload, separators=(",", ":"), default=str)
    if len(encoded.encode("utf-8")) >= MAX_PAYLOAD_BYTES:
        # Milestone events need their partnership; everything else can be re-read.
        keep = {k: v for k, v in event.data.items() if k == "partnershipId"}
        encoded = json.dumps({**payload, "data": keep}, separators=(",", ":"), default=str)
    return encoded


def decode_event(payload: str) -> ChangeEvent:
    raw = json.loads(payload)
    return ChangeEvent(entity_type=str(raw["type"]), action=str(raw["action"]),
                       entity_id=int(raw["id"]), place_ids=tuple(int(p) for p in raw["places"]),
                       data=dict(raw.get("data") or {}))


class Subscriber:
    """One subscription's queue of events, bounded."""

    def __init__(self, limit: int = SUBSCRIBER_BACKLOG) -> None:
        self._items: deque[ChangeEvent] = deque()
        self._ready = asyncio.Event()
        self._limit = limit
        self.overflowed = False

    def push(self, event: ChangeEvent) -> None:
        if len(self._items) >= self._limit:
            self.overflowed = True
        else:
            self._items.append(event)
        self._ready.set()

    async def get(self) -> ChangeEvent:
        while True:
            if self.overflowed:
                raise SubscriberOverflow(
                    f"more than {self._limit} events waited for this subscription; "
                    "some were dropped, subscribe again")
            if self._items:
                return self._items.popleft()
            self._ready.clear()
            await self._ready.wait()


class EventBroadcaster:
    """One per worker process: started and stopped by the app's lifespan."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._subscribers: set[Subscriber] = set()
        self._listener: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self.listening = False

    @property
    def cross_process(self) -> bool:
        return self.database.dialect == "postgresql"

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if not self.cross_process:
            return
        self._listener = asyncio.create_task(self._listen_forever(), name="citylinks-listen")
        # Wait for the first LISTEN (or its failure, which is retried in the
        # background), so that a subscription opened right after start-up
        # misses no event, yet a database that is down does not block start-up.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), _START_TIMEOUT_SECONDS)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    def _asyncpg_dsn(self) -> str:
        url = make_url(self.database.url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    async def _listen_forever(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        delay = 0.5
        while True:
            try:
                connection = await asyncpg.connect(self._asyncpg_dsn())
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                log.warning("cannot LISTEN for change events (%s); retrying in %.1fs",
                            type(error).__name__, delay)
                self._first_attempt.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECONNECT_MAX_SECONDS)
                continue
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _conn, lost=lost: lost.set())
            try:
                await connection.add_listener(CHANNEL, self._on_notify)
                self.listening = True
                self._first_attempt.set()
                delay = 0.5
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), _PING_SECONDS)
                    if not lost.is_set():
                        # A half-open connection raises no termination: probe it.
                        await asyncio.wait_for(connection.execute("SELECT 1"), _PING_SECONDS)
            except (OSError, asyncpg.PostgresError, TimeoutError,
                    asyncpg.InterfaceError) as error:
                log.warning("LISTEN connection lost (%s); reconnecting", type(error).__name__)
            finally:
                self.listening = False
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)
            # Events committed while the connection was down are not replayed.
            log.warning("change events may have been missed while reconnecting")

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            event = decode_event(payload)
        except (ValueError, KeyError, TypeError):
            log.error("ignored a malformed change notification")
            return
        self.publish(event)

    # ------------------------------------------------------------ subscribers

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscriber]:
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)

    def publish(self, event: ChangeEvent) -> None:
        """Hand a committed event to every subscriber of this process."""
        for subscriber in list(self._subscribers):
            subscriber.push(event)

    # ------------------------------------------------------------ writers

    async def stage(self, session: AsyncSession, events: Sequence[ChangeEvent]) -> None:
        """Inside the write transaction: on PostgreSQL, NOTIFY (delivered on commit only)."""
        if not self.cross_process:
            return
        for event in events:
            await session.execute(text("SELECT pg_notify(:channel, :payload)"),
                                  {"channel": CHANNEL, "payload": encode_event(event)})

    def committed(self, events: Sequence[ChangeEvent]) -> None:
        """After the commit: in one process, deliver directly (PostgreSQL delivers by NOTIFY)."""
        if self.cross_process:
            return
        for event in events:
            self.publish(event)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """`Database.write()` whose change events reach subscribers once it commits."""
        async with self.database.write() as session:
            yield session
            events = list(session.info.get(EVENTS_KEY, ()))
            await self.stage(session, events)
        self.committed(events)
