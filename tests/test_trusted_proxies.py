"""X-Forwarded-For names the client only when a trusted proxy sent it (none by default): a
client cannot choose its own address past the rate limit, nor the address in the log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, fresh_store

LIMIT = 5
SECTORS = "{ sectors { slug } }"


@pytest.fixture
def store(templates: dict[str, str], tmp_path: Path) -> Iterator[str]:
    url, cleanup = fresh_store("sqlite", templates, tmp_path)
    yield url
    cleanup()


def _spoofing_client(server: LiveServer) -> list[int]:
    """Statuses of twice LIMIT queries, each claiming another address."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        return [client.post("/graphql", json={"query": SECTORS},
                            headers={"x-forwarded-for": f"203.0.113.{n}"}).status_code
                for n in range(2 * LIMIT)]


def _logged_clients(server: LiveServer) -> set[str]:
    clients = set()
    for line in server.output().splitlines():
        if line.startswith("{") and '"event":"request"' in line:
            clients.add(json.loads(line)["client"])
    return clients


def test_a_spoofed_forwarded_for_does_not_escape_the_rate_limit(store: str) -> None:
    server = LiveServer(store, env={"CITYLINKS_RATE_LIMIT": str(LIMIT),
                                    "CITYLINKS_WEBHOOK_DELIVERY": "0"}).start()
    try:
        statuses = _spoofing_client(server)
    finally:
        server.stop()
    assert statuses == [200] * LIMIT + [429] * LIMIT
    assert _logged_clients(server) == {"127.0.0.1"}


def test_behind_a_trusted_proxy_its_forwarded_address_is_the_client(store: str) -> None:
    server = LiveServer(store, env={"CITYLINKS_RATE_LIMIT": str(LIMIT),
                                    "CITYLINKS_TRUSTED_PROXIES": "127.0.0.1",
                                    "CITYLINKS_WEBHOOK_DELIVERY": "0"}).start()
    try:
        statuses = _spoofing_client(server)
    finally:
        server.stop()
    assert statuses == [200] * (2 * LIMIT)
    assert {f"203.0.113.{n}" for n in range(2 * LIMIT)} <= _logged_clients(server)
