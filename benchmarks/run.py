"""The benchmark, in one command: citylinks against a hand-written SQL floor, on both databases.

    python benchmarks/run.py [--db sqlite|postgres|both] [--cache off|on|both] [--seconds 5]
                             [--rounds 3] [--quick]

For each database: build the synthetic world (world.py) through `citylinks
import`, then in each round start `citylinks serve` (with its response cache off,
on, or one server of each) and the floor (floor.py), all pinned to one core,
check once that they give the same answers, and drive every shape at
concurrency 1 and 16 from a load generator (load.py) pinned to the other core.
Medians across rounds go to benchmarks/RESULTS.md (--quick writes
benchmarks/out/RESULTS.quick.md instead). Loopback only; every wait is bounded,
and the whole run stops by itself at --max-minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))
import world  # noqa: E402
from serving import free_port, pg_fetch  # noqa: E402
from shapes import SHAPES, VARIABLE, city_id  # noqa: E402

PYTHON = sys.executable
CITYLINKS = str(Path(PYTHON).with_name("citylinks"))
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/citylinks_bench"
CONCURRENCY = (1, 16)
# The targets at concurrency 16 with the response cache off, as citylinks / floor
# ratios: (least req/s ratio, greatest p99 ratio). Issue 16 for the small requests
# (Q1, Q4) and for Q2 and Q3's throughput; Q2 and Q3's p99 bound is issue 6's.
SHAPE_TARGETS = {"Q1": (0.8, 1.5), "Q2": (1.0, 3.0), "Q3": (1.0, 3.0), "Q4": (0.8, 1.5)}
START_TIMEOUT_S = 120.0
IMPORT_TIMEOUT_S = 900.0
STOP_TIMEOUT_S = 15.0
# The servers measured: citylinks with its response cache off (the one with targets),
# with it on (for information: answers from memory), and the floor.
CITYLINKS_OFF, CITYLINKS_ON, FLOOR = "citylinks", "citylinks+cache", "floor"
CACHE_ENV = {CITYLINKS_OFF: "0", CITYLINKS_ON: "1"}
HUB_DEGREE = 80
# Above this share of its core, the load generator may limit what it measures.
CLIENT_CPU_LIMIT = 0.9


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def loud(message: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\n!! {message}\n{bar}\n", flush=True)


# -- machine and versions


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info() -> dict[str, Any]:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    if _git("status", "--porcelain"):
        commit += " (with uncommitted changes)"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "citylinks": f"{_version('citylinks')} at {commit}",
        "libraries": ", ".join(f"{name} {_version(name)}" for name in (
            "strawberry-graphql", "graphql-core", "sqlalchemy", "starlette", "uvicorn",
            "uvloop", "httptools", "asyncpg", "aiosqlite", "orjson")),
        "load_average_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# -- databases


@dataclass
class Target:
    """One database under test: its URL for citylinks and how the runner reads it."""

    name: str
    url: str
    sqlite_path: Path | None = None

    @property
    def pg_dsn(self) -> str:
        return self.url.replace("postgresql+asyncpg://", "postgresql://", 1)


def sqlite_target() -> Target:
    path = OUT / "bench.db"
    return Target("SQLite", f"sqlite+aiosqlite:///{path}", path)


def postgres_target(url: str) -> Target:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the benchmark only uses a PostgreSQL server on loopback")
    # The runner drops and recreates this database: refuse any other.
    if not (parsed.database or "").startswith("citylinks_bench"):
        raise SystemExit("the PostgreSQL database must be named citylinks_bench...: "
                         "the runner drops and recreates it")
    return Target("PostgreSQL", url)


def pg_version(target: Target) -> str:
    # Asked of the maintenance database: the benchmark's own may not exist yet.
    admin = target.pg_dsn.rsplit("/", 1)[0] + "/postgres"
    rows = asyncio.run(pg_fetch(admin, "SHOW server_version"))
    return str(rows[0][0][0])


def recreate(target: Target) -> None:
    if target.sqlite_path is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{target.sqlite_path}{suffix}").unlink(missing_ok=True)
        return
    from sqlalchemy.engine import make_url

    name = make_url(target.url).database
    admin = target.pg_dsn.rsplit("/", 1)[0] + "/postgres"
    asyncio.run(pg_fetch(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                    f'CREATE DATABASE "{name}"'))


def import_world(target: Target, path: Path) -> float:
    started = time.monotonic()
    result = subprocess.run([CITYLINKS, "import", str(path), "--format", "json",
                             "--db", target.url], capture_output=True, text=True,
                            timeout=IMPORT_TIMEOUT_S, cwd=OUT)
    if result.returncode != 0:
        raise RuntimeError(f"citylinks import failed:\n{result.stderr[-2000:]}")
    log(result.stdout.strip().splitlines()[-1])
    elapsed = time.monotonic() - started
    if target.sqlite_path is None:
        # What autovacuum would do a minute later anyway; done now so that plans
        # do not change in the middle of a measurement.
        asyncio.run(pg_fetch(target.pg_dsn, "ANALYZE"))
    return elapsed


VALUE_QUERIES = {
    "places": "SELECT id FROM places ORDER BY id",
    "hubs": ("SELECT id FROM (SELECT place_a_id AS id FROM partnerships UNION ALL "
             "SELECT place_b_id FROM partnerships) e GROUP BY id "
             f"HAVING count(*) >= {HUB_DEGREE} ORDER BY id"),
    "top": ("SELECT id FROM (SELECT place_a_id AS id FROM partnerships UNION ALL "
            "SELECT place_b_id FROM partnerships) e GROUP BY id ORDER BY count(*) DESC, id "
            "LIMIT 1"),
    "countries": ("SELECT c.code FROM countries c JOIN places p ON p.country_id = c.id "
                  "GROUP BY c.code ORDER BY count(*) DESC, c.code"),
    "sectors": ("SELECT s.slug FROM sectors s JOIN partnership_sectors ps "
                "ON ps.sector_id = s.id GROUP BY s.slug ORDER BY count(*) DESC, s.slug"),
    "partnerships": "SELECT count(*) FROM partnerships",
}


def read_values(target: Target) -> dict[str, list[Any]]:
    """The pools the variables are drawn from, read from the database under test."""
    if target.sqlite_path is not None:
        with contextlib.closing(sqlite3.connect(target.sqlite_path)) as connection:
            rows = {k: [r[0] for r in connection.execute(q)] for k, q in VALUE_QUERIES.items()}
    else:
        fetched = asyncio.run(pg_fetch(target.pg_dsn, *VALUE_QUERIES.values()))
        rows = {k: [r[0] for r in v] for k, v in zip(VALUE_QUERIES, fetched, strict=True)}
    return rows


def variable_pools(rows: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {
        "Q1": [city_id(pk) for pk in rows["places"]],
        "Q2": rows["countries"],
        "Q3": [city_id(pk) for pk in rows["hubs"]],
        "Q4": rows["sectors"],
    }


# -- servers


def _pin(cpu: int | None) -> Any:
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    startup_s: float
    log_path: Path
    rss_samples: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def _processes(self) -> list[psutil.Process]:
        try:
            parent = psutil.Process(self.process.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def sample(self) -> None:
        total = 0
        for p in self._processes():
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        self.rss_samples.append(total)

    def peak_rss(self) -> int:
        """The kernel's high-water mark (VmHWM) where there is one, else the sampled peak."""
        peak = 0
        for p in self._processes():
            try:
                status = Path(f"/proc/{p.pid}/status").read_text()
                line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
                peak += int(line.split()[1]) * 1024
            except (OSError, StopIteration, ValueError):
                peak = 0
                break
        return max(peak, *self.rss_samples, 0)

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self._processes():
            with contextlib.suppress(psutil.Error):
                times = p.cpu_times()
                total += times.user + times.system
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)


