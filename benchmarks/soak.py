"""Load at saturation: nested reads and writes against `citylinks serve --workers N` on
PostgreSQL, then a consistency check. Loopback only; stops by itself.

Creates a throwaway database (dropped at the end), starts the server on a free loopback
port with rate limiting off, makes an editor token, and runs `--concurrency` closed-loop
clients for `--seconds`: each request is a createCity mutation with probability
`--writes`, else one of a few nested reads. Then every acknowledged write is looked up
(present, under its name) and the store is checked for duplicates. Prints one JSON object.

    .venv/bin/python benchmarks/soak.py [--workers 2] [--seconds 60] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from serving import free_port, pg_fetch, wait_until_healthy

PG_ADMIN = os.environ.get("CITYLINKS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CREATE_CITY = "mutation C($input: CityInput!) { createCity(input: $input) { id name } }"
READS = [
    ("query Q($name: String!) { city(name: $name) { name partners(first: 20) { nodes { "
     "kind status since sectors { slug } city { name country { code } } partnership { "
     "milestones { date kind source { title } } sources { title url } } } } } }",
     {"name": "Da Nang"}),
    ("{ cities(first: 50) { totalCount nodes { name level country { code name } "
     "partners(first: 10) { nodes { kind city { name } } } } } }", {}),
    ("{ partnerships(first: 50) { nodes { kind status since cities { name } "
     "sectors { slug name } organizations { name } } } }", {}),
    ("{ countries { code cities(first: 10) { nodes { name partnerCount } } } }", {}),
    ("{ stats { cities partnerships byKind { key count } byCountry(first: 5) { key count } } }",
     {}),
]
NODES = "query N($ids: [ID!]!) { nodes(ids: $ids) { id ... on City { name } } }"


def _loopback(host: str | None) -> bool:
    return host in ("127.0.0.1", "localhost", "::1")


def percentile(sorted_ms: list[float], fraction: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(fraction * len(sorted_ms)))]


async def drive(url: str, token: str, seconds: float, concurrency: int,
                writes: float) -> dict[str, Any]:
    latencies: list[float] = []
    write_latencies: list[float] = []
    errors: list[str] = []
    acknowledged: dict[str, str] = {}
    deadline = time.perf_counter() + seconds
    auth = {"authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        async def worker(n: int) -> None:
            rng = random.Random(n)
            i = 0
            while time.perf_counter() < deadline:
                i += 1
                is_write = rng.random() < writes
                if is_write:
                    name = f"Soak {n}-{i}"
                    body = {"query": CREATE_CITY, "variables": {"input": {
                        "name": name, "level": "CITY", "country": "VN"}}}
                    headers = auth
                else:
                    query, variables = rng.choice(READS)
                    body, headers = {"query": query, "variables": variables}, {}
                began = time.perf_counter()
                try:
                    response = await client.post("/graphql", json=body, headers=headers)
                    answer = response.json()
                except (httpx.HTTPError, ValueError) as error:
                    errors.append(f"{type(error).__name__}: {error}")
                    continue
                elapsed_ms = (time.perf_counter() - began) * 1000
                if response.status_code != 200 or answer.get("errors"):
                    errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                    continue
                latencies.append(elapsed_ms)
                if is_write:
                    write_latencies.append(elapsed_ms)
                    acknowledged[answer["data"]["createCity"]["id"]] = name

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        wall = time.perf_counter() - started

        # consistency: every acknowledged write is there, under its name
        missing = []
        ids = list(acknowledged)
        for start in range(0, len(ids), 50):
            chunk = ids[start:start + 50]
            found = (await client.post("/graphql", json={
                "query": NODES, "variables": {"ids": chunk}})).json()["data"]["nodes"]
            missing += [i for i, node in zip(chunk, found, strict=True)
                        if node is None or node["name"] != acknowledged[i]]
    latencies.sort()
    write_latencies.sort()
    return {
        "seconds": round(wall, 1), "requests": len(latencies), "errors": len(errors),
        "error_sample": errors[:3], "throughput_rps": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "writes_acknowledged": len(acknowledged),
        "write_p50_ms": round(percentile(write_latencies, 0.50), 1),
        "write_p99_ms": round(percentile(write_latencies, 0.99), 1),
        "acknowledged_missing": len(missing),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=PG_ADMIN,
                        help="an admin connection to a PostgreSQL on loopback")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--writes", type=float, default=0.2, help="fraction of writes")
    args = parser.parse_args(argv)
    admin = args.pg_url.replace("postgresql+asyncpg://", "postgresql://")
    if not _loopback(urlsplit(admin).hostname):
        parser.error("the load script only talks to a PostgreSQL on loopback")
    name = f"citylinks_soak_{uuid.uuid4().hex[:8]}"
    db_url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name
    citylinks = [sys.executable, "-m", "citylinks"]
    env = {**os.environ, "CITYLINKS_RATE_LIMIT": "0", "CITYLINKS_REQUEST_LOG": "0"}
    asyncio.run(pg_fetch(admin, f'CREATE DATABASE "{name}"'))
    log_dir = Path(tempfile.mkdtemp(prefix="citylinks-soak-"))
    server = None
    try:
        token = subprocess.run([*citylinks, "token", "create", "--role", "editor", "--db",
                                db_url], env=env, check=True, capture_output=True,
                               text=True).stdout.strip().splitlines()[-1]
        port = free_port()
        with (log_dir / "server.log").open("wb") as log:
            server = subprocess.Popen([*citylinks, "serve", "--db", db_url, "--host",
                                       "127.0.0.1", "--port", str(port), "--workers",
                                       str(args.workers), "--log-level", "warning"],
                                      env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, server, log_dir / "server.log")
        result = asyncio.run(asyncio.wait_for(
            drive(url, token, args.seconds, args.concurrency, args.writes),
            timeout=args.seconds + 120))
        duplicates, stored = asyncio.run(pg_fetch(
            admin.rsplit("/", 1)[0] + "/" + name,
            "SELECT name FROM places WHERE name LIKE 'Soak %' GROUP BY name HAVING count(*) > 1",
            "SELECT count(*) AS n FROM places WHERE name LIKE 'Soak %'"))
        result.update(workers=args.workers, concurrency=args.concurrency,
                      write_fraction=args.writes, duplicates=len(duplicates),
                      stored_writes=stored[0]["n"], cpus=os.cpu_count())
        print(json.dumps(result))
        ok = (result["errors"] == 0 and result["acknowledged_missing"] == 0
              and result["duplicates"] == 0
              and result["stored_writes"] == result["writes_acknowledged"])
        return 0 if ok else 1
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        asyncio.run(pg_fetch(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
