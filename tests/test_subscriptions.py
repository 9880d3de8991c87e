"""Subscriptions: committed partnership changes pushed over a real WebSocket (graphql-transport-ws),
from one server process and across worker processes on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from citylinks.auth import create_token
from citylinks.db import writes
from citylinks.db.engine import Database, create_database
from citylinks.db.writes import ChangeEvent
from citylinks.events import (
    MAX_PAYLOAD_BYTES,
    EventBroadcaster,
    Subscriber,
    SubscriberOverflow,
    decode_event,
    encode_event,
)
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import LiveServer

PARTNERSHIP_CHANGED = """
subscription Changes($city: ID) {
  partnershipChanged(city: $city) {
    action partnershipId
    partnership { id kind status cities { name } }
  }
}
"""
CITY = "query City($name: String!) { city(name: $name) { id } }"
CREATE_PARTNERSHIP = """
mutation Create($input: PartnershipInput!) {
  createPartnership(input: $input) { id }
}
"""
DELETE_PARTNERSHIP = "mutation Delete($id: ID!) { deletePartnership(id: $id) }"
PROBE = """
mutation Probe($id: ID!, $text: String) {
  updatePartnership(id: $id, input: {description: $text}) { id }
}
"""
PARTNERSHIPS_OF = """
query Of($name: String!) { city(name: $name) { partnerships(first: 1) { nodes { id } } } }
"""
TIMEOUT = 15.0


def _editor_token(db_url: str) -> str:
    async def make() -> str:
        database = create_database(db_url)
        try:
            async with database.write() as session:
                _, token = await create_token(session, "editor", "subscription tests")
            return token
        finally:
            await database.dispose()

    return asyncio.run(make())


@pytest.fixture
def server_and_token(db_url: str) -> Iterator[tuple[LiveServer, str]]:
    token = _editor_token(db_url)
    server = LiveServer(db_url).start()
    yield server, token
    server.stop()


class Api:
    """Real HTTP requests to a live server, with an editor's token."""

    def __init__(self, server: LiveServer, token: str) -> None:
        self.server = server
        self.token = token

    async def run(self, query: str, **variables: Any) -> dict[str, Any]:
        # A new connection per request, so that with several workers the
        # requests spread over them.
        async with httpx.AsyncClient(base_url=self.server.url, timeout=TIMEOUT) as client:
            response = await client.post("/graphql", json={"query": query, "variables": variables},
                                         headers={"authorization": f"Bearer {self.token}"})
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]

    async def city_id(self, name: str) -> str:
        return str((await self.run(CITY, name=name))["city"]["id"])

    async def first_partnership_of(self, name: str) -> str:
        data = await self.run(PARTNERSHIPS_OF, name=name)
        return str(data["city"]["partnerships"]["nodes"][0]["id"])


@asynccontextmanager
async def subscription(server: LiveServer, variables: dict[str, Any] | None = None
                       ) -> AsyncIterator[ClientConnection]:
    url = server.url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init"}))
        ack = await next_message(ws)
        assert ack["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": PARTNERSHIP_CHANGED, "variables": variables or {}}}))
        yield ws


