"""Rate limiting: RATE_LIMITED (429, Retry-After) once a client's window is spent; a client
is its token, else its address; counted in-process on SQLite, shared between server
processes through PostgreSQL or Redis."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from citylinks.auth import create_token
from citylinks.db.engine import create_database
from citylinks.server import create_app
from citylinks.settings import Settings
from starlette.applications import Starlette

from tests.conftest import LiveServer, fresh_store

SECTORS = {"query": "{ sectors { slug } }"}
LIMIT = 5
# Long windows, so that none turns over during a test. Redis is shared with whatever
# else runs on this machine: an unusual window length keeps these counters apart.
WINDOW_S = 3_600
REDIS_WINDOW_S = 3_539
REDIS_URL = "redis://127.0.0.1:6379/0"

Client = Callable[..., httpx.AsyncClient]


def _away_from_window_end(window_s: int) -> None:
    """Counters start afresh each window: do not begin a test in its last seconds."""
    left = window_s - time.time() % window_s
    if left < 5:
        time.sleep(left + 0.1)


@pytest.fixture
async def app_on_sqlite(templates: dict[str, str],
                        tmp_path: Path) -> AsyncIterator[tuple[Starlette, Client, str]]:
    """The app on SQLite with a limit of LIMIT requests, a factory of clients that come
    from a given address, and an editor's token."""
    url, _ = fresh_store("sqlite", templates, tmp_path)
    database = create_database(url)
    async with database.write() as session:
        _, token = await create_token(session, "editor", "rate limit test")
    await database.dispose()
    app = create_app(Settings(db_url=url, rate_limit=LIMIT, rate_limit_window=WINDOW_S,
                              webhook_delivery=False))
    _away_from_window_end(WINDOW_S)

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40_000))
        return httpx.AsyncClient(transport=transport, base_url="http://citylinks.test")

    async with app.router.lifespan_context(app):
        yield app, client, token


async def _statuses(client: httpx.AsyncClient, count: int,
                    headers: dict[str, str] | None = None) -> list[int]:
    return [(await client.post("/graphql", json=SECTORS, headers=headers)).status_code
            for _ in range(count)]


async def test_requests_past_the_limit_are_rate_limited_with_a_retry_hint(
        app_on_sqlite: tuple[Starlette, Client, str]) -> None:
    _, client, _ = app_on_sqlite
    async with client("10.0.0.1") as http:
        # given: the window's allowance, spent
        assert await _statuses(http, LIMIT) == [200] * LIMIT
        # when
        response = await http.post("/graphql", json=SECTORS)
    # then
    assert response.status_code == 429
    body = response.json()
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    retry_after = error["extensions"]["retryAfter"]
    assert isinstance(retry_after, int) and 1 <= retry_after <= WINDOW_S
    assert f"retry in {retry_after} s" in error["message"]
    assert abs(int(response.headers["retry-after"]) - retry_after) <= 1
    assert response.headers["x-ratelimit-remaining"] == "0"


async def test_each_client_address_has_its_own_allowance(
        app_on_sqlite: tuple[Starlette, Client, str]) -> None:
    _, client, _ = app_on_sqlite
    async with client("10.0.0.1") as first, client("10.0.0.2") as second:
        assert await _statuses(first, LIMIT + 1) == [200] * LIMIT + [429]
        assert await _statuses(second, LIMIT + 1) == [200] * LIMIT + [429]


async def test_a_token_is_counted_apart_from_the_address_it_comes_from(
        app_on_sqlite: tuple[Starlette, Client, str]) -> None:
    _, client, token = app_on_sqlite
    with_token = {"authorization": f"Bearer {token}"}
    async with client("10.0.0.1") as here, client("10.0.0.9") as elsewhere:
        # given: the address's anonymous allowance, spent
        assert await _statuses(here, LIMIT + 1) == [200] * LIMIT + [429]
        # then: the token still has its own, whichever address it comes from...
        assert await _statuses(here, 2, with_token) == [200, 200]
        assert await _statuses(elsewhere, LIMIT - 2, with_token) == [200] * (LIMIT - 2)
        # ...and once spent it is spent from every address
        assert await _statuses(elsewhere, 1, with_token) == [429]
        # an unknown token buys nothing: it counts as its address
        assert await _statuses(here, 1, {"authorization": "Bearer invented"}) == [429]


async def test_on_sqlite_the_counters_live_in_the_process(
        app_on_sqlite: tuple[Starlette, Client, str]) -> None:
    app, _, _ = app_on_sqlite
    assert app.state.rate_limiter.store.shared is False


async def test_rate_limit_zero_turns_it_off(templates: dict[str, str], tmp_path: Path) -> None:
    from tests.conftest import running_app

    url, _ = fresh_store("sqlite", templates, tmp_path)
    async with running_app(Settings(db_url=url, rate_limit=0,
                                    webhook_delivery=False)) as (_, http):
        responses = [await http.post("/graphql", json=SECTORS) for _ in range(20)]
    assert {r.status_code for r in responses} == {200}
    assert "x-ratelimit-limit" not in responses[0].headers


@pytest.mark.parametrize("store", ["postgresql", "redis"])
def test_two_server_processes_share_one_allowance(store: str, templates: dict[str, str],
                                                  tmp_path: Path) -> None:
    # given: two servers on one PostgreSQL, counting in it or in Redis
    url, cleanup = fresh_store("postgresql", templates, tmp_path)
    window = WINDOW_S if store == "postgresql" else REDIS_WINDOW_S
    env = {"CITYLINKS_RATE_LIMIT": str(LIMIT), "CITYLINKS_RATE_LIMIT_WINDOW": str(window),
           "CITYLINKS_WEBHOOK_DELIVERY": "0"}
    if store == "redis":
        if not _redis_answers():
            cleanup()
            pytest.skip("Redis is not answering on 127.0.0.1:6379")
        env["CITYLINKS_REDIS_URL"] = REDIS_URL
        _clear_redis_counters()
    servers = [LiveServer(url, env=env), LiveServer(url, env=env)]
    try:
        for server in servers:
            server.start()
        _away_from_window_end(window)
        # when: requests alternate between them (the health checks are not counted)
        statuses: list[list[int]] = [[], []]
        for i in range(2 * LIMIT):
            response = httpx.post(f"{servers[i % 2].url}/graphql", json=SECTORS, timeout=10)
            statuses[i % 2].append(response.status_code)
        # then: both answered, and together they allowed LIMIT, not 2 x LIMIT
        assert all(200 in s for s in statuses), statuses
        assert sum(s.count(200) for s in statuses) == LIMIT, statuses
        assert sum(s.count(429) for s in statuses) == LIMIT, statuses
    finally:
        for server in servers:
            server.stop()
        if store == "redis":
            _clear_redis_counters()
        cleanup()


def _redis_answers() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _clear_redis_counters() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    window = int(time.time() // REDIS_WINDOW_S)
    for key in client.scan_iter(f"citylinks:ratelimit:*:{window}"):
        client.delete(key)
    client.close()
