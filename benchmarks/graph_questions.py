"""Benchmark: `path` and `suggestPartners` on the real twinning graph, end to end over HTTP.

Usage (from the repository root):

    .venv/bin/python benchmarks/graph_questions.py [--backend sqlite|postgresql|both]
        [--data ../shared/data/twinnings/twinnings-import.csv] [--requests 300]
        [--compare-sql 40] [--seed 4]

For each backend: a new, empty store; the twinning CSV loaded with the real
command (`citylinks import FILE --format csv --db URL`); `citylinks serve` with
one worker; then, one request at a time from one client, `path` between random
pairs of places and `suggestPartners` for random places (fixed seed), each
timed from request to parsed answer. Reported: median and p99, the time of the
first question (the graph index built), and of a question right after a write
made by another process (the index rebuilt). `--compare-sql N` also times N
pairs with the fewest-hops search written as recursive CTEs (the rejected
design, see docs/graph-questions.md). Scratch PostgreSQL databases are named
`citylinks_graphbench_*` and dropped at the end. The data file is never copied.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from serving import free_port, wait_until_healthy

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get(
    "CITYLINKS_TWINNINGS", REPO.parent / "shared" / "data" / "twinnings" / "twinnings-import.csv"))
PG_ADMIN = os.environ.get("CITYLINKS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

PATH = """query ($from: ID!, $to: ID!) { path(from: $from, to: $to) {
  hops cities { id name country { code } } partnerships { id kind since } } }"""
SUGGEST = """query ($city: ID!) { suggestPartners(city: $city, first: 10) {
  city { id name country { code } } score sharedSectors { slug } reasons } }"""
IDS = """query ($after: String) { cities(first: 100, after: $after) {
  nodes { id } pageInfo { hasNextPage endCursor } } }"""

# Hop count only, from one side: every (place, depth) reachable by a walk.
SQL_ONE_SIDED = """
WITH RECURSIVE edges(a, b) AS (
  SELECT place_a_id, place_b_id FROM partnerships
  UNION ALL SELECT place_b_id, place_a_id FROM partnerships),
walk(node, depth) AS (
  SELECT CAST(:source AS INTEGER), 0
  UNION SELECT e.b, w.depth + 1 FROM walk w JOIN edges e ON e.a = w.node WHERE w.depth < :hops)
SELECT min(depth) FROM walk WHERE node = :target"""
# Hop count only, half the depth from each side, met in the middle.
SQL_TWO_SIDED = """
WITH RECURSIVE edges(a, b) AS (
  SELECT place_a_id, place_b_id FROM partnerships
  UNION ALL SELECT place_b_id, place_a_id FROM partnerships),
fwd(node, depth) AS (
  SELECT CAST(:source AS INTEGER), 0
  UNION SELECT e.b, f.depth + 1 FROM fwd f JOIN edges e ON e.a = f.node WHERE f.depth < :half_a),
bwd(node, depth) AS (
  SELECT CAST(:target AS INTEGER), 0
  UNION SELECT e.b, b.depth + 1 FROM bwd b JOIN edges e ON e.a = b.node WHERE b.depth < :half_b)
SELECT min(f.depth + b.depth) FROM fwd f JOIN bwd b ON b.node = f.node"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _pg(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _pg_url(name: str) -> str:
    base = PG_ADMIN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0]
    return f"{base}/{name}"


def import_data(url: str, data: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "citylinks", "import", str(data), "--format", "csv",
                    "--db", url], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


