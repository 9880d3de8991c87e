"""The Starlette application: GraphQL over HTTP and WebSocket, health, SDL, and the explorer."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import orjson
from citylinks.apq import PersistedQueries
from citylinks.auth import authenticate, bearer_token
from citylinks.connections import BodyDeadline
from citylinks.db import queries
from citylinks.db.bootstrap import prepare
from citylinks.db.engine import Database, create_database
from citylinks.events import EventBroadcaster
from citylinks.explorer.graphiql import EXAMPLE_PLACES, graphiql_page
from citylinks.httpcache import HttpCache
from citylinks.observability import (
    Metrics,
    Observability,
    configure_request_log,
    metrics_endpoint,
    record_graphql,
)
from citylinks.ratelimit import client_key, create_rate_limiter
from citylinks.schema import build_schema
from citylinks.schema.compiled import CompiledExecutor
from citylinks.schema.context import Context, Viewer
from citylinks.schema.errors import RATE_LIMITED
from citylinks.schema.federation import public_sdl
from citylinks.schema.ids import encode_id
from citylinks.schema.limits import BodySizeLimit
from citylinks.schema.loaders import Loaders
from citylinks.settings import Settings
from citylinks.webhooks.delivery import DeliveryPolicy, WebhookDispatcher
from cross_web import HTTPException
from graphql import ExecutionResult, GraphQLError
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocketDisconnect
from strawberry import UNSET
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.http.parse_content_type import parse_content_type
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

log = logging.getLogger("citylinks.server")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


def response_media_type(accept: str | None) -> str:
    """GraphQL over HTTP: application/graphql-response+json when the client prefers it,
    else application/json (also for no Accept header, `*/*`, and types it cannot have)."""
    best, best_q = "application/json", -1.0
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media == GRAPHQL_RESPONSE_JSON and q > 0 and q >= best_q:
            best, best_q = GRAPHQL_RESPONSE_JSON, q
        elif media in ("application/json", "application/*", "*/*") and q > 0 and q > best_q:
            best, best_q = "application/json", q
    return best




async def _example_ids(db: Any) -> dict[str, str | None]:
    """The global ids of the places GraphiQL's example tabs start from; None for one that
    is not in this database (or not told apart by its country)."""
    ids: dict[str, str | None] = {}
    async with db.read() as conn:
        for key, (name, country) in EXAMPLE_PLACES.items():
            rows = await queries.places_matching_name(conn, name, country)
            ids[key] = encode_id("City", rows[0].id) if len(rows) == 1 else None
    return ids


class TextFrameWebSocketAdapter(ASGIWebSocketAdapter):
    """graphql-transport-ws messages go out as JSON text frames: Strawberry sends bytes
    from `encode_json` as binary frames, which graphql-ws (Apollo, urql, browsers) and
    gql refuse."""

    async def send_json(self, message: Any) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI view, with citylinks' context and a faster JSON encoder."""

    websocket_adapter_class = TextFrameWebSocketAdapter

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            **kwargs,
        )
        self.settings = settings
        self.compiled = CompiledExecutor(self.schema)
        self.limiter = self.schema.limiter  # type: ignore[attr-defined]

    async def execute_single(self, request: Any, request_adapter: Any, sub_response: Any,
                             context: Context, root_value: Any, request_data: Any) -> Any:
        """Queries the compiled path can answer exactly skip per-field execution."""
        record_graphql(request, request_data.operation_name, None)
        refused = await self._rate_limit(request, context, sub_response)
        if refused is not None:
            return refused
        # A persisted query's hash becomes its document here, before the limits see it.
        request_data = await request.app.state.persisted_queries.resolve(
            request_data, sub_response)
        if isinstance(request_data, ExecutionResult):
            return request_data
        # A request over a query limit goes to Strawberry's executor, whose extension
        # refuses it (QUERY_TOO_COMPLEX) before execution: one place words the refusal.
        if request_data.query and self.limiter.admits(
                request_data.query, request_data.variables, request_data.operation_name):
            result = await self.compiled.execute(
                request_data.query, request_data.variables, request_data.operation_name,
                context)
            if result is not None:
                return result
        try:
            return await super().execute_single(
                request=request, request_adapter=request_adapter, sub_response=sub_response,
                context=context, root_value=root_value, request_data=request_data)
        except HTTPException as error:
            # GET is for queries only: a mutation over GET is the wrong method (405),
            # where Strawberry answers 400.
            if request_adapter.method == "GET" and "not allowed" in error.reason:
                raise HTTPException(405, error.reason) from None
            raise

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """GET queries carry an ETag and Cache-Control, and get 304 while the data stand
        still (httpcache.py)."""
        if context is UNSET and root_value is UNSET:
            answered = await self._compiled_post(request)
            if answered is not None:
                return answered
        handle = super().run
        return await request.app.state.http_cache.respond(
            request, lambda: handle(request, context, root_value))

    async def _compiled_post(self, request: Any) -> Response | None:
        """A query POSTed as JSON that the compiled path has planned, answered without
        Strawberry's generic request parsing and dispatch: on a small query those cost
        about a seventh of the request's CPU time. Context, rate limit, result
        processing and the response are Strawberry's and this class's own hooks, as on
        the usual way. Anything else (GET, other media types or streaming, batches,
        persisted queries, mutations, documents over a limit or outside the compiled
        subset) returns None before any side effect, and takes the usual way."""
        if request.scope.get("type") != "http" or request.method != "POST":
            return None
        media_type, _ = parse_content_type(request.headers.get("content-type", ""))
        if (media_type != "application/json"
                or self._get_stream_transport_from_headers(request.headers) is not None):
            return None
        try:
            data = orjson.loads(await request.body())  # Starlette keeps it for a retelling
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or data.get("extensions") is not None:
            return None
        query, variables = data.get("query"), data.get("variables")
        operation_name = data.get("operationName")
        if (not isinstance(query, str) or not isinstance(variables, dict | None)
                or not isinstance(operation_name, str | None)
                or self.compiled.compile(query, operation_name) is None
                or not self.limiter.admits(query, variables, operation_name)):
            return None

        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        record_graphql(request, operation_name, None)
        result: Any = await self._rate_limit(request, context, sub_response)
        if result is None:
            result = await self.compiled.execute(query, variables, operation_name, context)
        if result is None:  # the reference answers, and words any error
            result = await super().execute_single(
                request=request, request_adapter=self.request_adapter_class(request),
                sub_response=sub_response, context=context, root_value=None,
                request_data=GraphQLRequestData(query=query, variables=variables,
                                                operation_name=operation_name,
                                                extensions=None))
        response_data = await self.process_result(request, result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        response: Response = self.create_response(response_data, sub_response)
        return response

    async def _rate_limit(self, request: Any, context: Context,
                          sub_response: Any) -> ExecutionResult | None:
        """RATE_LIMITED (429, with Retry-After) once the client's window is spent."""
        limiter = getattr(request.app.state, "rate_limiter", None)
        if limiter is None or not limiter.enabled:
            return None
        client = request.client.host if request.client else None
        decision = await limiter.check(client_key(context.viewer.token_id, client))
        for name, value in decision.headers().items():
            sub_response.headers[name] = value
        if decision.allowed:
            return None
        sub_response.status_code = 429
        retry_after = decision.retry_after()
        return ExecutionResult(data=None, errors=[GraphQLError(
            f"Rate limit of {decision.limit} requests per {limiter.window_s} s exceeded; "
            f"retry in {retry_after} s.",
            extensions={"code": RATE_LIMITED, "retryAfter": retry_after,
                        "limit": decision.limit, "window": limiter.window_s})])

    async def render_graphql_ide(self, request: Any) -> Response:
        """Strawberry's GraphiQL page, its scripts and styles served from the package
        (explorer/static/vendor, the same files, so the integrity hashes hold) instead
        of unpkg.com: GraphiQL works on a closed network."""
        return HTMLResponse(graphiql_page(self.graphql_ide_html,
                                          await _example_ids(request.app.state.db)))

    def should_render_graphql_ide(self, request: Any) -> bool:
        """A GET that carries only a persisted query's hash (no `query`) is a GraphQL
        request, not a visit to GraphiQL, whatever its Accept header says."""
        return (super().should_render_graphql_ide(request)
                and request.query_params.get("extensions") is None)

    async def get_sub_response(self, request: Any) -> Any:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = response_media_type(request.headers.get("accept"))
        return sub_response

    async def process_result(self, request: Any, result: Any) -> Any:
        response = await super().process_result(request, result)
        errors = response.get("errors")
        if errors:
            # An error before execution (parse, validation, limits, variables): the
            # response has no `data` entry (GraphQL spec, "Response Format").
            if result.data is None and all(e.path is None for e in result.errors):
                response.pop("data", None)
            state = request.scope.get("state") or {}
            record_graphql(request, (state.get("graphql") or {}).get("operationName"), errors)
        return response

    def create_response(self, response_data: Any, sub_response: Any) -> Any:
        """GraphQL over HTTP: with application/graphql-response+json, a response without
        `data` (the request failed before execution) is a 4xx."""
        response = super().create_response(response_data, sub_response)
        media_type = getattr(sub_response, "media_type", None) or "application/json"
        response.headers["content-type"] = f"{media_type}; charset=utf-8"
        if (media_type == GRAPHQL_RESPONSE_JSON and not sub_response.status_code
                and isinstance(response_data, dict) and "data" not in response_data):
            response.status_code = 400
        return response

    async def get_context(self, request: Any, response: Any = None) -> Context:
        db: Database = request.app.state.db
        return Context(
            settings=self.settings, db=db, loaders=Loaders(db),
            viewer=await request.app.state.viewers.resolve(request), request=request,
            response=response, services=request.app.state,
        )

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)


