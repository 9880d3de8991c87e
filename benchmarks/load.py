"""The load generator: closed-loop HTTP/1.1 keep-alive clients on one pinned core.

Each of `--concurrency` clients holds one connection and sends the shape's
document back to back, with its variable drawn at random for every request
from the values prepared up front. Requests that start after the warm-up and
end before the deadline are counted. Prints one JSON object on stdout.

    python benchmarks/load.py --url http://127.0.0.1:8000/graphql --shape Q1 \
        --values values.json --concurrency 16 --seconds 5 [--warmup 1] [--cpu 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shapes import SHAPES, VARIABLE

REQUEST_TIMEOUT_S = 30.0


class Client(asyncio.Protocol):
    """One keep-alive connection; responses are framed by Content-Length or chunks."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        response = self._parse()
        if response is not None and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(response)

    def _parse(self) -> tuple[int, bytes] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if "content-length" in headers:
            stop = start + int(headers["content-length"])
            if len(self.buffer) < stop:
                return None
            body = bytes(self.buffer[start:stop])
            del self.buffer[:stop]
            return status, body
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            at = start
            while True:
                line_end = self.buffer.find(b"\r\n", at)
                if line_end < 0:
                    return None
                size = int(bytes(self.buffer[at:line_end]).split(b";")[0], 16)
                if len(self.buffer) < line_end + 2 + size + 2:
                    return None
                chunks.append(bytes(self.buffer[line_end + 2:line_end + 2 + size]))
                at = line_end + 2 + size + 2
                if size == 0:
                    del self.buffer[:at]
                    return status, b"".join(chunks)
        raise ValueError("a response without Content-Length or chunked encoding")

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await asyncio.wait_for(self.waiter, REQUEST_TIMEOUT_S)


def build_requests(url: str, shape: str, values: list[Any]) -> list[bytes]:
    parts = urlsplit(url)
    head = (f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n")
    requests = []
    for value in values:
        body = json.dumps({"query": SHAPES[shape], "variables": {VARIABLE[shape]: value}},
                          separators=(",", ":")).encode()
        requests.append(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return requests


def percentile(sorted_values: list[int], fraction: float) -> float:
    """Nearest-rank percentile, in milliseconds, of nanosecond samples."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1] / 1e6


async def run(url: str, requests: list[bytes], concurrency: int, seconds: float,
              warmup: float, seed: int) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    clients = []
    for _ in range(concurrency):
        _, client = await loop.create_connection(Client, host, port)
        clients.append(client)
    started = time.perf_counter_ns()
    cpu_started = time.process_time()
    measure_from = started + int(warmup * 1e9)
    deadline = measure_from + int(seconds * 1e9)
    latencies: list[int] = []
    errors: list[str] = []
    sizes = [0]

    async def worker(client: Client, rng: random.Random) -> None:
        while True:
            request = requests[rng.randrange(len(requests))]
            begun = time.perf_counter_ns()
            if begun >= deadline:
                return
            try:
                status, body = await client.send(request)
            except (TimeoutError, ConnectionError, ValueError) as error:
                errors.append(f"{type(error).__name__}: {error}")
                return
            ended = time.perf_counter_ns()
            if status != 200 or b'"errors"' in body:
                if len(errors) < 1000:
                    errors.append(f"HTTP {status}: {body[:300].decode(errors='replace')}")
                continue
            if begun >= measure_from and ended <= deadline:
                latencies.append(ended - begun)
                sizes[0] += len(body)

    rngs = [random.Random(seed * 1000 + i) for i in range(concurrency)]
    await asyncio.wait_for(asyncio.gather(*(worker(c, r) for c, r in zip(clients, rngs,
                                                                       strict=True))),
                           timeout=warmup + seconds + REQUEST_TIMEOUT_S + 5)
    wall_s = (time.perf_counter_ns() - started) / 1e9
    cpu_s = time.process_time() - cpu_started
    for client in clients:
        client.transport.close()
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "error_sample": errors[:3],
        "rps": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "mean_ms": sum(latencies) / len(latencies) / 1e6 if latencies else float("nan"),
        "mean_bytes": sizes[0] / len(latencies) if latencies else 0,
        # Near 1.0 the load generator, not the server, would be the bottleneck.
        "client_cpu_fraction": cpu_s / wall_s if wall_s else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT/graphql")
    parser.add_argument("--shape", required=True, choices=sorted(SHAPES))
    parser.add_argument("--values", required=True, type=Path,
                        help='JSON file: {"Q1": [values of $id], "Q2": [...], ...}')
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one core")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the load generator only talks to loopback addresses")
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    values = json.loads(args.values.read_text())[args.shape]
    requests = build_requests(args.url, args.shape, values)
    work = run(args.url, requests, args.concurrency, args.seconds, args.warmup, args.seed)
    try:
        import uvloop

        result = uvloop.run(work)
    except ImportError:
        result = asyncio.run(work)
    result.update(shape=args.shape, concurrency=args.concurrency, seconds=args.seconds)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
