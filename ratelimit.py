"""Rate limiting: requests per client (its token, else its address) per fixed window, shared
between worker processes through Redis or PostgreSQL, in-process on SQLite.

Each window allows `limit` requests. A worker does not ask the shared store about
every request: it claims a lease of a few requests at a time (`lease`) and spends it
locally, so a steady client costs one round trip per lease, not per request. The
store grants atomically and never more than the window's limit, so no client gets
more than `limit` requests in a window, whatever the number of workers; a lease
left unspent in one worker can make another refuse at most `workers x lease`
requests early. When the store cannot be reached the limiter lets requests through
(logged): it protects the database, it must not become a second way to lose it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import text

log = logging.getLogger("citylinks.ratelimit")

# How often a store failure is logged, at most.
_FAILURE_LOG_INTERVAL_S = 30.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int  # approximate across workers: leases held elsewhere are not known
    reset_at: float  # epoch seconds when the window ends

    def retry_after(self, now: float | None = None) -> int:
        return max(1, math.ceil(self.reset_at - (time.time() if now is None else now)))

    def headers(self) -> dict[str, str]:
        """GitHub's names for the figures; `Retry-After` (RFC 9110) when refused."""
        headers = {"X-RateLimit-Limit": str(self.limit),
                   "X-RateLimit-Remaining": str(max(0, self.remaining)),
                   "X-RateLimit-Reset": str(math.ceil(self.reset_at))}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after())
        return headers


class Store(Protocol):
    """Shared counters: grant up to `amount` more requests for (key, window), never past
    `limit`; answer (requests used in the window after the grant, requests granted)."""

    shared: bool

    async def claim(self, key: str, window: int, amount: int, limit: int,
                    ttl: int) -> tuple[int, int]: ...


class MemoryStore:
    """One process's counters: the embedded default (SQLite serves one machine)."""

    shared = False

    def __init__(self) -> None:
        self._used: dict[str, int] = {}
        self._window = -1

    async def claim(self, key: str, window: int, amount: int, limit: int,
                    ttl: int) -> tuple[int, int]:
        if window != self._window:
            self._used.clear()
            self._window = window
        used = self._used.get(key, 0)
        granted = max(0, min(amount, limit - used))
        self._used[key] = used + granted
        return used + granted, granted


_REDIS_CLAIM = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used)
if grant <= 0 then return {used, 0} end
used = redis.call('INCRBY', KEYS[1], grant)
if used == grant then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return {used, grant}
"""


class RedisStore:
    """Counters in Redis: one Lua script per claim, so a grant is atomic."""

    shared = True

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(url, socket_timeout=1.0,
                                            socket_connect_timeout=1.0)
        self._script = self._client.register_script(_REDIS_CLAIM)

    async def claim(self, key: str, window: int, amount: int, limit: int,
                    ttl: int) -> tuple[int, int]:
        used, granted = await self._script(keys=[f"citylinks:ratelimit:{key}:{window}"],
                                           args=[amount, limit, ttl])
        return int(used), int(granted)

    async def close(self) -> None:
        await self._client.aclose()


# UNLOGGED: counters are disposable (a crash may forget a window's counts, which only
# forgives a few requests) and skip the write-ahead log. Created on first use: it
# belongs to the running service, not to the data the migrations describe.
_PG_CREATE = """
CREATE UNLOGGED TABLE IF NOT EXISTS citylinks_rate_limits (
    key text NOT NULL,
    window_start bigint NOT NULL,
    used integer NOT NULL,
    granted integer NOT NULL,
    PRIMARY KEY (key, window_start)
)"""
# In ON CONFLICT DO UPDATE, `r.used` is the row before this statement: `granted` is
# what this claim added, computed in the same atomic step as the new total. The casts:
# asyncpg would take the untyped parameters of LEAST for text.
_PG_CLAIM = text("""
INSERT INTO citylinks_rate_limits AS r (key, window_start, used, granted)
VALUES (:key, CAST(:window AS bigint), LEAST(CAST(:amount AS integer), CAST(:limit AS integer)),
        LEAST(CAST(:amount AS integer), CAST(:limit AS integer)))
