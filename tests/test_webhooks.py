"""Webhooks (Standard Webhooks), against a real HTTP receiver on loopback: the documented
events, signed; retries under one webhook-id; delivery across a crash; two workers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psutil
import pytest
from citylinks.auth import create_token
from citylinks.db.engine import create_database
from citylinks.settings import Settings
from citylinks.webhooks.store import add_webhook, list_deliveries
from standardwebhooks import Webhook as Verifier

from tests.conftest import LiveServer, running_app

CREATE_CITY = """
mutation Create($name: String!) {
  createCity(input: {name: $name, level: CITY, country: "LA"}) { id }
}
"""
UPDATE_CITY = """
mutation Update($id: ID!) { updateCity(id: $id, input: {population: 41000}) { id } }
"""
DELETE_CITY = "mutation Delete($id: ID!) { deleteCity(id: $id) }"
CITY = 'query City($name: String!) { city(name: $name) { id } }'
CREATE_PARTNERSHIP = """
mutation Twin($a: ID!, $b: ID!) {
  createPartnership(input: {cities: [$a, $b], kind: FRIENDSHIP, status: ACTIVE,
                            since: "2024-05"}) { id }
}
"""
UPDATE_PARTNERSHIP = """
mutation Renew($id: ID!) { updatePartnership(id: $id, input: {status: SUSPENDED}) { id } }
"""
ADD_MILESTONE = """
mutation Step($id: ID!) {
  addMilestone(partnership: $id, input: {date: "2025-01", kind: VISIT,
                                         description: "A delegation visits."}) { id }
}
"""
DELETE_PARTNERSHIP = "mutation Delete($id: ID!) { deletePartnership(id: $id) }"

# Fast enough for tests: look for due deliveries every 50 ms, retry after 50-100 ms; the
# receivers listen on loopback.
FAST = {"webhook_poll_interval": 0.05, "webhook_retry_base": 0.1, "webhook_retry_max": 0.4,
        "webhook_timeout": 2.0, "webhook_allow_private": True}
FAST_ENV = {f"CITYLINKS_{name.upper()}": str(value) for name, value in FAST.items()}
WAIT = 20.0


# ---------------------------------------------------------------- the receiver


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    status: int
    started: float
    ended: float
    client_port: int

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]

    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


class Receiver:
    """An HTTP server on loopback that records every request and answers with `answer()`."""

    def __init__(self, answer: Callable[[int], int] = lambda n: 200,
                 hold: float = 0.0) -> None:
        self.answer = answer
        self.hold = hold
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the dispatcher's client wants

            def do_POST(self) -> None:
                started = time.monotonic()
                body = self.rfile.read(int(self.headers["content-length"]))
                with receiver._lock:
                    status = receiver.answer(len(receiver.received))
                time.sleep(receiver.hold)
                text = b"ok" if status < 300 else b"receiver is down for maintenance"
                self.send_response(status)
                self.send_header("content-length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
                with receiver._lock:
                    receiver.received.append(Received(
                        {k.lower(): v for k, v in self.headers.items()}, body, status, started,
                        time.monotonic(), self.client_address[1]))

            def log_message(self, *args: Any) -> None:
                """Quiet: the test asserts what arrived."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/citylinks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def delivered(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.status < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    async def wait_for(self, count: int, timeout: float = WAIT) -> list[Received]:
        """The first `count` successful deliveries, waiting for them without blocking the loop."""
        deadline = time.monotonic() + timeout
        while len(self.delivered()) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        delivered = self.delivered()
        assert len(delivered) >= count, f"{len(delivered)} of {count} deliveries arrived"
        return delivered


async def settled_deliveries(db: Any, timeout: float = WAIT) -> list[Any]:
    """The delivery log once every delivery is delivered or given up: a receiver has its
    answer a moment before the dispatcher records it."""
    deadline = time.monotonic() + timeout
    while True:
        async with db.write() as session:
            log = await list_deliveries(session)
        settled = bool(log) and all(d.status in ("delivered", "failed") for d in log)
        if settled or time.monotonic() > deadline:
            return log
        await asyncio.sleep(0.02)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def verified(secret: str, item: Received) -> dict[str, Any]:
    """The event, after the standardwebhooks reference library checked its signature."""
    payload: dict[str, Any] = Verifier(secret).verify(item.body, item.headers)
    return payload


