"""Shared fixtures: real SQLite files and a real PostgreSQL, the app in-process and as a server.

Every database test runs twice, on SQLite and on PostgreSQL (`db_url` is
parametrised). Each test gets its own fresh copy of a store that was migrated
and loaded with the bundled data once per session (tests/stores.py).
"""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from citylinks.db.bootstrap import prepare, stories_document
from citylinks.db.engine import Database, create_database
from citylinks.schema import pipeline
from citylinks.server import create_app
from citylinks.settings import Settings
from hypothesis import settings as hypothesis_settings
from sqlalchemy import event

from tests.stores import POSTGRES_COPIES, fresh_store, pg_database_url, pg_execute

REPO = Path(__file__).resolve().parent.parent
TWINNINGS = REPO.parent / "shared" / "data" / "twinnings"


# With CI=true a test skipped for want of a service, a browser or a client fails instead:
# a green CI must mean that everything ran. These are the words of those skips.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# In CI the generated examples are the same in every run (Hypothesis' fixed seed), so a
# red CI names a reproducible document; a developer's runs draw new ones each time.
hypothesis_settings.register_profile("ci", derandomize=True)
if IN_CI:
    hypothesis_settings.load_profile("ci")
MISSING_SERVICE = re.compile(
    r"PostgreSQL|Redis|chromium|Node\.js|node and npm|npm registry|is not answering", re.I)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The PostgreSQL copies still being made or dropped are done before the run ends."""
    POSTGRES_COPIES.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if not (IN_CI and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if MISSING_SERVICE.search(reason):
        report.outcome = "failed"
        report.longrepr = (f"CI=true, and this test would have been skipped: {reason}\n"
                           "In CI a missing service, browser or client is a failure "
                           "(.ci/run installs and starts them).")


def _pg_available() -> bool:
    try:
        asyncio.run(pg_execute("SELECT 1"))
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return _pg_available()


def _build_templates(tmp_path_factory: pytest.TempPathFactory, pg_available: bool,
                     document: dict[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    sqlite_file = tmp_path_factory.mktemp("template") / "template.db"

    async def build(url: str) -> None:
        database = create_database(url)
        await prepare(database, document=document, progress=lambda *_: None)
        await database.dispose()

    asyncio.run(build(f"sqlite+aiosqlite:///{sqlite_file}"))
    out["sqlite"] = str(sqlite_file)
    if pg_available:
        name = f"citylinks_tpl_{uuid.uuid4().hex[:8]}"
        asyncio.run(pg_execute(f'CREATE DATABASE "{name}"'))
        asyncio.run(build(pg_database_url(name)))
        out["postgresql"] = name
    return out


def _drop_templates(out: dict[str, str]) -> None:
    if "postgresql" in out:
        POSTGRES_COPIES.retire(out["postgresql"])


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory, pg_available: bool) -> dict[str, str]:
    """A migrated store with the bundled data (the world), per backend, to copy for each test."""
    out = _build_templates(tmp_path_factory, pg_available, None)
    yield out  # type: ignore[misc]
    _drop_templates(out)


@pytest.fixture(scope="session")
def stories_templates(tmp_path_factory: pytest.TempPathFactory,
                      pg_available: bool) -> dict[str, str]:
    """A migrated store with the four curated stories alone: for the few tests whose
    expectations are about a small, known store (what an import adds to it)."""
    out = _build_templates(tmp_path_factory, pg_available, stories_document())
    yield out  # type: ignore[misc]
    _drop_templates(out)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, templates: dict[str, str],
           tmp_path: Path) -> Iterator[str]:
    """A fresh store with the bundled data, on each backend in turn."""
    url, cleanup = fresh_store(request.param, templates, tmp_path)
    yield url
    cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def stories_db_url(request: pytest.FixtureRequest, stories_templates: dict[str, str],
                   tmp_path: Path) -> Iterator[str]:
    """A fresh store with only the curated stories, on each backend in turn."""
    url, cleanup = fresh_store(request.param, stories_templates, tmp_path)
    yield url
    cleanup()


@pytest.fixture
def pg_url(templates: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL store, for what only PostgreSQL does (several workers on one store)."""
    url, cleanup = fresh_store("postgresql", templates, tmp_path)
    yield url
    cleanup()


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    db = create_database(db_url)
    yield db
    await db.dispose()