class Server:
    """`citylinks serve --workers 1` on a free loopback port."""

    def __init__(self, url: str, log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log_path.open("ab")
        env = {**os.environ, "CITYLINKS_LOAD_SEED": "false", "CITYLINKS_RATE_LIMIT": "0"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "citylinks", "serve", "--db", url, "--port", str(self.port),
             "--workers", "1", "--log-level", "warning"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        wait_until_healthy(self.base, self.process, log_path)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


def ask(client: httpx.Client, query: str, variables: dict[str, Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    response = client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    elapsed = (time.perf_counter() - started) * 1000
    if "errors" in body:
        raise SystemExit(f"error answer: {body['errors']}")
    return elapsed, body["data"]


def all_ids(client: httpx.Client) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        page = ask(client, IDS, {"after": after})[1]["cities"]
        ids += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return ids
        after = page["pageInfo"]["endCursor"]


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} ms, p99 {p99(values):.2f} ms"


async def write_elsewhere(url: str, round_: int) -> None:
    """A write from another process's engine: a new place, so the data version moves."""
    from citylinks.db import writes
    from citylinks.db.engine import create_database

    database = create_database(url)
    try:
        async with database.write() as session:
            await writes.create_place(session, {
                "name": f"Graph bench {round_} {uuid.uuid4().hex[:6]}", "level": "CITY",
                "country": "IS"})
    finally:
        await database.dispose()


async def sql_hops(url: str, pairs: list[tuple[int, int]], max_hops: int,
                   timeout_s: float) -> dict[str, list[float | None]]:
    """Time the CTE designs; a statement that runs past `timeout_s` counts as None."""
    from citylinks.db.engine import create_database
    from sqlalchemy import text

    database = create_database(url)
    out: dict[str, list[float | None]] = {"one-sided": [], "two-sided": []}
    try:
        for name, sql in (("one-sided", SQL_ONE_SIDED), ("two-sided", SQL_TWO_SIDED)):
            for source, target in pairs:
                params = {"source": source, "target": target, "hops": max_hops,
                          "half_a": (max_hops + 1) // 2, "half_b": max_hops // 2}
                async with database.read() as conn:
                    if database.dialect == "postgresql":
                        await conn.execute(text(
                            f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}"))
                    started = time.perf_counter()
                    try:
                        await asyncio.wait_for(conn.execute(text(sql), params), timeout_s)
                        out[name].append((time.perf_counter() - started) * 1000)
                    except Exception as error:  # the timeout, however the driver reports it
                        log(f"  {name} {source}->{target}: {type(error).__name__}")
                        out[name].append(None)
                        if database.dialect == "sqlite":
                            break  # an SQLite statement cannot be interrupted from here
    finally:
        await database.dispose()
    return out


def bench(backend: str, url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    log(f"[{backend}] importing {args.data.name}")
    seconds = import_data(url, args.data)
    log(f"[{backend}] imported in {seconds:.1f}s; starting the server")
    server = Server(url, workdir / f"{backend}-server.log")
    result: dict[str, Any] = {"backend": backend, "import_s": seconds}
    try:
        with httpx.Client(base_url=server.base, timeout=60) as client:
            ids = all_ids(client)
            rng = random.Random(args.seed)
            pairs = [(rng.choice(ids), rng.choice(ids)) for _ in range(args.requests)]
            cities = [rng.choice(ids) for _ in range(args.requests)]
            result["places"] = len(ids)
            result["first_question_ms"] = ask(client, PATH, {"from": ids[0], "to": ids[1]})[0]
            for a, b in pairs[:20]:  # warm-up: parser caches, connection pool
                ask(client, PATH, {"from": a, "to": b})
                ask(client, SUGGEST, {"city": a})
            path_times, hops = [], Counter()
            for a, b in pairs:
                elapsed, data = ask(client, PATH, {"from": a, "to": b})
                path_times.append(elapsed)
                hops[data["path"]["hops"] if data["path"] else None] += 1
            suggest_times, sizes = [], []
            for city in cities:
                elapsed, data = ask(client, SUGGEST, {"city": city})
                suggest_times.append(elapsed)
                sizes.append(len(data["suggestPartners"]))
            after_write = []
            for round_ in range(5):
                asyncio.run(write_elsewhere(url, round_))
                after_write.append(ask(client, PATH, {"from": pairs[round_][0],
                                                      "to": pairs[round_][1]})[0])
            result.update(path=path_times, hops=hops, suggest=suggest_times,
                          suggestion_sizes=sizes, after_write=after_write)
            if args.compare_sql:
                from citylinks.schema.ids import decode_id

                sample = [(decode_id(a, "City"), decode_id(b, "City"))
                          for a, b in pairs[:args.compare_sql]]
                log(f"[{backend}] timing the recursive-CTE designs on {len(sample)} pairs")
                result["sql"] = asyncio.run(sql_hops(url, sample, 6, args.sql_timeout))
    finally:
        server.stop()
    return result


def report(result: dict[str, Any]) -> str:
    lines = [f"## {result['backend']}", ""]
    lines.append(f"- places: {result['places']}; import: {result['import_s']:.1f} s")
    lines.append(f"- `path`, {len(result['path'])} random pairs: {summary(result['path'])}")
    hops = ", ".join(f"{k if k is not None else 'none'}: {v}"
                     for k, v in sorted(result["hops"].items(), key=lambda kv: (
                         kv[0] is None, kv[0] or 0)))
    lines.append(f"  - hops (maxHops 6): {hops}")
    lines.append(f"- `suggestPartners(first: 10)`, {len(result['suggest'])} random places: "
                 f"{summary(result['suggest'])}; mean answer size "
                 f"{statistics.mean(result['suggestion_sizes']):.1f}")
    lines.append(f"- first question of the process (index built): "
                 f"{result['first_question_ms']:.0f} ms")
    lines.append("- first `path` after a write by another process (index rebuilt): "
                 + ", ".join(f"{t:.0f}" for t in result["after_write"]) + " ms")
    if "sql" in result:
        for name, times in result["sql"].items():
            done = [t for t in times if t is not None]
            timed_out = len(times) - len(done)
            text = summary(done) if done else "none finished"
            lines.append(f"- recursive CTE, {name}, hop count only, {len(times)} pairs: {text}"
                         + (f"; {timed_out} over the time limit" if timed_out else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--compare-sql", type=int, default=0, metavar="PAIRS")
    parser.add_argument("--sql-timeout", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        log(f"no twinning data at {args.data}: pass --data or set CITYLINKS_TWINNINGS")
        return 2
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    reports = []
    with tempfile.TemporaryDirectory(prefix="citylinks-graphbench-") as tmp:
        workdir = Path(tmp)
        for backend in backends:
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{workdir / 'graph.db'}"
                reports.append(report(bench(backend, url, args, workdir)))
                continue
            name = f"citylinks_graphbench_{uuid.uuid4().hex[:8]}"
            asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
            try:
                reports.append(report(bench(backend, _pg_url(name), args, workdir)))
            finally:
                asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print("\n\n".join(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
