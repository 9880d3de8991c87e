"""Others keep their service under attack: while 16 clients send the worst documents they can
(over the limits, deep validation, float page sizes, unpaged lists, persisted-query floods,
malformed bodies, socket floods), one well-behaved client runs the benchmark's Q1. Its p99
stays within 2x of its p99 alone, and the server's memory stays bounded.

A real server on loopback, bounded in count and time (30-75 s on a shared 2-core machine).
Each attacker sends one request after another, paced (ATTACK_INTERVAL_S), each with a fresh
random comment where that defeats the cached verdicts; the figures it prints go to the
README ("Running it in public")."""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import os
import random
import secrets
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from websockets.asyncio.client import connect

from tests.conftest import LiveServer, fresh_store, uncached

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from shapes import SHAPES

pytestmark = pytest.mark.slow

CITY = 'query { city(name: "hai phong") { id } }'
OVER_COST = ("{ cities(first: 100) { nodes { partners(first: 100) { nodes { city { "
             "partners(first: 100) { nodes { kind } } } } } } } }")
FLOAT_PAGES = ("query ($n: Int) { cities(first: $n) { nodes { partners(first: $n) { nodes { "
               "city { partners(first: $n) { nodes { kind } } } } } } } }")
REPEATED = "{ " + " ".join(["stats { cities }"] * 390) + " }"  # just under the token cap
UNPAGED = ("{ countries { cities(first: 100) { nodes { partners(first: 100) { nodes { "
           "kind } } } } } }")
NODES = ("query ($ids: [ID!]!) { nodes(ids: $ids) { id ... on City { partners(first: 100) { "
         "nodes { kind } } } } }")
TOO_MANY_TOKENS = "{ " + "sectors { slug } " * 700 + "}"
DEEP_BRACKETS = "{ city(name: \"x\") " + "{ parent " * 300 + "{ name }" + " }" * 300 + " }"
NESTED_JSON = b'{"query": "{ sectors { slug } }", "variables": {"a": ' + b"[" * 1000 \
    + b"]" * 1000 + b"}}"
SECTORS = "{ sectors { slug } }"

ATTACKERS = 16
# Each attacker: one request, then a pause of this on average (drawn between half and one
# and a half times it, so that the 16 drift apart as independent clients would).
ATTACK_INTERVAL_S = 0.5
# Alone and under attack by turns, in short blocks, so that the shared machine's own load,
# which comes and goes in bursts of seconds, falls on both alike.
BLOCKS = 20
GOOD_PER_BLOCK = 100
# The server and the good client run this much ahead of the machine's other processes
# (where the user may raise priority: root, as in CI): on a 2-core machine shared with
# other test suites, their bursts otherwise decide the p99 alone and under attack alike
# (20-80 ms either way at a load average of 6-9). The attackers stay behind, niced.
AHEAD = -10
ALONE_SAMPLES = 10  # each attack timed alone, for the README's figures


def _code(body: Any) -> str:
    try:
        return str(body["errors"][0]["extensions"]["code"])
    except (KeyError, IndexError, TypeError):
        return "data"


Attack = Callable[[httpx.AsyncClient, str], Awaitable[tuple[int, str]]]


