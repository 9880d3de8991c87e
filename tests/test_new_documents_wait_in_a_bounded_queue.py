"""New documents are decided off the event loop, behind a bounded queue: past its places
(per client, and overall) a new document is refused RATE_LIMITED with Retry-After, another
client's new document still finds a place, a document seen before never waits in it, and
one new document sent many times at once is decided once."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from citylinks.schema import pipeline
from citylinks.server import create_app
from citylinks.settings import Settings

from tests.conftest import uncached

# Parsed in about 15 ms, then refused for its validation work: a slow new document.
REPEATED = "{ " + " ".join(["stats { cities }"] * 390) + " }"
SECTORS = "{ sectors { slug } }"
FLOOD = 3 * pipeline.MAX_WAITING_PER_CLIENT


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[Any]:
    app = create_app(Settings(db_url=db_url, rate_limit=0, webhook_delivery=False,
                              request_log=False))
    async with app.router.lifespan_context(app):
        yield app


def _client(app: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://citylinks.test")


async def _post(client: httpx.AsyncClient, query: str,
                finished: list[str] | None = None, label: str = "") -> httpx.Response:
    response = await client.post("/graphql", json={"query": query})
    if finished is not None:
        finished.append(label)
    return response


def _code(response: httpx.Response) -> str:
    body = response.json()
    return str(body["errors"][0]["extensions"]["code"]) if "errors" in body else "data"


async def test_a_clients_new_documents_past_its_places_are_refused_rate_limited(
        app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with _client(app, "192.0.2.1") as flooder, _client(app, "192.0.2.2") as other:
        # given: a document the gate has decided before
        assert _code(await _post(flooder, SECTORS)) == "data"
        decided: list[str] = []
        original = pipeline.DocumentGate._decide

        def counted(gate: Any, query: str, operation_name: str | None) -> Any:
            decided.append(query)
            return original(gate, query, operation_name)

        monkeypatch.setattr(pipeline.DocumentGate, "_decide", counted)
        finished: list[str] = []
        # when: one client sends three times its places of slow new documents at once,
        # while it asks the known document and another client a new one
        answers = await asyncio.gather(
            *(_post(flooder, uncached(REPEATED), finished, "flood") for _ in range(FLOOD)),
            _post(flooder, SECTORS, finished, "known"),
            _post(other, uncached(SECTORS), finished, "other"))
    *flood, known, new_elsewhere = answers
    # then: the documents past its places are refused before any parse, with a retry time
    busy = [r for r in flood if r.status_code == 429]
    assert len(busy) == FLOOD - pipeline.MAX_WAITING_PER_CLIENT
    assert {_code(r) for r in busy} == {"RATE_LIMITED"}
    assert {r.headers["retry-after"] for r in busy} == {"1"}
    assert {r.json()["errors"][0]["extensions"]["retryAfter"] for r in busy} == {1}
    assert {_code(r) for r in flood if r.status_code != 429} == {"QUERY_TOO_COMPLEX"}
    # the known document is answered without a place in the queue (so without waiting for
    # it to drain); the other client's new document found a place
    assert _code(known) == "data"
    assert SECTORS not in decided
    assert finished.index("known") < len(finished) - 1
    assert _code(new_elsewhere) == "data"
    assert len(decided) == pipeline.MAX_WAITING_PER_CLIENT + 1


async def test_the_queue_has_places_for_all_clients_together(
        app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "MAX_WAITING", 6)
    clients = [_client(app, f"192.0.2.{n}") for n in range(1, 4)]
    try:
        answers = await asyncio.gather(*(_post(client, uncached(REPEATED))
                                         for client in clients for _ in range(4)))
    finally:
        for client in clients:
            await client.aclose()
    assert sorted(r.status_code for r in answers) == [200] * 6 + [429] * 6


async def test_the_queue_is_free_again_once_decided(app: Any) -> None:
    async with _client(app, "192.0.2.1") as client:
        await asyncio.gather(*(_post(client, uncached(REPEATED)) for _ in range(FLOOD)))
        answers = await asyncio.gather(
            *(_post(client, uncached(REPEATED))
              for _ in range(pipeline.MAX_WAITING_PER_CLIENT)))
    assert {_code(r) for r in answers} == {"QUERY_TOO_COMPLEX"}


async def test_one_new_document_sent_many_times_at_once_is_decided_once(
        app: Any, parsed: list[str]) -> None:
    document = uncached(REPEATED)
    async with _client(app, "192.0.2.1") as client:
        answers = await asyncio.gather(*(_post(client, document) for _ in range(FLOOD)))
    assert {_code(r) for r in answers} == {"QUERY_TOO_COMPLEX"}
    assert parsed == [document]


async def test_a_client_that_hangs_up_keeps_its_place_until_its_document_is_decided(
        app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "MAX_WAITING_PER_CLIENT", 2)
    gate: pipeline.DocumentGate = app.state.graphql.schema.gate
    # given: two slow new documents, their requests gone (a socket closed) at once
    gone = [asyncio.create_task(gate.decide(uncached(REPEATED), None, "addr:192.0.2.1"))
            for _ in range(2)]
    await asyncio.sleep(0)
    for task in gone:
        task.cancel()
    # then: their work still holds the client's places
    with pytest.raises(pipeline.GateBusy):
        await gate.decide(uncached(REPEATED), None, "addr:192.0.2.1")
    # and once it is done, the places are free again
    for _ in range(200):
        await asyncio.sleep(0.01)
        try:
            verdict = await gate.decide(uncached(SECTORS), None, "addr:192.0.2.1")
            break
        except pipeline.GateBusy:
            continue
    assert verdict.errors is None


async def test_the_interpreter_switches_often_only_while_the_gate_decides(
        app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The event loop's turn comes within GATE_SWITCH_INTERVAL_S while the gate's thread
    # parses; with nothing to decide, the interval is the one the process had.
    outside = sys.getswitchinterval()
    assert outside > pipeline.GATE_SWITCH_INTERVAL_S
    seen: list[float] = []
    original = pipeline.DocumentGate._decide

    def recording(gate: Any, query: str, operation_name: str | None) -> Any:
        seen.append(sys.getswitchinterval())
        return original(gate, query, operation_name)

    monkeypatch.setattr(pipeline.DocumentGate, "_decide", recording)
    async with _client(app, "192.0.2.1") as client:
        assert _code(await _post(client, uncached(SECTORS))) == "data"
    assert seen == [pytest.approx(pipeline.GATE_SWITCH_INTERVAL_S)]
    assert sys.getswitchinterval() == outside