WEBHOOK_POLL = "SELECT webhook_deliveries.id \nFROM webhook_deliveries"


class StatementCounter:
    """Counts SQL statements sent to the database, as Saleor's query-count snapshots do."""

    def __init__(self, database: Database) -> None:
        self.statements: list[str] = []
        self._engines = [database.engine.sync_engine, database.reader.sync_engine]
        for engine in self._engines:
            event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SELECT 1")):
            return
        # The webhook delivery loop's look for due deliveries, once a second in the
        # background: a request that takes longer than that on a loaded machine would
        # count it as its own.
        if statement.startswith(WEBHOOK_POLL) and "next_attempt_at <=" in statement:
            return
        self.statements.append(statement)

    def reset(self) -> None:
        self.statements.clear()

    @property
    def count(self) -> int:
        return len(self.statements)

    def close(self) -> None:
        for engine in self._engines:
            event.remove(engine, "before_cursor_execute", self._record)


@asynccontextmanager
async def running_app(settings: Settings, *, graph_index_at_start: bool = False
                      ) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app with its lifespan run, and an HTTP client talking to it in-process.

    Without the graph's index built at start, unless asked: the suite starts hundreds
    of apps on stores holding the bundled world, most of which never ask a graph
    question (a tenth of a second each); test_graph_questions.py tests the start-up."""
    app = create_app(replace(settings, graph_index_at_start=graph_index_at_start))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://citylinks.test") as c:
            yield app, c


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(Settings(db_url=db_url)) as (_, http):
        yield http


@pytest.fixture
async def app_and_client(db_url: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async with running_app(Settings(db_url=db_url)) as pair:
        yield pair


async def gql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}},
                                 headers=headers or {})
    body: dict[str, Any] = response.json()
    return body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """`citylinks serve` started for real as a subprocess, on a free loopback port."""

    def __init__(self, db_url: str, workers: int = 1, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.db_url = db_url
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: a chatty server must never block on a full pipe.
        self.log = Path(tempfile.mkstemp(prefix="citylinks-server-", suffix=".log")[1])

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def start(self, timeout: float = 60) -> LiveServer:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "citylinks", "serve", "--db", self.db_url, "--port",
                 str(self.port), "--workers", str(self.workers), "--log-level", "warning"],
                env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            try:
                if (httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
                        and self._every_worker_answers(deadline)):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not become healthy in time")

    def _every_worker_answers(self, deadline: float) -> bool:
        """Whether each worker has answered a request (the first to finish starting
        answers the health check; a test of several workers needs them all)."""
        if self.workers <= 1:
            return True  # one process, which just answered
        answered: set[int] = set()
        while len(answered) < self.workers and time.monotonic() < deadline:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                connection.request("GET", "/healthz")
                connection.getresponse().read()
                worker = self.worker_serving(connection.sock.getsockname()[1])
            finally:
                connection.close()
            if worker is not None:
                answered.add(worker)
            if len(answered) < self.workers:
                time.sleep(0.05)
        return len(answered) >= self.workers

    def worker_serving(self, client_port: int) -> int | None:
        """The pid of the worker process holding the server end of the client's
        connection from this local port (several workers share one listening socket)."""
        assert self.process is not None
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                for conn in child.net_connections(kind="tcp"):
                    if (conn.laddr and conn.laddr.port == self.port and conn.raddr
                            and conn.raddr.port == client_port):
                        return int(child.pid)
            except psutil.Error:
                continue
        return None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush — what a crash looks like."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._close()

    def _close(self) -> None:
        """Nothing to close: output goes to `self.log`."""


@pytest.fixture
def live_server(db_url: str) -> Iterator[LiveServer]:
    server = LiveServer(db_url).start()
    yield server
    server.stop()


# ---------------------------------------------------------------- the document gate


def uncached(document: str) -> str:
    """The document behind a random comment: no kept verdict or plan can answer it."""
    return f"# {secrets.token_hex(8)}\n{document}"


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the documents graphql-core validates."""
    calls: list[int] = []
    original = pipeline.validate_document

    def counted(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(pipeline, "validate_document", counted)
    return calls


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents graphql-core parses."""
    texts: list[str] = []
    original = pipeline.parse

    def counted(text: str, **options: Any) -> Any:
        texts.append(text)
        return original(text, **options)

    monkeypatch.setattr(pipeline, "parse", counted)
    return texts