async def _post(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[int, str]:
    response = await client.post("/graphql", json=body)
    return response.status_code, _code(response.json())


async def over_cost(client: httpx.AsyncClient, _: str) -> tuple[int, str]:
    return await _post(client, {"query": uncached(OVER_COST)})


async def deep_validation(client: httpx.AsyncClient, _: str) -> tuple[int, str]:
    return await _post(client, {"query": uncached(REPEATED)})


async def float_pages(client: httpx.AsyncClient, _: str) -> tuple[int, str]:
    return await _post(client, {"query": FLOAT_PAGES, "variables": {"n": 100.0}})


async def unpaged_lists(client: httpx.AsyncClient, _: str) -> tuple[int, str]:
    return await _post(client, {"query": uncached(UNPAGED)})


async def many_ids(client: httpx.AsyncClient, _: str) -> tuple[int, str]:
    return await _post(client, {"query": NODES, "variables": {"ids": ["Q2l0eTox"] * 1000}})


async def too_many_tokens(client: httpx.AsyncClient, _: str) -> tuple[int, str]:
    return await _post(client, {"query": uncached(TOO_MANY_TOKENS)})


async def deep_brackets(client: httpx.AsyncClient, _: str) -> tuple[int, str]:
    return await _post(client, {"query": uncached(DEEP_BRACKETS)})


async def nested_json(client: httpx.AsyncClient, _: str) -> tuple[int, str]:
    response = await client.post("/graphql", content=NESTED_JSON,
                                 headers={"content-type": "application/json"})
    return response.status_code, _code(response.json())


async def apq_unknown_hashes(client: httpx.AsyncClient, _: str) -> tuple[int, str]:
    digest = secrets.token_hex(32)
    return await _post(client, {"extensions": {"persistedQuery": {
        "version": 1, "sha256Hash": digest}}})


async def apq_registrations(client: httpx.AsyncClient, _: str) -> tuple[int, str]:
    query = uncached(SECTORS)
    digest = hashlib.sha256(query.encode()).hexdigest()
    return await _post(client, {"query": query, "extensions": {"persistedQuery": {
        "version": 1, "sha256Hash": digest}}})


async def get_star(client: httpx.AsyncClient, _: str) -> tuple[int, str]:
    response = await client.get("/graphql", params={"query": uncached(OVER_COST)},
                                headers={"if-none-match": "*"})
    return response.status_code, _code(response.json()) if response.content else "empty"


def _socket_attack(document: str, variables: dict[str, Any] | None = None) -> Attack:
    """One socket, kept open, one operation after another."""
    sockets: dict[str, Any] = {}

    async def attack(_: httpx.AsyncClient, base_url: str) -> tuple[int, str]:
        ws = sockets.get("ws")
        if ws is None:
            ws = await connect(base_url.replace("http://", "ws://") + "/graphql",
                               subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init"}))
            await ws.recv()
            sockets["ws"] = ws
            sockets["n"] = 0
        sockets["n"] += 1
        operation_id = str(sockets["n"])
        await ws.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": {
            "query": uncached(document), "variables": variables}}))
        while True:
            message = json.loads(await ws.recv())
            if message.get("id") == operation_id and message["type"] in ("error", "complete",
                                                                          "next"):
                break
        code = (message["payload"][0]["extensions"]["code"] if message["type"] == "error"
                else "data")
        return 101, code

    return attack


