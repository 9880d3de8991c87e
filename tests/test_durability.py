"""Durability and faults: SIGKILL in the middle of a stream of acknowledged writes loses none of
them (SQLite in WAL mode, PostgreSQL); while PostgreSQL cannot be reached /healthz answers
503 and queries get a coded error, and service resumes by itself when it is back."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from citylinks.auth import create_token
from citylinks.db.engine import create_database

from tests.conftest import LiveServer, fresh_store

CREATE_CITY = """
mutation Create($input: CityInput!) { createCity(input: $input) { id name } }
"""
NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id ... on City { name } } }"
SECTORS = "{ sectors { slug } }"
WRITERS = 4
SERVER_ENV = {"CITYLINKS_RATE_LIMIT": "0", "CITYLINKS_WEBHOOK_DELIVERY": "0"}


def _editor_token(db_url: str) -> str:
    async def create() -> str:
        database = create_database(db_url)
        try:
            async with database.write() as session:
                _, token = await create_token(session, "editor", "durability test")
            return token
        finally:
            await database.dispose()

    return asyncio.run(create())


class Writers:
    """Threads that create cities back to back and keep each acknowledged one."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"authorization": f"Bearer {token}"}
        self.acknowledged: dict[str, str] = {}  # id -> name
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._write, args=(n,)) for n in range(WRITERS)]

    def _write(self, writer: int) -> None:
        with httpx.Client(timeout=10) as client:
            for i in range(100_000):
                if self.stop.is_set():
                    return
                name = f"Durable {writer}-{i}"
                try:
                    response = client.post(f"{self.url}/graphql", headers=self.headers, json={
                        "query": CREATE_CITY,
                        "variables": {"input": {"name": name, "level": "CITY",
                                                "country": "VN"}}})
                    created = response.json()["data"]["createCity"]
                except (httpx.HTTPError, ValueError, KeyError, TypeError):
                    return  # the server is gone: this write was never acknowledged
                with self.lock:
                    self.acknowledged[created["id"]] = name

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def _stored(url: str, ids: list[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    with httpx.Client(timeout=30) as client:
        for start in range(0, len(ids), 50):
            chunk = ids[start:start + 50]
            body = client.post(f"{url}/graphql", json={
                "query": NODES, "variables": {"ids": chunk}}).json()
            assert "errors" not in body, body
            for asked, node in zip(chunk, body["data"]["nodes"], strict=True):
                found[asked] = node["name"] if node else None
    return found


@pytest.mark.slow
def test_every_acknowledged_write_survives_a_sigkill(db_url: str) -> None:
    # given: a server taking a stream of writes from several clients
    token = _editor_token(db_url)
    server = LiveServer(db_url, env=SERVER_ENV).start()
    try:
        with Writers(server.url, token) as writers:
            deadline = time.monotonic() + 15
            while len(writers.acknowledged) < 40 and time.monotonic() < deadline:
                time.sleep(0.02)
            # when: it dies mid-stream, with no chance to flush anything
            server.kill()
        acknowledged = dict(writers.acknowledged)
    finally:
        server.stop()
    assert len(acknowledged) >= 40, "too few writes before the kill to prove anything"
    # then: after a restart, every acknowledged write is there, under its name
    restarted = LiveServer(db_url, env=SERVER_ENV).start()
    try:
        stored = _stored(restarted.url, list(acknowledged))
    finally:
        restarted.stop()
    lost = {i: name for i, name in acknowledged.items() if stored[i] != name}
    assert lost == {}, f"{len(lost)} of {len(acknowledged)} acknowledged writes lost"


class TcpProxy:
    """A loopback TCP proxy to PostgreSQL that the test can cut and restore: the database
    'stops' for this server alone, not for everyone sharing the real one."""

    def __init__(self, upstream: tuple[str, int], port: int = 0) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65_536):
                target.sendall(data)
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Every connection dropped, every new one refused: what a stopped server looks like."""
        self.open = False
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def pg_through_proxy(templates: dict[str, str], tmp_path: Any) -> Iterator[tuple[str, TcpProxy]]:
    url, cleanup = fresh_store("postgresql", templates, tmp_path)
    proxy = TcpProxy(("127.0.0.1", 5432))
    yield url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/"), proxy
    proxy.close()
    cleanup()


def _wait_for(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        outcome = check()
        if outcome or time.monotonic() > deadline:
            return outcome
        time.sleep(0.1)


@pytest.mark.slow
def test_while_postgresql_is_down_health_is_503_queries_are_coded_and_service_resumes(
        pg_through_proxy: tuple[str, TcpProxy]) -> None:
    url, proxy = pg_through_proxy
    server = LiveServer(url, env=SERVER_ENV).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert "errors" not in client.post("/graphql", json={"query": SECTORS}).json()
            # when: the database goes away
            proxy.cut()
            # then: health says so, and a query gets a coded, retryable error
            assert _wait_for(lambda: client.get("/healthz").status_code == 503, 10)
            response = client.post("/graphql", json={"query": SECTORS})
            assert response.status_code < 500
            [error] = response.json()["errors"]
            assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
            assert error["extensions"]["reason"] == "DATABASE_UNAVAILABLE"
            assert "database is not answering" in error["message"]
            assert "5432" not in response.text and "asyncpg" not in response.text
            # when: it comes back, service resumes with no restart
            proxy.restore()
            assert _wait_for(lambda: client.get("/healthz").status_code == 200, 15)
            body = client.post("/graphql", json={"query": SECTORS}).json()
            assert "errors" not in body and body["data"]["sectors"]
    finally:
        server.stop()