async def subscribe(db_url: str, url: str, events: list[str] | None = None) -> str:
    """A webhook for `url`; its secret."""
    database = create_database(db_url)
    try:
        async with database.write() as session:
            _, secret = await add_webhook(session, url, events, allow_private=True)
        return secret
    finally:
        await database.dispose()


async def editor_token(db_url: str) -> str:
    database = create_database(db_url)
    try:
        async with database.write() as session:
            _, token = await create_token(session, "editor", "webhook tests")
        return token
    finally:
        await database.dispose()


class Api:
    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.token = token

    async def run(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {self.token}"})
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]


@pytest.fixture
async def app_with_webhook(db_url: str, receiver: Receiver
                           ) -> AsyncIterator[tuple[Api, str, Any]]:
    """The app, delivering fast, with `receiver` subscribed to every event."""
    secret = await subscribe(db_url, receiver.url)
    token = await editor_token(db_url)
    async with running_app(Settings(db_url=db_url, **FAST)) as (app, client):
        yield Api(client, token), secret, app


# ---------------------------------------------------------------- events and signatures


async def test_each_mutation_produces_exactly_its_documented_event_signed(
        app_with_webhook: tuple[Api, str, Any], receiver: Receiver, db_url: str) -> None:
    api, secret, _ = app_with_webhook
    # a second receiver subscribed to one event type only
    only_cities = Receiver()
    try:
        only_secret = await subscribe(db_url, only_cities.url, ["city.created"])
        # when: one mutation of each kind
        city = (await api.run(CREATE_CITY, name="Sekong"))["createCity"]["id"]
        await api.run(UPDATE_CITY, id=city)
        da_nang = (await api.run(CITY, name="da nang"))["city"]["id"]
        partnership = (await api.run(CREATE_PARTNERSHIP, a=city, b=da_nang)
                       )["createPartnership"]["id"]
        await api.run(UPDATE_PARTNERSHIP, id=partnership)
        await api.run(ADD_MILESTONE, id=partnership)
        await api.run(DELETE_PARTNERSHIP, id=partnership)
        await api.run(DELETE_CITY, id=city)

        # then: exactly the seven documented events, in order, each signed and verifiable
        delivered = await receiver.wait_for(7)
        await asyncio.sleep(0.3)  # a few more polls: nothing else may arrive
        delivered = sorted(receiver.delivered(), key=lambda r: r.event()["timestamp"])
        events = [verified(secret, item) for item in delivered]
        assert [e["type"] for e in events] == [
            "city.created", "city.updated", "partnership.created", "partnership.updated",
            "milestone.created", "partnership.deleted", "city.deleted"]
        assert [e["data"]["id"] for e in events] == [city, city, partnership, partnership,
                                                     partnership, partnership, city]
        assert all(set(e) == {"type", "timestamp", "data"} for e in events)
        assert events[0]["data"]["name"] == "Sekong" and events[0]["data"]["level"] == "CITY"
        assert events[1]["data"]["population"] == 41000
        assert events[2]["data"]["kind"] == "FRIENDSHIP" and events[2]["data"]["since"] == "2024-05"
        assert events[3]["data"]["status"] == "SUSPENDED"
        assert events[4]["data"]["kind"] == "VISIT" and events[4]["data"]["date"] == "2025-01"
        assert len({item.message_id for item in delivered}) == 7
        assert all(item.headers["content-type"] == "application/json" for item in delivered)
        # a signature made with another secret is refused by the same library
        with pytest.raises(Exception, match=r"(?i)signature"):
            Verifier(only_secret).verify(delivered[0].body, delivered[0].headers)
        # the filtered webhook got its one event type only
        only = await only_cities.wait_for(1)
        assert [verified(only_secret, item)["type"] for item in only] == ["city.created"]
    finally:
        only_cities.close()