async def next_message(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next protocol message, which must be a text frame: `websockets` hands over
    binary frames as bytes just as readily, where graphql-ws and gql refuse them."""
    frame = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(frame, str), f"graphql-transport-ws message sent as a binary frame: {frame!r}"
    message: dict[str, Any] = json.loads(frame)
    return message


async def event_for(ws: ClientConnection, partnership_id: str, action: str) -> dict[str, Any]:
    """The next event about this partnership with this action, skipping others (the probes)."""
    while True:
        message = await next_message(ws)
        assert message["type"] == "next", message
        event: dict[str, Any] = message["payload"]["data"]["partnershipChanged"]
        if event["partnershipId"] == partnership_id and event["action"] == action:
            return event


async def until_subscribed(api: Api, sockets: list[ClientConnection], probe_id: str) -> None:
    """Write until every socket has seen an event: only then is each subscription live.

    graphql-transport-ws has no acknowledgement of `subscribe`, and a write made
    before the server has registered the subscription is, rightly, not delivered.
    """
    waiting = set(range(len(sockets)))
    for attempt in range(40):
        await api.run(PROBE, id=probe_id, text=f"probe {attempt}")
        for i in list(waiting):
            try:
                message = await next_message(sockets[i], timeout=0.5)
            except TimeoutError:
                continue
            assert message["type"] == "next", message
            waiting.discard(i)
        if not waiting:
            # Drain the probes still on their way, so tests see only their own events.
            for ws in sockets:
                while True:
                    try:
                        await next_message(ws, timeout=0.3)
                    except TimeoutError:
                        break
            return
    raise AssertionError(f"{len(waiting)} subscription(s) never became live")


async def new_partnership(api: Api, a: str, b: str) -> str:
    data = await api.run(CREATE_PARTNERSHIP, input={
        "cities": [await api.city_id(a), await api.city_id(b)],
        "kind": "FRIENDSHIP", "status": "PROPOSED", "since": "2026"})
    return str(data["createPartnership"]["id"])


async def test_a_partnership_created_over_http_reaches_a_websocket_subscriber(
        server_and_token: tuple[LiveServer, str]) -> None:
    # given
    server, token = server_and_token
    api = Api(server, token)
    probe = await api.first_partnership_of("Le Havre")
    async with subscription(server) as ws:
        await until_subscribed(api, [ws], probe)
        # when
        created = await new_partnership(api, "Da Nang", "Kitakyushu")
        # then
        event = await event_for(ws, created, "CREATED")
    assert event["partnership"]["id"] == created
    assert event["partnership"]["kind"] == "FRIENDSHIP"
    assert {c["name"] for c in event["partnership"]["cities"]} == {"Da Nang", "Kitakyushu"}


async def test_a_city_subscription_gets_only_its_partnerships_and_deletions_carry_no_object(
        server_and_token: tuple[LiveServer, str]) -> None:
    server, token = server_and_token
    api = Api(server, token)
    da_nang = await api.city_id("Da Nang")
    async with subscription(server, {"city": da_nang}) as ws:
        await until_subscribed(api, [ws], await api.first_partnership_of("Da Nang"))
        elsewhere = await new_partnership(api, "Boston", "Kitakyushu")
        mine = await new_partnership(api, "Da Nang", "Boston")
        created = await event_for(ws, mine, "CREATED")
        await api.run(DELETE_PARTNERSHIP, id=mine)
        deleted = await event_for(ws, mine, "DELETED")
        await api.run(DELETE_PARTNERSHIP, id=elsewhere)
        with pytest.raises(TimeoutError):
            await next_message(ws, timeout=1.0)
    assert created["partnership"]["id"] == mine
    assert deleted == {"action": "DELETED", "partnershipId": mine, "partnership": None}


async def test_a_malformed_city_id_ends_the_subscription_with_bad_user_input(
        server_and_token: tuple[LiveServer, str]) -> None:
    server, _ = server_and_token
    async with subscription(server, {"city": "not an id"}) as ws:
        message = await next_message(ws)
    errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    assert message["type"] in ("next", "error")
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["extensions"]["field"] == "city"



@pytest.fixture
def two_workers_and_token(pg_url: str) -> Iterator[tuple[LiveServer, str]]:
    # Several worker processes share one PostgreSQL; SQLite runs in one process.
    db_url = pg_url
    token = _editor_token(db_url)
    server = LiveServer(db_url, workers=2).start()
    yield server, token
    server.stop()


async def test_a_write_on_one_worker_reaches_subscribers_on_every_worker(
        two_workers_and_token: tuple[LiveServer, str]) -> None:
    server, token = two_workers_and_token
    api = Api(server, token)
    async with AsyncExitStack() as stack:
        sockets: list[ClientConnection] = []
        workers: set[int | None] = set()
        # Keep opening subscriptions until both workers hold at least one.
        while len(workers - {None}) < 2 and len(sockets) < 24:
            ws = await stack.enter_async_context(subscription(server))
            sockets.append(ws)
            for _ in range(20):
                worker = server.worker_serving(ws.local_address[1])
                if worker is not None:
                    break
                await asyncio.sleep(0.05)
            workers.add(worker)
        assert len(workers - {None}) == 2, "could not place subscribers on both workers"
        await until_subscribed(api, sockets, await api.first_partnership_of("Le Havre"))
        # Several writes, each on a new connection: they land on either worker.
        created = [await new_partnership(api, "Hai Phong", other)
                   for other in ("Boston", "San Diego", "Kyoto")]
        for ws in sockets:
            for pid in created:
                event = await event_for(ws, pid, "CREATED")
                assert event["partnership"]["id"] == pid


# ---------------------------------------------------------------- the broadcaster itself


async def test_only_committed_writes_reach_subscribers(database: Database) -> None:
    events = EventBroadcaster(database)
    await events.start()
    try:
        async with events.subscribe() as subscriber:
            # given: a write that fails after it has changed rows
            with pytest.raises(RuntimeError):
                async with events.write() as session:
                    await writes.create_place(session, {
                        "name": "Hoi An", "level": "CITY", "country": "VN"})
                    raise RuntimeError("abandoned")
            # when: a write commits
            async with events.write() as session:
                place = await writes.create_place(session, {
                    "name": "My Son", "level": "CITY", "country": "VN"})
            # then: its event, and only its event, arrives
            event = await asyncio.wait_for(subscriber.get(), TIMEOUT)
            assert (event.entity_type, event.action, event.entity_id) == (
                "city", "created", place.id)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(subscriber.get(), 0.5)
    finally:
        await events.stop()


async def test_a_subscriber_that_falls_too_far_behind_is_cut_off() -> None:
    subscriber = Subscriber(limit=2)
    for i in range(3):
        subscriber.push(ChangeEvent("partnership", "created", i))
    with pytest.raises(SubscriberOverflow):
        await subscriber.get()


def test_an_event_too_big_for_notify_keeps_what_subscribers_need() -> None:
    event = ChangeEvent("milestone", "created", 7, (1, 2),
                        {"partnershipId": 3, "description": "x" * 10_000})
    payload = encode_event(event)
    assert len(payload.encode()) < MAX_PAYLOAD_BYTES
    assert decode_event(payload) == ChangeEvent("milestone", "created", 7, (1, 2),
                                                {"partnershipId": 3})