def start(name: str, command: list[str], cpu: int | None, log_path: Path,
          env: dict[str, str] | None = None) -> Server:
    port = free_port()
    command = [*command, "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log_file:
        started = time.perf_counter()
        # Rate limiting off: a benchmark is one client at saturation, by design.
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                   cwd=OUT, preexec_fn=_pin(cpu),
                                   env={**os.environ, "CITYLINKS_RATE_LIMIT": "0",
                                        **(env or {})})
    deadline = started + START_TIMEOUT_S
    with httpx.Client(timeout=2.0) as client:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    server = Server(name, process, port, time.perf_counter() - started,
                                    log_path)
                    server.sample()
                    return server
            time.sleep(0.01)
    process.kill()
    raise RuntimeError(f"{name} did not answer /healthz within {START_TIMEOUT_S:.0f}s")


# -- correctness


def first_difference(a: Any, b: Any, path: str = "data") -> str | None:
    if type(a) is not type(b):
        return f"{path}: {json.dumps(a)[:120]} != {json.dumps(b)[:120]}"
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return f"{path}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {json.dumps(a)[:120]} != {json.dumps(b)[:120]}"


def check_answers(citylinks: Server, floor: Server, rows: dict[str, list[Any]],
                  pools: dict[str, list[Any]], rng: random.Random) -> list[str]:
    """Same variables to both; their `data` must be equal. Returns the problems found."""
    picks = {
        "Q1": [city_id(rows["top"][0]), *rng.sample(pools["Q1"], 9)],
        "Q2": [pools["Q2"][0], *rng.sample(pools["Q2"], 5)],
        "Q3": rng.sample(pools["Q3"], min(5, len(pools["Q3"]))),
        "Q4": pools["Q4"],
    }
    problems = []
    with httpx.Client(timeout=60.0) as client:
        for shape, values in picks.items():
            for value in values:
                body = {"query": SHAPES[shape], "variables": {VARIABLE[shape]: value}}
                answers = []
                for server in (citylinks, floor):
                    response = client.post(server.url, json=body)
                    answer = response.json()
                    if response.status_code != 200 or "errors" in answer:
                        problems.append(f"{shape} ${VARIABLE[shape]}={value!r}: {server.name} "
                                        f"answered {response.status_code} "
                                        f"{json.dumps(answer)[:300]}")
                    answers.append(answer.get("data"))
                if answers[0] is None or answers[1] is None:
                    continue
                difference = first_difference(answers[0], answers[1])
                if difference:
                    problems.append(f"{shape} ${VARIABLE[shape]}={value!r}: {citylinks.name} "
                                    f"and the floor differ at {difference}")
    return problems