ON CONFLICT (key, window_start) DO UPDATE
SET used = LEAST(r.used + CAST(:amount AS integer), CAST(:limit AS integer)),
    granted = LEAST(r.used + CAST(:amount AS integer), CAST(:limit AS integer)) - r.used
RETURNING used, granted""")
_PG_PRUNE = text("DELETE FROM citylinks_rate_limits WHERE window_start < :window")


class PostgresStore:
    """Counters in the service's PostgreSQL: one upsert per claim on an unlogged table."""

    shared = True

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect  # Database.read: an autocommit connection
        self._ready = False
        self._pruned_window = -1

    async def claim(self, key: str, window: int, amount: int, limit: int,
                    ttl: int) -> tuple[int, int]:
        async with self._connect() as conn:
            if not self._ready:
                await self._create(conn)
            if window != self._pruned_window:
                self._pruned_window = window
                await conn.execute(_PG_PRUNE, {"window": window - 1})
            row = (await conn.execute(_PG_CLAIM, {
                "key": key, "window": window, "amount": amount, "limit": limit})).one()
        return int(row.used), int(row.granted)

    async def _create(self, conn: Any) -> None:
        from sqlalchemy.exc import IntegrityError, ProgrammingError

        # Two workers creating it at once: one wins, the other sees it exist.
        with contextlib.suppress(IntegrityError, ProgrammingError):
            await conn.execute(text(_PG_CREATE))
        self._ready = True


@dataclass
class _Lease:
    window: int
    left: int
    used: int  # the store's count after the last claim


class RateLimiter:
    """`check(key)` answers whether one more request of that client fits its window."""

    def __init__(self, store: Store, limit: int, window_s: int,
                 lease: int | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.limit = limit
        self.window_s = max(1, window_s)
        # A fiftieth of the window's allowance per claim; exact counting in-process.
        self.lease = lease or (max(1, limit // 50) if store.shared else 1)
        self.clock = clock
        self._leases: dict[str, _Lease] = {}
        self._lease_window = -1
        self._failed_at = 0.0

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    async def check(self, key: str) -> Decision:
        now = self.clock()
        window = int(now // self.window_s)
        reset_at = (window + 1) * self.window_s
        if window != self._lease_window:
            self._leases.clear()
            self._lease_window = window
        lease = self._leases.get(key)
        if lease is None or lease.left <= 0:
            try:
                used, granted = await self.store.claim(key, window, self.lease, self.limit,
                                                       self.window_s * 2)
            except Exception as error:  # fail open: see the module's docstring
                if now - self._failed_at > _FAILURE_LOG_INTERVAL_S:
                    self._failed_at = now
                    log.warning("rate limit store unavailable (%s): not limiting",
                                type(error).__name__)
                return Decision(True, self.limit, self.limit, reset_at)
            if granted <= 0:
                return Decision(False, self.limit, 0, reset_at)
            lease = self._leases[key] = _Lease(window, granted, used)
        lease.left -= 1
        return Decision(True, self.limit, self.limit - lease.used + lease.left, reset_at)


def create_rate_limiter(limit: int, window_s: int, redis_url: str | None, dialect: str,
                        connect: Callable[[], Awaitable[Any]] | Any) -> RateLimiter:
    """Redis when configured, else the PostgreSQL the service uses, else in-process."""
    store: Store
    if redis_url:
        store = RedisStore(redis_url)
    elif dialect == "postgresql":
        store = PostgresStore(connect)
    else:
        store = MemoryStore()
    return RateLimiter(store, limit, window_s)


def client_key(token_id: int | None, client_host: str | None) -> str:
    """Whom a request counts against: its (valid) token, else its address. An unknown
    token counts as its address, so inventing tokens buys no allowance."""
    if token_id is not None:
        return f"token:{token_id}"
    return f"addr:{client_host or 'unknown'}"
