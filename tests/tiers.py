"""Run one document on each tier of the read path and on Strawberry's executor, in-process."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from citylinks.schema.context import Context
from citylinks.schema.loaders import Loaders

TIERS = ("sql", "batch")


def _context(app: Any) -> Context:
    graphql = app.state.graphql
    return Context(settings=graphql.settings, db=app.state.db, loaders=Loaders(app.state.db))


def normalised(result: Any) -> dict[str, Any]:
    """Data as JSON would carry it, and each error as message, path and code."""
    errors = [{"message": e.message, "path": e.path,
               "code": (e.extensions or {}).get("code"),
               "field": (e.extensions or {}).get("field")}
              for e in result.errors or ()]
    return {"data": orjson.loads(orjson.dumps(result.data)), "errors": errors}


async def reference(app: Any, query: str, variables: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """Strawberry's executor, as the server runs it for what the compiled path leaves."""
    result = await app.state.graphql.schema.execute(
        query, variable_values=variables or {}, context_value=_context(app))
    return normalised(result)


async def compiled(app: Any, tier: str, query: str,
                   variables: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The compiled path on one tier; None where it leaves the document to the executor."""
    engine = app.state.graphql.compiled
    engine.sql_tier = tier == "sql"
    try:
        result = await engine.execute(query, variables or {}, None, _context(app))
    finally:
        engine.sql_tier = True
    return None if result is None else normalised(result)


class _FallbackRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def unexpected_fallbacks() -> Iterator[list[logging.LogRecord]]:
    """Records of the compiled path giving up on an exception it did not expect: a tier
    that fails and hands the document on hides its bug behind the executor's answer."""
    logger = logging.getLogger("citylinks.compiled")
    recorder = _FallbackRecorder()
    level = logger.level
    logger.addHandler(recorder)
    logger.setLevel(logging.DEBUG)
    try:
        yield recorder.records
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(level)
