"""Operations: one structured (JSON) log line per request, Prometheus metrics at `GET /metrics`,
and a coded, masked answer for any exception that escapes the application.

The middleware is plain ASGI (no BaseHTTPMiddleware task per request). The GraphQL view
tells it what happened inside a request (operation name, error codes, error ids)
through `scope["state"]["graphql"]`; see `record_graphql`.

Metrics are per process: with `serve --workers N` each scrape reads the worker that
answers it, which Prometheus' `rate()` and `sum by` handle when the `worker` label
tells workers apart (one target per worker, or a sum over a few scrapes).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

request_log = logging.getLogger("citylinks.requests")
error_log = logging.getLogger("citylinks.errors")

# Seconds; GraphQL answers here take from a fraction of a millisecond to a few seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ROUTES = ("/graphql", "/healthz", "/metrics", "/schema.graphql", "/")
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def route_of(path: str) -> str:
    """A bounded label for a path: unknown paths must not grow the metrics without end."""
    if path in _ROUTES:
        return path
    if path.startswith("/explorer/"):
        return "/explorer"
    return "other"


def record_graphql(request: Any, operation_name: str | None,
                   errors: Iterable[Mapping[str, Any]] | None) -> None:
    """What the GraphQL view knows about its request, for the log line and the metrics."""
    codes: list[str] = []
    error_ids: list[str] = []
    for error in errors or ():
        extensions = error.get("extensions") or {}
        codes.append(str(extensions.get("code", "UNKNOWN")))
        if "errorId" in extensions:
            error_ids.append(str(extensions["errorId"]))
    state = request.scope.setdefault("state", {})
    state["graphql"] = {"operationName": operation_name, "errorCodes": codes,
                        "errorIds": error_ids}


class Metrics:
    """Counters, a latency histogram and gauges of this process, in Prometheus' text format."""

    def __init__(self) -> None:
        self.started = time.time()
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.durations: dict[str, list[int]] = {}
        self.duration_sums: dict[str, float] = defaultdict(float)
        self.errors: dict[str, int] = defaultdict(int)
        self.in_flight = 0

    def observe(self, method: str, route: str, status: int, seconds: float,
                codes: Iterable[str]) -> None:
        self.requests[(method, route, str(status))] += 1
        counts = self.durations.get(route)
        if counts is None:
            counts = self.durations[route] = [0] * (len(BUCKETS) + 1)
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
        self.duration_sums[route] += seconds
        for code in codes:
            self.errors[code] += 1

    def render(self, pools: Mapping[str, Any] | None = None,
               response_cache: Mapping[str, int] | None = None) -> str:
        worker = str(os.getpid())
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")

        family("citylinks_http_requests_total", "counter",
               "HTTP requests answered, by method, route and status.")
        for (method, route, status), count in sorted(self.requests.items()):
            lines.append(f'citylinks_http_requests_total{{method="{method}",route="{route}",'
                         f'status="{status}",worker="{worker}"}} {count}')
        family("citylinks_http_request_duration_seconds", "histogram",
               "Time from the request's arrival to the end of its answer.")
        for route, counts in sorted(self.durations.items()):
            labels = f'route="{route}",worker="{worker}"'
            cumulative = 0
            for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'citylinks_http_request_duration_seconds_bucket{{{labels},'
                             f'le="{le}"}} {cumulative}')
            lines.append(f"citylinks_http_request_duration_seconds_sum{{{labels}}} "
                         f"{self.duration_sums[route]:.6f}")
            lines.append(f"citylinks_http_request_duration_seconds_count{{{labels}}} "
                         f"{cumulative}")
        family("citylinks_graphql_errors_total", "counter",
               "GraphQL errors answered, by their extensions.code.")
        for code, count in sorted(self.errors.items()):
            lines.append(f'citylinks_graphql_errors_total{{code="{code}",worker="{worker}"}} '
                         f"{count}")
        family("citylinks_http_requests_in_flight", "gauge",
               "Requests being answered right now.")
        lines.append(f'citylinks_http_requests_in_flight{{worker="{worker}"}} {self.in_flight}')
        family("citylinks_db_pool_connections", "gauge",
               "Database connections of each pool (write, read), by state.")
        for pool_name, pool in (pools or {}).items():
            for state, value in _pool_figures(pool).items():
                lines.append(f'citylinks_db_pool_connections{{pool="{pool_name}",'
                             f'state="{state}",worker="{worker}"}} {value}')
        if response_cache is not None:
            _response_cache_lines(family, lines, worker, response_cache)
        family("citylinks_process_start_time_seconds", "gauge",
               "When this worker started, in seconds since the epoch.")
        lines.append(f'citylinks_process_start_time_seconds{{worker="{worker}"}} '
                     f"{self.started:.3f}")
        return "\n".join(lines) + "\n"