# -- load


def drive(server: Server, shape: str, concurrency: int, values_path: Path, seconds: float,
          warmup: float, cpu: int | None, seed: int) -> dict[str, Any]:
    command = [PYTHON, str(HERE / "load.py"), "--url", server.url, "--shape", shape,
               "--values", str(values_path), "--concurrency", str(concurrency),
               "--seconds", str(seconds), "--warmup", str(warmup), "--seed", str(seed)]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    cpu_before = server.cpu_seconds()
    try:
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=warmup + seconds + 90)
    except subprocess.TimeoutExpired:
        return {"failed": "the load generator did not finish in time"}
    server.sample()
    if result.returncode != 0:
        return {"failed": result.stderr.strip()[-500:]}
    outcome: dict[str, Any] = json.loads(result.stdout)
    if outcome["requests"]:
        outcome["server_cpu_ms_per_request"] = (
            (server.cpu_seconds() - cpu_before) * 1000 / outcome["requests"])
    return outcome


# -- the run


@dataclass
class DbReport:
    target: Target
    version: str = ""
    world: dict[str, Any] = field(default_factory=dict)
    import_s: float = 0.0
    servers: tuple[str, ...] = (CITYLINKS_OFF, FLOOR)
    startup: dict[str, list[float]] = field(default_factory=dict)
    peak_rss: dict[str, list[int]] = field(default_factory=dict)
    cells: dict[tuple[str, int, str], list[dict[str, Any]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None
    rounds_done: int = 0


def bench_database(report: DbReport, args: argparse.Namespace, world_path: Path,
                   deadline: float) -> None:
    target = report.target
    slug = target.name.lower()
    log(f"{target.name}: building the world through `citylinks import`")
    recreate(target)
    report.import_s = import_world(target, world_path)
    rows = read_values(target)
    pools = variable_pools(rows)
    report.world = {"places": len(rows["places"]), "partnerships": rows["partnerships"][0],
                    "hubs": len(rows["hubs"]), "countries": len(rows["countries"]),
                    "sectors": len(rows["sectors"])}
    values_path = OUT / f"values-{slug}.json"
    values_path.write_text(json.dumps(pools))
    rng = random.Random(args.seed)
    for round_no in range(1, args.rounds + 1):
        if time.monotonic() > deadline:
            report.problems.append(f"stopped before round {round_no}: --max-minutes reached")
            loud(report.problems[-1])
            return
        log(f"{target.name}: round {round_no}/{args.rounds}")
        servers: dict[str, Server] = {}
        try:
            for name in report.servers:
                log_path = OUT / f"{slug}-{name.replace('+', '-')}-{round_no}.log"
                if name == FLOOR:
                    servers[name] = start(name, [PYTHON, str(HERE / "floor.py"), "--db",
                                                 target.url], args.server_cpu, log_path)
                else:
                    servers[name] = start(
                        name, [CITYLINKS, "serve", "--db", target.url, "--workers", "1",
                               "--log-level", "warning"], args.server_cpu, log_path,
                        env={"CITYLINKS_RESPONSE_CACHE": CACHE_ENV[name]})
                report.startup.setdefault(name, []).append(servers[name].startup_s)
            log("started in " + ", ".join(f"{s.startup_s:.2f}s ({name})"
                                          for name, s in servers.items()))
            if round_no == 1:
                problems = []
                for name in report.servers:
                    if name != FLOOR:
                        problems += check_answers(servers[name], servers[FLOOR], rows, pools,
                                                  rng)
                report.problems += problems
                if problems:
                    loud(f"{target.name}: citylinks and the floor disagree "
                         f"({len(problems)} problems):\n!! " + "\n!! ".join(problems[:10]))
                else:
                    log("answers checked: citylinks and the floor agree on every shape")
            for shape in SHAPES:
                for concurrency in CONCURRENCY:
                    if time.monotonic() > deadline:
                        report.problems.append("stopped mid-round: --max-minutes reached")
                        loud(report.problems[-1])
                        return
                    order = report.servers if round_no % 2 else report.servers[::-1]
                    for name in order:
                        outcome = drive(servers[name], shape, concurrency, values_path,
                                        args.seconds, args.warmup, args.load_cpu,
                                        seed=round_no * 100 + concurrency)
                        report.cells.setdefault((shape, concurrency, name), []).append(outcome)
                        if "failed" in outcome or outcome["errors"]:
                            loud(f"{target.name} {name} {shape} c={concurrency}: "
                                 f"{outcome.get('failed') or outcome['error_sample']}")
                        else:
                            log(f"{shape} c={concurrency:<2} {name:<9} "
                                f"{outcome['rps']:8.1f} req/s  p50 {outcome['p50_ms']:7.2f} ms"
                                f"  p99 {outcome['p99_ms']:7.2f} ms  (client CPU "
                                f"{outcome['client_cpu_fraction']:.0%})")
                        if outcome.get("client_cpu_fraction", 0) > CLIENT_CPU_LIMIT:
                            loud(f"the load generator was {outcome['client_cpu_fraction']:.0%} "
                                 f"busy driving {name} {shape} c={concurrency}: it may be "
                                 "what limits the throughput measured")
            report.rounds_done = round_no
        finally:
            for name, server in servers.items():
                report.peak_rss.setdefault(name, []).append(server.peak_rss())
                server.stop()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(cells: list[dict[str, Any]]) -> dict[str, float] | None:
    good = [c for c in cells if "failed" not in c and c["requests"]]
    if not good:
        return None
    return {key: median([c[key] for c in good]) for key in ("rps", "p50_ms", "p99_ms")} | {
        "errors": sum(c.get("errors", 0) for c in cells) + len(cells) - len(good),
        "rounds": len(good)}


def _fmt(value: float, digits: int = 1) -> str:
    return "—" if value != value else f"{value:,.{digits}f}"


def _cpu_per_request(cells: list[dict[str, Any]]) -> float:
    return median([c["server_cpu_ms_per_request"] for c in cells
                   if "server_cpu_ms_per_request" in c])


def db_table(report: DbReport, name: str) -> tuple[list[str], list[str]]:
    """The table lines of one citylinks server against the floor, and the verdicts (one
    per shape at concurrency 16; none for the cache on, which has no target)."""
    targets = name == CITYLINKS_OFF
    lines = [
        f"| shape | conc. | {name} req/s | p50 ms | p99 ms | CPU ms/req | floor req/s | p50 ms "
        "| p99 ms | CPU ms/req | req/s ratio | p50 ratio | p99 ratio | target |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    verdicts = []
    for shape in SHAPES:
        for concurrency in CONCURRENCY:
            ours_cells = report.cells.get((shape, concurrency, name), [])
            floor_cells = report.cells.get((shape, concurrency, FLOOR), [])
            ours, floor = summarise(ours_cells), summarise(floor_cells)
            if ours is None or floor is None:
                lines.append(f"| {shape} | {concurrency} | not measured |||||||||||||")
                if concurrency == 16 and targets:
                    verdicts.append(f"{shape}: not measured")
                continue
            rps = ours["rps"] / floor["rps"]
            p50 = ours["p50_ms"] / floor["p50_ms"]
            p99 = ours["p99_ms"] / floor["p99_ms"]
            min_rps, max_p99 = SHAPE_TARGETS[shape]
            if concurrency == 16 and targets:
                failures = []
                if rps < min_rps:
                    failures.append(f"req/s {rps:.2f} < {min_rps}")
                if p99 > max_p99:
                    failures.append(f"p99 {p99:.2f}x > {max_p99:g}x")
                if ours["errors"]:
                    failures.append(f"{ours['errors']} errors")
                verdict = "**FAIL** " + ", ".join(failures) if failures else "pass"
                verdicts.append(f"{shape}: {verdict}")
            elif concurrency == 16 and ours["errors"]:
                verdict = f"**{ours['errors']} errors**"
                verdicts.append(f"{shape} ({name}): {verdict}")
            else:
                verdict = "(no target at c=1)" if targets else "(no target)"
            lines.append(
                f"| {shape} | {concurrency} | {_fmt(ours['rps'])} | {_fmt(ours['p50_ms'], 2)} "
                f"| {_fmt(ours['p99_ms'], 2)} | {_fmt(_cpu_per_request(ours_cells), 3)} "
                f"| {_fmt(floor['rps'])} | {_fmt(floor['p50_ms'], 2)}"
                f" | {_fmt(floor['p99_ms'], 2)} | {_fmt(_cpu_per_request(floor_cells), 3)} "
                f"| {rps:.2f} | {p50:.2f} | {p99:.2f} | {verdict} |")
    return lines, verdicts


TABLE_TITLES = {
    CITYLINKS_OFF: "Response cache off (the targets)",
    CITYLINKS_ON: "Response cache on (same random variables; repeated ones come from memory)",
}


README = REPO / "README.md"
README_START = "<!-- benchmark tables: written by benchmarks/run.py -->"
README_END = "<!-- end of benchmark tables -->"


def readme_tables(info: dict[str, Any], reports: list[DbReport],
                  args: argparse.Namespace) -> list[str]:
    """The README's summary: concurrency 16, each citylinks server against the floor."""
    measured = [r for r in reports if not r.skipped]
    out = []
    for name in (CITYLINKS_OFF, CITYLINKS_ON):
        if not any(name in r.servers for r in measured):
            continue
        title = ("Response cache off: every answer computed (issue 16's targets)"
                 if name == CITYLINKS_OFF else
                 "Response cache on: the same random variables, a repeated one answered "
                 "from memory (no target; it measures the cache, and passes 1.0 by far)")
        out += [f"**{title}**", "",
                "| shape | " + " | ".join(f"{r.target.name} req/s ratio | "
                                         f"{r.target.name} p99 ratio" for r in measured)
                + " |",
                "|---|" + "--:|--:|" * len(measured)]
        for shape in SHAPES:
            cells = []
            for report in measured:
                ours = summarise(report.cells.get((shape, 16, name), []))
                floor = summarise(report.cells.get((shape, 16, FLOOR), []))
                if ours is None or floor is None:
                    cells += ["—", "—"]
                    continue
                cells += [f"{ours['rps'] / floor['rps']:.2f} ({ours['rps']:,.0f}/s)",
                          f"{ours['p99_ms'] / floor['p99_ms']:.2f}"]
            out.append(f"| {shape} | " + " | ".join(cells) + " |")
        out.append("")
    rounds = max((r.rounds_done for r in measured), default=0)
    out.append(f"Measured {info['date']} at {info['citylinks'].split(' at ')[-1]}, "
               f"concurrency 16, medians of {rounds} round(s) of {args.seconds:g} s; load "
               f"average before / after {info['load_average_before']} / "
               f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}.")
    return out


def update_readme(lines: list[str]) -> bool:
    """Replace the README's benchmark tables (between their markers) with these."""
    text = README.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    README.write_text(text[:start + len(README_START)] + "\n\n" + "\n".join(lines)
                      + "\n\n" + text[end:], encoding="utf-8")
    return True


def write_results(path: Path, info: dict[str, Any], reports: list[DbReport],
                  args: argparse.Namespace, world_stats: dict[str, Any], world_sha: str,
                  elapsed_s: float) -> None:
    mode = "a quick run: a smoke test, not for comparison" if args.quick else "a full run"
    readme = os.path.relpath(HERE / "README.md", path.resolve().parent)
    out = [
        "# citylinks benchmark results",
        "",
        f"Written by `python benchmarks/run.py` ({mode}; {args.rounds} round(s), "
        f"{args.seconds:g} s measured + {args.warmup:g} s warm-up per cell, "
        f"{elapsed_s / 60:.1f} min in all). "
        f"See [README.md]({readme}) for what is measured and how to read this.",
        "",
        "## Machine",
        "",
        f"- Date: {info['date']}",
        f"- CPU: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB memory",
        f"- OS: {info['os']}",
        f"- Python {info['python']}, SQLite {info['sqlite']}"
        + "".join(f", PostgreSQL {r.version}" for r in reports if r.version
                  and r.target.sqlite_path is None),
        f"- citylinks {info['citylinks']}",
        f"- Libraries: {info['libraries']}",
        f"- Servers pinned to core {args.server_cpu}, load generator to core {args.load_cpu}"
        "; PostgreSQL's own processes are not pinned.",
        f"- Load average before / after: {info['load_average_before']} / "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work on the machine "
        "shows here)",
        "",
        "## World",
        "",
        f"Seed {args.seed}, file sha256 {world_sha[:16]}…: {world_stats['countries']} countries, "
        f"{world_stats['places']:,} places, {world_stats['partnerships']:,} partnerships; "
        f"{world_stats['hubs (80-150 partners)']} hubs with 80-150 partners (max "
        f"{world_stats['max degree']}), {world_stats['places with 0-5 partners']:,} places "
        f"with 0-5, {world_stats['places with 6-79 partners']:,} with 6-79; sectors per "
        "partnership: " + ", ".join(f"{k}: {v:,}" for k, v in
                                    world_stats["sectors per partnership"].items()) + ".",
        "",
    ]
    all_verdicts = []
    for report in reports:
        out += [f"## {report.target.name}", ""]
        if report.skipped:
            out += [f"Not measured: {report.skipped}", ""]
            all_verdicts.append(f"{report.target.name}: not measured")
            continue
        w = report.world
        out += [
            f"Imported with `citylinks import` in {report.import_s:.1f} s: {w['places']:,} "
            f"places, {w['partnerships']:,} partnerships, {w['hubs']} hubs, "
            f"{w['countries']} countries, {w['sectors']} sectors in use. "
            f"{report.rounds_done} round(s).",
            "",
        ]
        verdicts = []
        for name in report.servers:
            if name == FLOOR:
                continue
            lines, found = db_table(report, name)
            verdicts += found
            out += [f"### {TABLE_TITLES[name]}", "", *lines, ""]
        client = [c.get("client_cpu_fraction", 0) for cells in report.cells.values()
                  for c in cells]
        out += [
            f"The load generator used at most {max(client, default=0):.0%} of its core "
            "in any cell (near 100% it would be the bottleneck). CPU ms/req: the server "
            "process's CPU time per answered request (user + system, median across rounds).",
            "",
            "| | " + " | ".join(report.servers) + " |",
            "|---|" + "--:|" * len(report.servers),
            "| start-up, process start to first 200 on /healthz (median) | "
            + " | ".join(f"{median(report.startup.get(n, [])):.2f} s" for n in report.servers)
            + " |",
            "| peak RSS of the server process (highest round) | "
            + " | ".join(f"{max(report.peak_rss.get(n, []), default=0) / 2**20:.0f} MiB"
                         for n in report.servers) + " |",
            "",
        ]
        if report.problems:
            out += ["**Problems:**", ""] + [f"- {p}" for p in report.problems] + [""]
        else:
            out += ["Answers checked: citylinks' `data` equals the floor's for every shape.",
                    ""]
        all_verdicts += [f"{report.target.name} {v}" for v in verdicts]
        all_verdicts += [f"{report.target.name}: {p}" for p in report.problems]
    passed = all(v.endswith("pass") for v in all_verdicts)
    targets = "; ".join(f"{shape} req/s ratio ≥ {rps:g}, p99 ratio ≤ {p99:g}"
                        for shape, (rps, p99) in SHAPE_TARGETS.items())
    out[4:4] = [f"**Verdict: {'all targets met' if passed else 'targets NOT all met'}.** "
                f"Targets at concurrency 16, citylinks with its response cache off / floor: "
                f"{targets}. With the cache on, repeated variables are answered from "
                "memory: its ratios may pass 1.0 by far, and have no target.", ""] + [
                    f"- {v}" for v in all_verdicts] + [""]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per cell")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 1 round of 1 s cells, written to out/RESULTS.quick.md")
    parser.add_argument("--pg-url", default=os.environ.get("CITYLINKS_BENCH_PG", DEFAULT_PG),
                        help="a dedicated database on loopback, dropped and recreated "
                             f"(default {DEFAULT_PG})")
    parser.add_argument("--cache", choices=["off", "on", "both"], default="both",
                        help="citylinks' response cache off, on, or one server of each "
                             "(default both: two tables per database)")
    parser.add_argument("--seed", type=int, default=world.SEED)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)
    parser.add_argument("--max-minutes", type=float, default=30.0,
                        help="stop measuring after this long, whatever is left")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.warmup = 1, 1.0, 0.3
    output = args.output or (OUT / "RESULTS.quick.md" if args.quick else HERE / "RESULTS.md")
    if not shutil.which(CITYLINKS):
        raise SystemExit("the citylinks command is not installed next to this Python")
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"):
        log("fewer than 2 cores (or no affinity control): nothing is pinned")
        args.server_cpu = args.load_cpu = None
    OUT.mkdir(exist_ok=True)
    started = time.monotonic()
    deadline = started + args.max_minutes * 60
    info = machine_info()

    world_path = OUT / "world.json"
    log(f"generating the world (seed {args.seed})")
    document = world.write(world_path, args.seed)
    world_stats = world.degree_stats(document)
    del document
    world_sha = hashlib.sha256(world_path.read_bytes()).hexdigest()

    targets = []
    if args.db in ("sqlite", "both"):
        targets.append(sqlite_target())
    if args.db in ("postgres", "both"):
        targets.append(postgres_target(args.pg_url))
    servers = {"off": (CITYLINKS_OFF, FLOOR), "on": (CITYLINKS_ON, FLOOR),
               "both": (CITYLINKS_OFF, CITYLINKS_ON, FLOOR)}[args.cache]
    reports = [DbReport(t, servers=servers) for t in targets]
    results_json = OUT / "results.json"
    try:
        for report in reports:
            try:
                if report.target.sqlite_path is None:
                    report.version = pg_version(report.target)
                bench_database(report, args, world_path, deadline)
            except Exception as error:  # one database failing must not lose the other's results
                report.skipped = f"{type(error).__name__}: {error}"
                loud(f"{report.target.name}: {report.skipped}")
    except KeyboardInterrupt:
        loud("interrupted: writing what was measured")
    finally:
        write_results(output, info, reports, args, world_stats, world_sha,
                      time.monotonic() - started)
        # Only a full run of both databases stands for the project in its README.
        if (not args.quick and args.output is None and args.db == "both"
                and all(not r.skipped and r.rounds_done == args.rounds for r in reports)
                and update_readme(readme_tables(info, reports, args))):
            log("updated the benchmark tables in README.md")
        results_json.write_text(json.dumps({
            "machine": info, "world": world_stats,
            "databases": {r.target.name: {
                "import_s": r.import_s, "startup_s": r.startup, "peak_rss": r.peak_rss,
                "problems": r.problems, "skipped": r.skipped,
                "cells": {f"{s} c={c} {t}": v for (s, c, t), v in r.cells.items()},
            } for r in reports}}, indent=1))
    log(f"wrote {output.relative_to(REPO) if output.is_relative_to(REPO) else output}")
    print(output.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
