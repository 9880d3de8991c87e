"""What every resolver can reach: settings, the database, this request's loaders and viewer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from citylinks.db.engine import Database
from citylinks.schema.loaders import Loaders
from citylinks.settings import Settings


@dataclass
class Viewer:
    """Who is asking: a token's id and role, or nobody."""

    token_id: int | None = None
    role: str | None = None

    @property
    def label(self) -> str | None:
        return f"token:{self.token_id}" if self.token_id is not None else None


@dataclass
class Context:
    settings: Settings
    db: Database
    loaders: Loaders
    viewer: Viewer = field(default_factory=Viewer)
    request: Any = None
    response: Any = None
    services: Any = None
