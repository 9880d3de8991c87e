"""Benchmark: `citylinks import` of the Wikidata twinnings CSV, its time and peak memory.

Usage (from the repository root):

    .venv/bin/python benchmarks/import_twinnings.py PATH/TO/twinnings-import.csv \
        [--backend sqlite|postgresql|both] [--runs 3] [--write benchmarks/IMPORT.md]

Each run imports the file into a new, empty store with the real command, in a
child process of its own, then imports it a second time (which must add
nothing). The wall time and the child's peak resident memory (getrusage of that
one process) are reported; the median over the runs goes into the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

PG_ADMIN = os.environ.get("CITYLINKS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Run:
    seconds: float
    peak_mib: float
    summary: str


def _import(path: Path, url: str) -> Run:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "citylinks", "import", str(path), "--format", "csv", "--db", url],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"import failed ({process.returncode}):\n{output}")
    summary = re.sub(r"^imported .*? in [\d.]+s: ", "", output.strip().splitlines()[-1])
    # ru_maxrss is in KiB on Linux.
    return Run(seconds, usage.ru_maxrss / 1024, summary)


async def _pg(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _pg_version() -> str:
    async def read() -> str:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return asyncio.run(read())


def bench(path: Path, backend: str, runs: int) -> tuple[list[Run], list[Run]]:
    first: list[Run] = []
    second: list[Run] = []
    for _ in range(runs):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
                first.append(_import(path, url))
                second.append(_import(path, url))
        else:
            name = f"citylinks_bench_{uuid.uuid4().hex[:8]}"
            asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
            try:
                url = PG_ADMIN.rsplit("/", 1)[0].replace(
                    "postgresql://", "postgresql+asyncpg://") + f"/{name}"
                first.append(_import(path, url))
                second.append(_import(path, url))
            finally:
                asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return first, second


def report(path: Path, results: dict[str, tuple[list[Run], list[Run]]], runs: int) -> str:
    lines = [
        "# Import benchmark: the Wikidata twinnings",
        "",
        f"`benchmarks/import_twinnings.py` imports `{path.name}` (10,596 Wikidata twinnings, "
        "5,470 places, every script, the XK/XC/XS codes) into a new, empty store with "
        "`citylinks import --format csv`, then imports it again. Median of "
        f"{runs} run(s); peak memory is the peak resident set of the import process.",
        "",
        "| backend | first import | peak memory | second import (adds nothing) | peak memory |",
        "|---|---|---|---|---|",
    ]
    for backend, (first, second) in results.items():
        lines.append(
            f"| {backend} | {statistics.median(r.seconds for r in first):.1f} s "
            f"| {statistics.median(r.peak_mib for r in first):.0f} MiB "
            f"| {statistics.median(r.seconds for r in second):.1f} s "
            f"| {statistics.median(r.peak_mib for r in second):.0f} MiB |")
    lines += ["", "What the imports reported:", ""]
    for backend, (first, second) in results.items():
        lines.append(f"- {backend}, first: {first[0].summary}")
        lines.append(f"- {backend}, second: {second[0].summary}")
    versions = [f"Python {platform.python_version()}", f"SQLite {sqlite3.sqlite_version}"]
    if "postgresql" in results:
        versions.append(f"PostgreSQL {_pg_version()}")
    lines += [
        "",
        f"Measured on {platform.machine()} Linux, {os.cpu_count()} CPUs shared with other "
        f"work, {', '.join(versions)}. The times include starting the command "
        "(about a second of imports and migrations) and the transaction's commit.",
        "",
        "Reproduce: `.venv/bin/python benchmarks/import_twinnings.py PATH/TO/twinnings-import.csv "
        "--runs 3 --write benchmarks/IMPORT.md`",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="the twinnings CSV in the import layout")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--write", type=Path, default=None, help="write the report here")
    args = parser.parse_args()
    if not args.file.is_file():
        parser.error(f"no such file: {args.file}")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = {backend: bench(args.file, backend, args.runs) for backend in backends}
    text = report(args.file, results, args.runs)
    print(text)
    if args.write is not None:
        args.write.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
