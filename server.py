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
from citylinks.cors import CORS
from citylinks.db import queries
from citylinks.db.bootstrap import prepare
from citylinks.db.engine import Database, create_database
from citylinks.db.graph import graph_index
from citylinks.events import EventBroadcaster
from citylinks.explorer.graphiql import EXAMPLE_PLACES, graphiql_page
from citylinks.frontdoor import (
    FrontDoor,
    GraphQLTransportWSHandler,
    Viewers,
)
from citylinks.httpcache import HttpCache
from citylinks.observability import (
    Metrics,
    Observability,
    configure_request_log,
    metrics_endpoint,
)
from citylinks.ratelimit import create_rate_limiter
from citylinks.responsecache import ResponseCache
from citylinks.schema import build_schema
from citylinks.schema.compiled import CompiledExecutor
from citylinks.schema.context import Context
from citylinks.schema.federation import public_sdl
from citylinks.schema.ids import encode_id
from citylinks.schema.limits import BodySizeLimit
from citylinks.schema.loaders import Loaders
from citylinks.settings import Settings
from citylinks.webhooks.delivery import DeliveryPolicy, WebhookDispatcher
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
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
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

log = logging.getLogger("citylinks.server")

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
    """Strawberry's ASGI view for GraphiQL and WebSocket, with citylinks' context; every
    GraphQL operation goes through the front door (frontdoor.py)."""

    websocket_adapter_class = TextFrameWebSocketAdapter
    graphql_transport_ws_handler_class = GraphQLTransportWSHandler
    door: FrontDoor

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

    async def render_graphql_ide(self, request: Any) -> Response:
        """Strawberry's GraphiQL page, its scripts and styles served from the package
        (explorer/static/vendor, the same files, so the integrity hashes hold) instead
        of unpkg.com: GraphiQL works on a closed network."""
        return HTMLResponse(graphiql_page(self.graphql_ide_html,
                                          await _example_ids(request.app.state.db)))

    async def get_context(self, request: Any, response: Any = None) -> Context:
        db: Database = request.app.state.db
        return Context(
            settings=self.settings, db=db, loaders=Loaders(db),
            viewer=await request.app.state.viewers.resolve(request.headers), request=request,
            response=response, services=request.app.state,
        )

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        """orjson refuses lone surrogates and invalid UTF-8 (json.loads lets a lone
        surrogate through, to fail in the database driver)."""
        return orjson.loads(data)


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


class CitylinksApp(Starlette):
    """The application; GraphQL over HTTP goes straight to the front door through the same
    middleware, past the router and Starlette's exception layers, which it has no use for
    (the front door answers every method and error itself, Observability any exception
    that escapes): their per-request calls and wrappers were a tenth of a small query's
    CPU time. Every other path, WebSockets and the lifespan take Starlette's way."""

    graphql_http: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # With a root path the router strips it; such requests simply take the long way.
        if (scope["type"] == "http" and scope["path"] == "/graphql"
                and not scope.get("root_path") and self.graphql_http is not None):
            scope["app"] = self
            await self.graphql_http(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    graphql = GraphQLApp(settings)
    door = graphql.door = FrontDoor(graphql)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        database = create_database(settings.db_url)
        if settings.migrate_on_start:
            await prepare(database, load_seed=settings.load_seed)
        app.state.db = database
        if settings.graph_index_at_start:
            # A store not reachable yet leaves the index to the first request that needs
            # it, which reports the error.
            try:
                await graph_index(database)
            except (OSError, SQLAlchemyError) as error:
                log.warning("graph index not built at start: %s", error)
        if settings.response_cache:
            graphql.compiled.response_cache = ResponseCache.for_database(
                database, settings.response_cache_bytes)
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
            if graphql.compiled.response_cache is not None:
                graphql.compiled.response_cache.close()
                graphql.compiled.response_cache = None
            await database.dispose()

    static_dir = resources.files("citylinks.explorer").joinpath("static")
    routes = [
        Route("/", explorer),
        Route("/healthz", healthz),
        Route("/schema.graphql", schema_sdl),
        *([Route("/metrics", metrics_endpoint)] if settings.metrics else []),
        # Every method reaches the door, which answers 405 itself (Allow: GET, POST):
        # Starlette's would advertise HEAD, which GraphQL over HTTP does not serve.
        Route("/graphql", door),
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
        Middleware(CORS, allow_origins=list(settings.cors_origins),
                   allow_methods=["GET", "POST"], allow_headers=["*"], max_age=600),
        Middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes),
    ]
    app = CitylinksApp(routes=routes, middleware=middleware, lifespan=lifespan)
    graphql_http: Any = door
    for cls, args, kwargs in reversed(middleware):
        graphql_http = cls(graphql_http, *args, **kwargs)
    app.graphql_http = graphql_http
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
