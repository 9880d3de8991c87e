"""First start: migrate, make sure the reference data is there, load the bundled stories once."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from citylinks.db import migrate
from citylinks.db.engine import Database
from citylinks.db.importer import ImportReport, load_document
from citylinks.db.models import Place
from citylinks.db.reference import ensure_reference_data
from sqlalchemy import func, select

SEED_RESOURCE = "citylinks-seed.json"


def bundled_document() -> dict[str, Any]:
    """The four seed stories, curated: shipped inside the package, read as a resource."""
    text = resources.files("citylinks.db.seed").joinpath(SEED_RESOURCE).read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


async def prepare(database: Database, *, load_seed: bool = True) -> ImportReport | None:
    """Bring the database to head; on an empty store, load the bundled data set."""
    await migrate.upgrade(database)
    async with database.write() as session:
        await ensure_reference_data(session)
        if not load_seed:
            return None
        places = await session.scalar(select(func.count()).select_from(Place))
        if places:
            return None
        return await load_document(session, bundled_document(), actor="citylinks (bundled data)")
