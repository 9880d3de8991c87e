"""Operations: GET /metrics in Prometheus' text format (requests, a latency histogram, errors
by code, the database pools), and one structured log line per request."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer

SECTORS = "{ sectors { slug } }"
MISSPELT = "{ sectors { slgu } }"
SAMPLE = re.compile(r'^([a-z_]+)\{([^}]*)\} (\S+)$')


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus' text exposition format, as far as these metrics use it."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match[2]))
        samples.append((match[1], labels, float(match[3])))
    return samples


def value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(v for n, ls, v in samples
               if n == name and all(ls.get(k) == want for k, want in labels.items()))


async def test_metrics_count_requests_latency_errors_and_pool(
        client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    # given: three answered queries, two refused by validation, a health check
    for _ in range(3):
        assert (await client.post("/graphql", json={"query": SECTORS})).status_code == 200
    for _ in range(2):
        await client.post("/graphql", json={"query": MISSPELT})
    await client.get("/healthz")
    # when
    response = await client.get("/metrics")
    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    for family, kind in (("citylinks_http_requests_total", "counter"),
                         ("citylinks_http_request_duration_seconds", "histogram"),
                         ("citylinks_graphql_errors_total", "counter"),
                         ("citylinks_db_pool_connections", "gauge")):
        assert f"# TYPE {family} {kind}" in text
    samples = parse(text)
    assert value(samples, "citylinks_http_requests_total", method="POST", route="/graphql",
                 status="200") == 5
    assert value(samples, "citylinks_http_requests_total", route="/healthz") == 1
    assert value(samples, "citylinks_graphql_errors_total",
                 code="GRAPHQL_VALIDATION_FAILED") == 2
    # the histogram: cumulative buckets ending in +Inf, which equals the count
    buckets = [(ls["le"], v) for n, ls, v in samples
               if n == "citylinks_http_request_duration_seconds_bucket"
               and ls["route"] == "/graphql"]
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and buckets[-1] == ("+Inf", 5)
    assert value(samples, "citylinks_http_request_duration_seconds_count",
                 route="/graphql") == 5
    assert value(samples, "citylinks_http_request_duration_seconds_sum", route="/graphql") > 0
    pool_states = {ls["state"] for n, ls, _ in samples if n == "citylinks_db_pool_connections"}
    assert {"size", "checked_out"} <= pool_states
    # and each request left one JSON log line naming its outcome
    lines = [json.loads(r.getMessage()) for r in caplog.records
             if r.name == "citylinks.requests"]
    refused = [line for line in lines if line.get("errorCodes")]
    assert len(refused) == 2
    assert refused[0]["errorCodes"] == ["GRAPHQL_VALIDATION_FAILED"]
    assert {"requestId", "method", "path", "status", "durationMs"} <= refused[0].keys()


def test_a_running_server_writes_one_json_line_per_request_to_stderr(tmp_path: Path) -> None:
    """`citylinks serve` as deployed: its request lines are written to stderr directly
    (observability._log_request), not through a test's log capture."""
    server = LiveServer(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
                        env={"CITYLINKS_WEBHOOK_DELIVERY": "0"}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            before = datetime.now(UTC)
            for query in (SECTORS, MISSPELT, SECTORS):
                client.post("/graphql", json={"query": query, "operationName": None})
            after = datetime.now(UTC)
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.output().splitlines()
             if line.startswith("{") and '"path":"/graphql"' in line]
    assert [line["status"] for line in lines] == [200, 200, 200]
    assert [line.get("errorCodes") for line in lines] == [
        None, ["GRAPHQL_VALIDATION_FAILED"], None]
    assert len({line["requestId"] for line in lines}) == 3
    for line in lines:
        # ISO 8601 in UTC to the millisecond, as datetime.isoformat writes it
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
        stamped = datetime.fromisoformat(line["time"])
        assert before - timedelta(milliseconds=1) <= stamped <= after
