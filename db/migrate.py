"""Bring a database to the newest schema with Alembic, the only way the schema changes."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from citylinks.db.engine import Database
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

# A package resource, not a file path, so migrations run from an installed wheel.
SCRIPT_LOCATION = "citylinks.db:migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _is_empty(connection: Connection) -> bool:
    return not inspect(connection).has_table("places")


async def upgrade(database: Database) -> bool:
    """Migrate to head; return True when the database had no citylinks tables before."""
    async with database.engine.connect() as connection:
        was_empty = await connection.run_sync(_is_empty)
        await connection.run_sync(_upgrade)
        await connection.commit()
    return was_empty