def _response_cache_lines(family: Any, lines: list[str], worker: str,
                          stats: Mapping[str, int]) -> None:
    """The response cache's counters (responsecache.py) and its hit ratio since start."""
    label = f'worker="{worker}"'
    for name, kind, help_text, value in (
            ("hits_total", "counter", "Compiled reads answered from memory.", stats["hits"]),
            ("misses_total", "counter", "Compiled reads computed (and kept).", stats["misses"]),
            ("evictions_total", "counter", "Answers dropped for room, least recently used "
             "first.", stats["evictions"]),
            ("version_reads_total", "counter", "Reads of the data version (one per request "
             "looked up; concurrent requests may share one).", stats["version_reads"]),
            ("bytes", "gauge", "Size of the answers kept, keys included.", stats["bytes"]),
            ("max_bytes", "gauge", "The bound on bytes (CITYLINKS_RESPONSE_CACHE_BYTES).",
             stats["max_bytes"]),
            ("entries", "gauge", "Answers kept.", stats["entries"])):
        family(f"citylinks_response_cache_{name}", kind, help_text)
        lines.append(f"citylinks_response_cache_{name}{{{label}}} {value}")
    looked_up = stats["hits"] + stats["misses"]
    family("citylinks_response_cache_hit_ratio", "gauge",
           "Hits / (hits + misses) since this worker started (0 before any lookup).")
    lines.append(f"citylinks_response_cache_hit_ratio{{{label}}} "
                 f"{stats['hits'] / looked_up if looked_up else 0:.4f}")


def _pool_figures(pool: Any) -> dict[str, int]:
    """QueuePool's own counters; pools without them (SQLite's in some set-ups) report none."""
    figures: dict[str, int] = {}
    for state, method in (("size", "size"), ("checked_out", "checkedout"),
                          ("idle", "checkedin"), ("overflow", "overflow")):
        fn = getattr(pool, method, None)
        if callable(fn):
            try:
                figures[state] = max(0, int(fn()))
            except Exception:  # a pool being disposed: skip it this scrape
                continue
    return figures


# The handler configure_request_log installs (None until then): while it is the request
# logger's only handler, _log_request writes a line to its stream itself.
_stderr_handler: logging.StreamHandler[Any] | None = None


def configure_request_log() -> None:
    """Request lines go to stderr as they are (one JSON object each), whatever the root
    logger does: uvicorn only configures its own loggers."""
    global _stderr_handler
    if not request_log.handlers:
        _stderr_handler = logging.StreamHandler(sys.stderr)
        _stderr_handler.setFormatter(logging.Formatter("%(message)s"))
        request_log.addHandler(_stderr_handler)
    request_log.setLevel(logging.INFO)
    request_log.propagate = False


def internal_error_body(error_id: str) -> bytes:
    return orjson.dumps({"errors": [{
        "message": f"Internal server error (error id {error_id}).",
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "errorId": error_id}}]})