class Viewers:
    """Finds who a request is from (its bearer token), for permissions."""

    def __init__(self, db_getter: Any) -> None:
        self._db = db_getter

    async def resolve(self, request: Any) -> Viewer:
        """Anonymous without a token, and with an unknown or revoked one: queries need no
        token, and mutations refuse an anonymous viewer (UNAUTHENTICATED)."""
        token = bearer_token(request.headers)
        if token is None:
            return Viewer()
        bearer = await authenticate(self._db(), token)
        if bearer is None:
            return Viewer()
        return Viewer(token_id=bearer.token_id, role=bearer.role)


def _explorer_file(name: str) -> Any:
    return resources.files("citylinks.explorer").joinpath("static", name)


async def healthz(request: Request) -> Response:
    db: Database = request.app.state.db
    try:
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as error:  # any failure to reach the database means "not ready"
        log.warning("health check failed: %s", type(error).__name__)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
    return JSONResponse({"status": "ok", "database": db.dialect})


async def schema_sdl(request: Request) -> Response:
    return PlainTextResponse(public_sdl(request.app.state.graphql.schema) + "\n",
                             media_type="application/graphql; charset=utf-8")


async def explorer(request: Request) -> Response:
    index = _explorer_file("index.html")
    if not index.is_file():
        return PlainTextResponse("The explorer is not built.", 404)
    return FileResponse(str(index), media_type="text/html; charset=utf-8")


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    graphql = GraphQLApp(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        database = create_database(settings.db_url)
        if settings.migrate_on_start:
            await prepare(database, load_seed=settings.load_seed)
        app.state.db = database
        events = EventBroadcaster(database)
        await events.start()
        app.state.events = events
        app.state.rate_limiter = create_rate_limiter(
            settings.rate_limit, settings.rate_limit_window, settings.redis_url,
            database.dialect, database.read)
        webhooks = WebhookDispatcher(database, DeliveryPolicy.from_settings(settings))
        if settings.webhook_delivery:
            await webhooks.start()
        app.state.webhooks = webhooks
        # What start-up made (the schema, its types, the migrations' modules) lives as
        # long as the process: out of the collector's sight, a full collection has far
        # less to walk, and it no longer stalls every request in flight for milliseconds.
        gc.freeze()
        try:
            yield
        finally:
            await webhooks.stop()
            await events.stop()
            await database.dispose()

    static_dir = resources.files("citylinks.explorer").joinpath("static")
    routes = [
        Route("/", explorer),
        Route("/healthz", healthz),
        Route("/schema.graphql", schema_sdl),
        *([Route("/metrics", metrics_endpoint)] if settings.metrics else []),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Mount("/explorer", StaticFiles(directory=str(static_dir), check_dir=False)),
    ]
    metrics = Metrics()
    if settings.request_log:
        configure_request_log()
    # The client's address from X-Forwarded-For, only when a trusted proxy sent it: for
    # the rate limit and the request log alike.
    proxies = ([Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))]
               if settings.trusted_proxies else [])
    middleware = [
        *proxies,
        # Outermost (after the client address): it times everything and answers any
        # escaped exception, coded.
        Middleware(Observability, metrics=metrics, log_requests=settings.request_log),
        Middleware(BodyDeadline, timeout=settings.body_timeout),
        Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                   allow_methods=["GET", "POST"], allow_headers=["*"], max_age=600),
        Middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.graphql = graphql
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.viewers = Viewers(lambda: app.state.db)
    app.state.persisted_queries = PersistedQueries(lambda: app.state.db, graphql.schema,
                                                   max_queries=settings.apq_max_queries)
    app.state.http_cache = HttpCache(lambda: app.state.db, settings.cache_max_age)
    return app


def app_from_env() -> Starlette:
    """The factory uvicorn workers import (`citylinks serve --workers N`)."""
    return create_app(Settings.from_env())