async def test_a_refused_write_sends_nothing(
        app_with_webhook: tuple[Api, str, Any], receiver: Receiver) -> None:
    api, _, _ = app_with_webhook
    response = await api.client.post("/graphql", json={
        "query": CREATE_CITY.replace('"LA"', '"XX"'), "variables": {"name": "Nowhere"}},
        headers={"authorization": f"Bearer {api.token}"})
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    await asyncio.sleep(0.4)

    assert receiver.received == []


# ---------------------------------------------------------------- retries, log, give-up


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_receiver_failing_three_times_gets_the_event_under_the_same_webhook_id(
        db_url: str) -> None:
    receiver = Receiver(answer=lambda n: 500 if n < 3 else 200)
    try:
        secret = await subscribe(db_url, receiver.url)
        token = await editor_token(db_url)
        async with running_app(Settings(db_url=db_url, **FAST)) as (app, client):
            await Api(client, token).run(CREATE_CITY, name="Attapeu")
            await receiver.wait_for(1)
            log = await settled_deliveries(app.state.db)
    finally:
        receiver.close()

    # then: four attempts of one message, each freshly signed, the fourth accepted
    assert [r.status for r in receiver.received] == [500, 500, 500, 200]
    assert len({r.message_id for r in receiver.received}) == 1
    assert all(verified(secret, r)["type"] == "city.created" for r in receiver.received)
    # with backoff between them: 50-100 ms, then 100-200 ms, then 200-400 ms
    gaps = [b.started - a.ended for a, b in zip(receiver.received, receiver.received[1:],
                                                 strict=False)]
    assert gaps[0] >= 0.04 and gaps[2] >= 0.15, gaps
    # and the delivery log says so
    assert [(d.status, d.attempts, d.last_status_code, d.last_error) for d in log] == [
        ("delivered", 4, 200, None)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_delivery_past_the_give_up_age_is_logged_failed_and_can_be_redelivered(
        db_url: str) -> None:
    down = True
    receiver = Receiver(answer=lambda n: 503 if down else 200)
    try:
        secret = await subscribe(db_url, receiver.url)
        token = await editor_token(db_url)
        settings = Settings(db_url=db_url, **{**FAST, "webhook_give_up_after": 0.3})
        async with running_app(settings) as (app, client):
            await Api(client, token).run(CREATE_CITY, name="Salavan")
            # given: the receiver stays down past the give-up age
            log = await settled_deliveries(app.state.db)
            assert log[0].status == "failed" and log[0].last_status_code == 503
            assert "receiver is down for maintenance" in (log[0].last_error or "")
            attempts = len(receiver.received)

            # when: the CLI lists the failed deliveries, and queues them again
            cli = [sys.executable, "-m", "citylinks", "webhook"]
            listing = subprocess.run([*cli, "deliveries", "--failed", "--db", db_url],
                                     capture_output=True, text=True, timeout=60)
            down = False
            again = subprocess.run([*cli, "redeliver", "--failed", "--db", db_url],
                                   capture_output=True, text=True, timeout=60)
            delivered = await receiver.wait_for(1)
    finally:
        receiver.close()

    assert listing.returncode == 0, listing.stderr
    assert "city.created" in listing.stdout and "failed" in listing.stdout
    assert "503" in listing.stdout and log[0].message_id in listing.stdout
    assert again.returncode == 0 and again.stdout.startswith("1 delivery"), again.stdout
    # then: no attempt after giving up until redelivery; then the same message, accepted
    assert len(receiver.received) == attempts + 1
    assert delivered[0].message_id == log[0].message_id
    assert verified(secret, delivered[0])["data"]["name"] == "Salavan"


# ---------------------------------------------------------------- across a crash


def test_an_event_written_before_a_sigkill_is_delivered_after_the_restart(
        db_url: str, receiver: Receiver) -> None:
    secret = asyncio.run(subscribe(db_url, receiver.url))
    token = asyncio.run(editor_token(db_url))
    # given: a server that looks for deliveries only every minute, so that the write
    # lands in the outbox and stays there
    slow = LiveServer(db_url, env={**FAST_ENV, "CITYLINKS_WEBHOOK_POLL_INTERVAL": "60"})
    slow.start()
    try:
        time.sleep(0.3)  # past the loop's first look
        response = httpx.post(f"{slow.url}/graphql", json={
            "query": CREATE_CITY, "variables": {"name": "Phongsaly"}},
            headers={"authorization": f"Bearer {token}"}, timeout=WAIT)
        assert "errors" not in response.json(), response.json()
        city = response.json()["data"]["createCity"]["id"]
        # when: the server dies without a chance to send it
        slow.kill()
    finally:
        slow.stop()
    assert receiver.received == []

    server = LiveServer(db_url, env=FAST_ENV).start()
    try:
        delivered = asyncio.run(receiver.wait_for(1))
    finally:
        server.stop()

    # then: the restarted server delivered it
    assert len(delivered) == 1
    event = verified(secret, delivered[0])
    assert (event["type"], event["data"]["id"]) == ("city.created", city)


# ---------------------------------------------------------------- two workers


@pytest.fixture
def two_workers(pg_url: str) -> Iterator[tuple[LiveServer, Receiver, str, str]]:
    # Several worker processes share one PostgreSQL; SQLite runs in one process.
    db_url = pg_url
    # Each request held 10 ms, so that two sends of one event would overlap visibly.
    receiver = Receiver(hold=0.01)
    secret = asyncio.run(subscribe(db_url, receiver.url))
    token = asyncio.run(editor_token(db_url))
    # Small batches, so that both workers claim rows while the writes go on.
    server = LiveServer(db_url, workers=2, env={
        **FAST_ENV, "CITYLINKS_RATE_LIMIT": "0", "CITYLINKS_WEBHOOK_BATCH_SIZE": "5",
        "CITYLINKS_REQUEST_LOG": "0"}).start()
    yield server, receiver, secret, token
    server.stop()
    receiver.close()


def _ports_by_worker(server: LiveServer, receiver_port: int) -> dict[int, int]:
    """Local port -> worker pid, for the workers' open connections to the receiver."""
    assert server.process is not None
    found: dict[int, int] = {}
    for child in psutil.Process(server.process.pid).children(recursive=True):
        try:
            for conn in child.net_connections(kind="tcp"):
                if conn.raddr and conn.raddr.port == receiver_port and conn.laddr:
                    found[conn.laddr.port] = child.pid
        except psutil.Error:
            continue
    return found


def test_two_workers_deliver_200_writes_each_once_and_never_one_twice_at_once(
        two_workers: tuple[LiveServer, Receiver, str, str]) -> None:
    server, receiver, secret, token = two_workers

    async def write_all() -> list[str]:
        limits = httpx.Limits(max_keepalive_connections=0)  # spread over both workers
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT, limits=limits) as client:
            api = Api(client, token)
            gate = asyncio.Semaphore(16)

            async def one(i: int) -> str:
                async with gate:
                    data = await api.run(CREATE_CITY, name=f"Twin town {i:03d}")
                    return str(data["createCity"]["id"])

            return await asyncio.gather(*(one(i) for i in range(200)))

    # when: 200 writes, spread over both workers
    created = asyncio.run(write_all())
    worker_of_port: dict[int, int] = {}
    deadline = time.monotonic() + 60
    while len(receiver.delivered()) < 200 and time.monotonic() < deadline:
        worker_of_port.update(_ports_by_worker(server, receiver.port))
        time.sleep(0.02)
    time.sleep(0.3)  # nothing more may arrive
    worker_of_port.update(_ports_by_worker(server, receiver.port))

    # then: 200 events, each delivered, signed, once
    delivered = receiver.delivered()
    events = [verified(secret, r) for r in delivered]
    assert sorted(e["data"]["id"] for e in events) == sorted(created)
    assert {e["type"] for e in events} == {"city.created"}
    assert len({r.message_id for r in delivered}) == 200 == len(receiver.received)
    # and no event was ever in flight twice at the same time
    by_id: dict[str, list[Received]] = {}
    for r in receiver.received:
        by_id.setdefault(r.message_id, []).append(r)
    overlapping = [m for m, rs in by_id.items() for a in rs for b in rs
                   if a is not b and a.started < b.ended and b.started < a.ended]
    assert overlapping == []
    # both workers took part (their keep-alive connections name them)
    workers = {worker_of_port.get(r.client_port) for r in receiver.received} - {None}
    assert len(workers) == 2, "both workers should have delivered events"