class Observability:
    """ASGI middleware: times, counts and logs every HTTP request; answers an escaped
    exception with a coded INTERNAL_SERVER_ERROR whose id is in the log with the trace."""

    def __init__(self, app: Any, metrics: Metrics, log_requests: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # 16 random hex digits, as uuid4's first 16 were, without building a UUID.
        request_id = _header(scope, b"x-request-id") or os.urandom(8).hex()
        status = 500
        response_started = False

        async def observed_send(message: dict[str, Any]) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                message = {**message, "headers": [
                    *message.get("headers", ()), (b"x-request-id", request_id.encode())]}
            await send(message)

        self.metrics.in_flight += 1
        error_id: str | None = None
        try:
            await self.app(scope, receive, observed_send)
        except Exception as error:
            error_id = uuid.uuid4().hex[:12]
            error_log.error("internal error %s on %s %s", error_id, scope.get("method"),
                            scope.get("path"), exc_info=error)
            if response_started:
                raise
            body = internal_error_body(error_id)
            await observed_send({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        finally:
            self.metrics.in_flight -= 1
            seconds = time.perf_counter() - started
            graphql: dict[str, Any] = (scope.get("state") or {}).get("graphql") or {}
            codes = list(graphql.get("errorCodes", ()))
            error_ids = list(graphql.get("errorIds", ()))
            if error_id is not None:
                codes.append("INTERNAL_SERVER_ERROR")
                error_ids.append(error_id)
            route = route_of(scope.get("path", ""))
            self.metrics.observe(scope.get("method", ""), route, status, seconds, codes)
            if self.log_requests:
                client = scope.get("client")
                line = {
                    "time": _timestamp(),
                    "event": "request", "requestId": request_id,
                    "method": scope.get("method"), "path": scope.get("path"),
                    "route": route, "status": status,
                    "durationMs": round(seconds * 1000, 3),
                    "client": client[0] if client else None,
                }
                if graphql:
                    line["operationName"] = graphql.get("operationName")
                if codes:
                    line["errorCodes"] = codes
                if error_ids:
                    line["errorIds"] = error_ids
                _log_request(orjson.dumps(line).decode())


def _log_request(line: str) -> None:
    """The request's line on the request logger, made without looking up the caller's
    file and line (logging's findCaller walks the stack on every call; the line says
    where it comes from itself).

    While the logger writes only to the stderr handler citylinks installed, the line is
    written to that stream directly, as the handler would write it: logging's record,
    filters and locks cost a small query about a sixth of its server CPU (SQLite Q1 of
    the benchmark: 3,500 requests a second through logging, 4,040 written directly,
    4,400 without the log). Any other handler (a deployment's own, a test's capture)
    takes logging's way."""
    handler = _stderr_handler
    if (handler is not None and request_log.handlers == [handler] and not request_log.filters
            and not handler.filters and not request_log.disabled
            and request_log.isEnabledFor(logging.INFO) and handler.level <= logging.INFO):
        try:
            handler.stream.write(line + handler.terminator)
            handler.stream.flush()
            return
        except Exception:  # logging's way, below, reports it (handleError)
            pass
    if request_log.isEnabledFor(logging.INFO):
        request_log.handle(request_log.makeRecord(request_log.name, logging.INFO, __file__,
                                                  0, line, None, None))


_second: tuple[int, str] = (0, "")


def _timestamp() -> str:
    """Now in ISO 8601 to the millisecond, in UTC, as `datetime.now(UTC).isoformat(
    timespec="milliseconds")` writes it; the date and time of the current second are
    formatted once per second."""
    global _second
    now = time.time()
    whole = int(now)
    if whole != _second[0]:
        _second = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second[1]}.{int((now - whole) * 1000):03d}+00:00"


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            text = value.decode("latin-1")[:64]
            return "".join(c for c in text if c.isalnum() or c in "-_.") or None
    return None


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    db = getattr(request.app.state, "db", None)
    pools = {}
    if db is not None:
        pools = {"write": db.engine.sync_engine.pool, "read": db.reader.sync_engine.pool}
    graphql = getattr(request.app.state, "graphql", None)
    cache = getattr(getattr(graphql, "compiled", None), "response_cache", None)
    return PlainTextResponse(metrics.render(pools, cache.stats() if cache else None),
                             media_type=PROMETHEUS_TEXT)