async def socket_churn(_: httpx.AsyncClient, base_url: str) -> tuple[int, str]:
    """A new socket per operation: open, init, an over-limit operation, close."""
    async with connect(base_url.replace("http://", "ws://") + "/graphql",
                       subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init"}))
        await ws.recv()
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": uncached(OVER_COST)}}))
        message = json.loads(await ws.recv())
    return 101, message["payload"][0]["extensions"]["code"]


ATTACKS: dict[str, Attack] = {
    "over the cost limit (POST)": over_cost,
    "a field repeated 390 times (validation budget)": deep_validation,
    "float page sizes (`first: 100.0`)": float_pages,
    "unpaged lists (`countries`)": unpaged_lists,
    "`nodes` with 1,000 ids": many_ids,
    "over the token cap": too_many_tokens,
    "brackets nested 300 deep": deep_brackets,
    "JSON nested 1,000 deep": nested_json,
    "unknown persisted-query hashes": apq_unknown_hashes,
    "persisted-query registrations": apq_registrations,
    "GET over a limit with `If-None-Match: *`": get_star,
    "socket: over the cost limit": _socket_attack(OVER_COST),
    "socket: a field repeated 390 times": _socket_attack(REPEATED),
    "socket: float page sizes": _socket_attack(FLOAT_PAGES, {"n": 100.0}),
    "socket: unpaged lists": _socket_attack(UNPAGED),
    "sockets opened and closed": socket_churn,
}


async def _good_client(client: httpx.AsyncClient, body: dict[str, Any],
                       count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = await client.post("/graphql", json=body)
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200 and "errors" not in response.json()
    return latencies


def _p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98]


async def _attacker(name: str, attack: Attack, base_url: str, on: Any, done: Any,
                    answers: dict[str, list[tuple[int, str, float]]]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        paused = True
        while not done.is_set():
            if not on.is_set():
                paused = True
                await asyncio.sleep(0.02)
                continue
            if paused:  # each at its own moment, not all 16 at once
                paused = False
                await asyncio.sleep(random.uniform(0, ATTACK_INTERVAL_S))
            started = time.perf_counter()
            status, code = await attack(client, base_url)
            answers[name].append((status, code, time.perf_counter() - started))
            await asyncio.sleep(ATTACK_INTERVAL_S * random.uniform(0.5, 1.5))


def _attack_process(base_url: str, on: Any, done: Any, results: Any) -> None:
    """The attackers, in a process of their own (the good client's timings must not wait
    on the attackers' work in one event loop), niced: on a shared machine the load
    generator must not take the server's CPU, only the server's answers are measured."""
    os.nice(19)

    async def attack_all() -> dict[str, list[tuple[int, str, float]]]:
        answers: dict[str, list[tuple[int, str, float]]] = defaultdict(list)
        await asyncio.gather(*(_attacker(name, attack, base_url, on, done, answers)
                               for name, attack in ATTACKS.items()))
        return dict(answers)

    results.put(asyncio.run(attack_all()))


@contextmanager
def _ahead_of_the_machine() -> Iterator[None]:
    """This thread (the good client's) ahead of the machine's other work, if it may be."""
    try:
        os.nice(AHEAD)
    except PermissionError:
        yield
        return
    try:
        yield
    finally:
        os.nice(-AHEAD)


async def _each_attack_alone(base_url: str) -> dict[str, float]:
    """The median time each attack takes to be answered with nothing else going on."""
    alone: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for name, attack in ATTACKS.items():
            times = []
            for _ in range(ALONE_SAMPLES):
                started = time.perf_counter()
                await attack(client, base_url)
                times.append(time.perf_counter() - started)
            alone[name] = statistics.median(times)
    return alone


async def test_others_keep_their_service_under_attack(templates: dict[str, str],
                                                      tmp_path: Path) -> None:
    url, _ = fresh_store("sqlite", templates, tmp_path)
    with _ahead_of_the_machine():
        await _attack_and_measure(url)


async def _attack_and_measure(url: str) -> None:
    # (started from this thread, the server runs as far ahead of the machine as it does)
    server = LiveServer(url, env={"CITYLINKS_WEBHOOK_DELIVERY": "0",
                                  # The attackers share the loopback address with the
                                  # good client: a high limit lets every attack reach the
                                  # steps after the rate limit, the harder case.
                                  "CITYLINKS_RATE_LIMIT": "1000000",
                                  "CITYLINKS_REQUEST_LOG": "0",
                                  # The good client asks the same Q1 again and again: from
                                  # the response cache it would measure a dictionary
                                  # look-up, not the query the front door must protect.
                                  "CITYLINKS_RESPONSE_CACHE": "0"}).start()
    try:
        assert server.process is not None
        process = psutil.Process(server.process.pid)
        async with httpx.AsyncClient(base_url=server.url) as client:
            city = (await client.post("/graphql", json={"query": CITY})).json()
        body = {"query": SHAPES["Q1"], "variables": {"id": city["data"]["city"]["id"]}}
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as warm:
            await _good_client(warm, body, 100)
        each_alone = await _each_attack_alone(server.url)
        rss_before = process.memory_info().rss

        context = multiprocessing.get_context("spawn")
        on, done, results = context.Event(), context.Event(), context.Queue()
        attackers = context.Process(target=_attack_process,
                                    args=(server.url, on, done, results))
        attackers.start()
        alone: list[float] = []
        attacked: list[float] = []
        rss_peak = rss_before
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as good:
            for _ in range(BLOCKS):
                calm = await _good_client(good, body, GOOD_PER_BLOCK)
                on.set()
                await asyncio.sleep(0.5)  # every attack under way
                stormy = await _good_client(good, body, GOOD_PER_BLOCK)
                on.clear()
                alone += calm
                attacked += stormy
                rss_peak = max(rss_peak, process.memory_info().rss)
                await asyncio.sleep(0.5)  # the attacks in flight answered
        done.set()
        answers = await asyncio.to_thread(results.get, True, 60)
        attackers.join(30)
        rss_after = process.memory_info().rss
        output = server.output()
    finally:
        server.stop()

    assert len(ATTACKS) == ATTACKERS
    for label, sample in (("alone", alone), ("attacked", attacked)):
        q = statistics.quantiles(sample, n=100)
        print(label, " ".join(f"p{p} {q[p - 1] * 1000:.2f}" for p in (50, 90, 95, 98, 99)),
              f"max {max(sample) * 1000:.1f}")
    print(f"\nQ1 alone: p50 {statistics.median(alone) * 1000:.2f} ms, "
          f"p99 {_p99(alone) * 1000:.2f} ms; under attack: p50 "
          f"{statistics.median(attacked) * 1000:.2f} ms, p99 {_p99(attacked) * 1000:.2f} ms; "
          f"server RSS {rss_before / 2**20:.0f} MB before, peak {rss_peak / 2**20:.0f} MB, "
          f"after {rss_after / 2**20:.0f} MB")
    print("| attack | answer | requests | alone, median | under attack, median |")
    for name, results in answers.items():
        statuses = sorted({f"{status} {code}" for status, code, _ in results})
        times = [seconds for *_, seconds in results]
        print(f"| {name} | {', '.join(statuses)} | {len(results)} | "
              f"{each_alone[name] * 1000:.1f} ms | {statistics.median(times) * 1000:.1f} ms |")
    for name, results in answers.items():
        assert results, f"{name} never answered"
        assert all(code != "INTERNAL_SERVER_ERROR" for _, code, _ in results), name
        if name != "persisted-query registrations":
            assert all(code != "data" for _, code, _ in results), f"{name} was answered"
    assert "Traceback" not in output
    # Alone and under attack by turns: the shared machine's own load, which comes and
    # goes, falls on both alike.
    assert _p99(attacked) <= 2 * _p99(alone)
    assert rss_peak - rss_before < 64 * 2**20
