"""First start: wait for the database, migrate, make sure the reference data is there, load
the bundled data set once."""

from __future__ import annotations

import asyncio
import json
import lzma
import sys
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from citylinks.db import migrate
from citylinks.db.engine import Database
from citylinks.db.importer import ImportReport, Progress, load_document
from citylinks.db.models import Place
from citylinks.db.reference import ensure_reference_data
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

# The world's twinnings merged with the curated stories (scripts/build_world_data.py).
WORLD_RESOURCE = "world.json.xz"
# The four curated stories alone: the build's input, and a small store for tests.
STORIES_RESOURCE = "citylinks-seed.json"


def bundled_document() -> dict[str, Any]:
    """The bundled data set, shipped inside the package, read as a resource."""
    data = resources.files("citylinks.db.seed").joinpath(WORLD_RESOURCE).read_bytes()
    document: dict[str, Any] = json.loads(lzma.decompress(data))
    return document


def stories_document() -> dict[str, Any]:
    """The four curated stories alone (docs/bundled-data.md)."""
    text = resources.files("citylinks.db.seed").joinpath(STORIES_RESOURCE).read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def _progress_line() -> Progress:
    """One line on stderr per stage of the first load, so a first start never looks stuck."""
    started = time.monotonic()

    def report(stage: str, done: int, total: int) -> None:
        if done == total:
            print(f"citylinks: loading the bundled data set: {total} {stage} "
                  f"({time.monotonic() - started:.1f}s)", file=sys.stderr, flush=True)

    return report


async def prepare(database: Database, *, load_seed: bool = True,
                  document: dict[str, Any] | None = None,
                  progress: Progress | None = None) -> ImportReport | None:
    """Bring the database to head; on an empty store, load the bundled data set
    (or `document`, the stories alone for instance)."""
    await migrate.upgrade(database)
    async with database.write() as session:
        await ensure_reference_data(session)
        if not load_seed:
            return None
        places = await session.scalar(select(func.count()).select_from(Place))
        if places:
            return None
        return await load_document(session, document or bundled_document(),
                                   actor="citylinks (bundled data)",
                                   progress=progress or _progress_line())


def _unreachable(error: BaseException) -> str:
    """The cause in one line, without the driver's traceback."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    first_line = str(cause).splitlines()[0] if str(cause) else ""
    return f"{type(cause).__name__}: {first_line}".rstrip(": ")


async def wait_for_database(database: Database, timeout: float,
                            say: Callable[[str], None]) -> bool:
    """True once the database answers; while it does not, retry with a doubling delay
    (0.25 s up to 5 s) for at most `timeout` seconds, saying so once at the first
    failure and once when it answers. A server that starts before its database (a
    container, a reboot) then needs nothing restarted. SQLite is a file: nothing to
    wait for, so it is tried once."""
    address = make_url(database.url).render_as_string(hide_password=True)
    deadline = time.monotonic() + timeout
    delay, waited = 0.25, False
    while True:
        try:
            async with database.read() as connection:
                await connection.execute(text("SELECT 1"))
        except (OSError, TimeoutError, DBAPIError) as error:
            left = deadline - time.monotonic()
            if database.dialect == "sqlite" or left <= 0:
                say(f"the database at {address} is not reachable ({_unreachable(error)})"
                    + (f"; gave up after {timeout:g} s" if waited else ""))
                return False
            if not waited:
                say(f"the database at {address} is not reachable ({_unreachable(error)}); "
                    f"waiting up to {timeout:g} s for it (CITYLINKS_DB_WAIT)")
                waited = True
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, 5.0)
            continue
        if waited:
            say(f"the database at {address} answers")
        return True
