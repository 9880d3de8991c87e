"""`citylinks serve` honours its start-up settings, refuses a bad setting by name, and waits for
a database that is not there yet, saying so in one line instead of a traceback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from citylinks.db.engine import create_database
from citylinks.settings import Settings
from sqlalchemy import inspect

from tests.conftest import LiveServer, free_port, fresh_store, running_app
from tests.test_durability import TcpProxy

HAI_PHONG = '{ city(name: "hai phong") { name } }'
QUIET = {"CITYLINKS_WEBHOOK_DELIVERY": "0"}


def _tables(url: str) -> set[str]:
    async def read() -> set[str]:
        database = create_database(url)
        try:
            async with database.engine.connect() as connection:
                return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await database.dispose()

    return asyncio.run(read())


def _serve(url: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`citylinks serve` expected to stop by itself."""
    return subprocess.run(
        [sys.executable, "-m", "citylinks", "serve", "--db", url, "--port", str(free_port())],
        env={**LiveServer(url).env, **env}, capture_output=True, text=True, timeout=timeout)


def test_load_seed_off_starts_on_a_migrated_empty_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    server = LiveServer(url, env={**QUIET, "CITYLINKS_LOAD_SEED": "0"}).start()
    try:
        body = httpx.post(f"{server.url}/graphql", json={"query": HAI_PHONG}).json()
    finally:
        server.stop()
    assert body == {"data": {"city": None}}
    assert "places" in _tables(url)
    assert "loaded the bundled data set" not in server.output()


def test_migrate_on_start_off_does_not_migrate_and_says_the_schema_is_missing(
        tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    finished = _serve(url, {**QUIET, "CITYLINKS_MIGRATE_ON_START": "0"})
    assert finished.returncode == 1
    assert "no citylinks schema" in finished.stderr
    assert "citylinks db upgrade" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert _tables(url) == set()


def test_migrate_on_start_off_serves_a_database_already_at_head(
        templates: dict[str, str], tmp_path: Path) -> None:
    url, _ = fresh_store("sqlite", templates, tmp_path)
    server = LiveServer(url, env={**QUIET, "CITYLINKS_MIGRATE_ON_START": "0"}).start()
    try:
        body = httpx.post(f"{server.url}/graphql", json={"query": HAI_PHONG}).json()
    finally:
        server.stop()
    assert body["data"]["city"]["name"] == "Hai Phong"


def test_a_setting_that_cannot_be_read_is_refused_by_name(tmp_path: Path) -> None:
    finished = _serve(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}",
                      {"CITYLINKS_GRAPHIQL": "ture"})
    assert finished.returncode == 2
    assert "CITYLINKS_GRAPHIQL='ture'" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_an_unreachable_database_is_waited_for_and_then_given_up_in_one_line() -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/citylinks"
    started = time.monotonic()
    finished = _serve(url, {**QUIET, "CITYLINKS_DB_WAIT": "1.5"})
    assert finished.returncode == 1
    assert time.monotonic() - started >= 1.5
    assert "Traceback" not in finished.stderr
    lines = [line for line in finished.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, finished.stderr  # waiting for it; gave up
    assert "is not reachable" in lines[0] and "waiting up to 1.5 s" in lines[0]
    assert "gave up after 1.5 s" in lines[1]


def test_postgresql_that_comes_up_after_the_server_is_waited_for(
        templates: dict[str, str], tmp_path: Path) -> None:
    # given: a server pointed at a port where PostgreSQL is not (yet) answering
    url, cleanup = fresh_store("postgresql", templates, tmp_path)
    port = free_port()
    server = LiveServer(url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{port}/"),
                        env={**QUIET, "CITYLINKS_DB_WAIT": "60"})
    starting = threading.Thread(target=server.start, kwargs={"timeout": 60})
    proxy: TcpProxy | None = None
    try:
        starting.start()
        deadline = time.monotonic() + 20
        while "is not reachable" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "waiting up to 60 s" in server.output()
        assert server.process is not None and server.process.poll() is None
        # when: the database comes up
        proxy = TcpProxy(("127.0.0.1", 5432), port=port)
        starting.join(60)
        # then: the server serves, having said one line while it waited
        body = httpx.post(f"{server.url}/graphql", json={"query": HAI_PHONG}).json()
        assert body["data"]["city"]["name"] == "Hai Phong"
        assert "Traceback" not in server.output()
        assert server.output().count("is not reachable") == 1
        assert "answers" in server.output()
    finally:
        server.stop()
        if proxy is not None:
            proxy.close()
        cleanup()


@pytest.mark.parametrize(("env", "served"), [({"CITYLINKS_PRODUCTION": "1"}, False),
                                             ({"CITYLINKS_PRODUCTION": "1",
                                               "CITYLINKS_METRICS": "1"}, True),
                                             ({}, True)])
async def test_metrics_are_off_in_production_unless_turned_on(
        env: dict[str, str], served: bool, templates: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CITYLINKS_PRODUCTION", "CITYLINKS_METRICS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    url, _ = fresh_store("sqlite", templates, tmp_path)
    async with running_app(Settings.from_env(db_url=url, webhook_delivery=False)) as (_, client):
        response = await client.get("/metrics")
    assert (response.status_code == 200) is served
