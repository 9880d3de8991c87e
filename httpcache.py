"""HTTP caching of GET queries: an ETag per data version and request, Cache-Control, and 304.

Every accepted write bumps `store_state.data_version` in its own transaction
(db/writes.record_change), so "the data have not changed" is one primary-key
read. The ETag hashes that version with what makes one GET differ from
another: its query string (document or persisted-query hash, variables,
operation name), its Accept header (which picks the media type) and its
Authorization header. A request whose If-None-Match names the current ETag is
answered 304 without running the query; the front door asks only once the request
has passed the rate limit and its document has been admitted, so a refused document
reads no data version and never gets a 304.

The version is read before the query runs, so a write that commits meanwhile
can only make the answer newer than its ETag says, never older: the next
request sees a new version and a new ETag.

Only complete answers are cacheable: a response with errors (a refused query,
a rate limit, an unknown persisted query) gets `no-store`. With a token the
answer is `private, no-store`: it is the token holder's business alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from citylinks.db.engine import Database
from citylinks.db.models import StoreState
from sqlalchemy import select
from starlette.responses import Response

_VARY = ("Accept", "Authorization")


async def data_version(database: Database) -> int:
    async with database.read() as conn:
        version = await conn.scalar(
            select(StoreState.data_version).where(StoreState.id == 1))
    return int(version or 0)


def entity_tag(version: int, request: Any) -> str:
    key = b"\n".join((
        request.url.query.encode(),
        request.headers.get("accept", "").encode(),
        request.headers.get("authorization", "").encode(),
    ))
    return f'"{version}-{hashlib.sha256(key).hexdigest()[:24]}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match compares weakly (RFC 9110, 13.1.2): W/"x" matches "x"."""
    if not if_none_match:
        return False
    candidates = [c.strip() for c in if_none_match.split(",")]
    return "*" in candidates or etag in (c.removeprefix("W/") for c in candidates)


def _vary(response: Response) -> None:
    have = [v.strip() for v in response.headers.get("vary", "").split(",") if v.strip()]
    wanted = have + [v for v in _VARY if v.lower() not in {h.lower() for h in have}]
    response.headers["vary"] = ", ".join(wanted)


class HttpCache:
    """Wraps the GraphQL view's handling of one HTTP request."""

    def __init__(self, database: Callable[[], Database], max_age: int) -> None:
        self._database = database
        self.max_age = max_age

    def cache_control(self, request: Any) -> str:
        if request.headers.get("authorization"):
            return "private, no-store"
        return f"public, max-age={self.max_age}"

    async def entity_tag(self, request: Any) -> str:
        """The ETag of an admitted GET query: the data version and the request."""
        return entity_tag(await data_version(self._database()), request)

    def not_modified(self, request: Any, etag: str,
                     headers: Mapping[str, str]) -> Response | None:
        """304 when If-None-Match names the current ETag (or `*`: the request was
        admitted, so its answer exists)."""
        if not matches(request.headers.get("if-none-match"), etag):
            return None
        response = Response(status_code=304, headers={
            **headers, "etag": etag, "cache-control": self.cache_control(request)})
        _vary(response)
        return response

    def decorate(self, request: Any, response: Response, etag: str | None,
                 has_errors: bool) -> None:
        """A complete answer to a GET query gets its ETag and Cache-Control; one with
        errors is not to be stored."""
        if has_errors or etag is None:
            response.headers["cache-control"] = "no-store"
            return
        response.headers["etag"] = etag
        response.headers["cache-control"] = self.cache_control(request)
        _vary(response)
