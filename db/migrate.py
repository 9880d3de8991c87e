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


def _sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    """Outside any transaction (SQLite ignores the pragma inside one), on the driver's
    connection so that SQLAlchemy does not begin one first."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    finally:
        cursor.close()


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"a migration left rows whose reference is gone: {broken[:5]}")


async def upgrade(database: Database) -> bool:
    """Migrate to head; return True when the database had no citylinks tables before.

    On SQLite foreign keys are off while the migrations run: a migration that
    recreates a table (batch mode: copy, drop, rename) would otherwise cascade the
    drop into the rows that refer to it. They are checked before the commit."""
    sqlite = database.dialect == "sqlite"
    async with database.engine.connect() as connection:
        if sqlite:
            await connection.run_sync(_sqlite_foreign_keys, False)
        try:
            was_empty = await connection.run_sync(_is_empty)
            await connection.run_sync(_upgrade)
            if sqlite:
                await connection.run_sync(_check_foreign_keys)
            await connection.commit()
        finally:
            if sqlite:
                await connection.rollback()
                await connection.run_sync(_sqlite_foreign_keys, True)
    return was_empty


def _revisions(connection: Connection) -> tuple[set[str], set[str]]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    current = set(MigrationContext.configure(connection).get_current_heads())
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    return current, heads


async def missing_schema(database: Database) -> str | None:
    """Why this database cannot be served as it is (no schema, or an older one), for a
    server told not to migrate; None when it is at head."""
    async with database.engine.connect() as connection:
        current, heads = await connection.run_sync(_revisions)
    if current == heads:
        return None
    if not current:
        return "it has no citylinks schema"
    return (f"its schema is at revision {', '.join(sorted(current))}, this citylinks needs "
            f"{', '.join(sorted(heads))}")
