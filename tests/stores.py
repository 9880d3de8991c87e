"""Fresh stores for tests: a copy of a prepared template for each test, a file copy on SQLite,
a `CREATE DATABASE ... TEMPLATE` on PostgreSQL made one ahead in the background.

A PostgreSQL copy of the world (about 30 MB) takes the server about a second to make, most
of it PostgreSQL's own work. Made while the previous test runs, on the machine's other core,
and dropped after the test in a thread of its own, the test waits for neither. Every test
still gets a copy nobody else has touched.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

PG_ADMIN = os.environ.get("CITYLINKS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_MISSING = "PostgreSQL is not answering on 127.0.0.1:5432 (start it: see README)"


def pg_admin_dsn() -> str:
    return PG_ADMIN.replace("postgresql+asyncpg://", "postgresql://")


async def pg_execute(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_admin_dsn())
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def pg_database_url(name: str) -> str:
    base = pg_admin_dsn().rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


def _copy(template: str) -> str:
    name = f"citylinks_t_{uuid.uuid4().hex[:10]}"
    asyncio.run(pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    return name


def _drop(name: str) -> None:
    asyncio.run(pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class PostgresCopies:
    """Copies of template databases: the next copy of a template is made as soon as one is
    taken, and copies given back are dropped in the background."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._maker: ThreadPoolExecutor | None = None
        self._dropper: ThreadPoolExecutor | None = None
        self._next: dict[str, Future[str]] = {}
        self._drops: list[Future[None]] = []

    def _executors(self) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
        if self._maker is None or self._dropper is None:
            self._maker = ThreadPoolExecutor(1, thread_name_prefix="pg-copy")
            self._dropper = ThreadPoolExecutor(1, thread_name_prefix="pg-drop")
        return self._maker, self._dropper

    def take(self, template: str) -> str:
        """A new copy of `template`, no one else's."""
        with self._lock:
            maker, _ = self._executors()
            made = self._next.pop(template, None) or maker.submit(_copy, template)
        name = made.result()
        with self._lock:
            self._next.setdefault(template, maker.submit(_copy, template))
        return name

    def give_back(self, name: str) -> None:
        """Drop a copy, without waiting for it."""
        with self._lock:
            _, dropper = self._executors()
            self._drops.append(dropper.submit(_drop, name))

    def retire(self, template: str) -> None:
        """Drop the template and the copy made ahead of it, and wait: its copies are made
        from it, so it goes only once none is being made."""
        with self._lock:
            made = self._next.pop(template, None)
        if made is not None and made.exception() is None:
            self.give_back(made.result())
        self.give_back(template)
        self.wait()

    def wait(self) -> None:
        """Every drop asked for is done; the first that failed is raised."""
        with self._lock:
            drops, self._drops = self._drops, []
        for drop in drops:
            drop.result()

    def close(self) -> None:
        for template in list(self._next):
            self.retire(template)
        self.wait()
        with self._lock:
            for executor in (self._maker, self._dropper):
                if executor is not None:
                    executor.shutdown(wait=True)
            self._maker = self._dropper = None


POSTGRES_COPIES = PostgresCopies()


def fresh_store(backend: str, templates: dict[str, str],
                tmp_path: Path) -> tuple[str, Callable[[], None]]:
    """(url, cleanup) of a new store copied from the template."""
    if backend == "sqlite":
        target = tmp_path / f"store-{uuid.uuid4().hex[:6]}.db"
        shutil.copy(templates["sqlite"], target)
        return f"sqlite+aiosqlite:///{target}", lambda: None
    if "postgresql" not in templates:
        pytest.skip(PG_MISSING)
    name = POSTGRES_COPIES.take(templates["postgresql"])
    return pg_database_url(name), lambda: POSTGRES_COPIES.give_back(name)
