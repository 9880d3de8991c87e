"""The one front door: every GraphQL request, by POST, GET, persisted query or WebSocket
operation, takes the same steps, each refusing with a coded error before the next costs
anything.

    sizes (body: BodySizeLimit; the request's shape)
    -> rate limit (per token, else per client address; per operation on sockets)
    -> persisted query (apq.py: a hash becomes its document)
    -> the document steps (schema/pipeline.py: size, tokens, limits, validation
       budget, validation, plan; one verdict per document, cached)
    -> the request's variables (nesting, NUL, a cost that variables decide)
    -> HTTP caching (GET: ETag and 304, only for an admitted query)
    -> answer from cache (`answer_from_cache`: a compiled read's answer kept in memory
       at the current data version, responsecache.py; a miss is kept once computed)
    -> execution: the compiled read path with the verdict's plan, else Strawberry's
       executor with the admitted document (no second parse or validation)

The compiled lane is served here, from the ASGI layer, without Strawberry's per-request
view objects; Strawberry's view serves only GraphiQL and the WebSocket protocol, whose
operations come back through `admit` (GraphQLTransportWSHandler below).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import orjson
from citylinks.auth import authenticate, bearer_token
from citylinks.observability import record_graphql
from citylinks.ratelimit import client_key
from citylinks.responsecache import Ticket
from citylinks.schema.context import Context, Viewer
from citylinks.schema.errors import BAD_USER_INPUT, RATE_LIMITED
from citylinks.schema.loaders import Loaders
from citylinks.schema.pipeline import (
    ADMITTED,
    MAX_VARIABLE_NESTING,
    DocumentGate,
    GateBusy,
    Verdict,
    _variables_too_deep,
)
from graphql import ExecutionResult, GraphQLError, OperationType
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types.graphql import OperationType as StrawberryOperationType

if TYPE_CHECKING:
    from citylinks.server import GraphQLApp

log = logging.getLogger("citylinks.frontdoor")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
# Logged operation names are cut here: the log is no place for a client's essay.
OPERATION_NAME_LOGGED = 100


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


@dataclass
class GraphQLRequest:
    """One operation as a client sent it, on any transport."""

    query: str | None = None
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    extensions: dict[str, Any] | None = None


@dataclass
class Outcome:
    """What an answer carries beside its body: status and headers set along the way."""

    status_code: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Refused(Exception):
    """A request refused before execution; answered as GraphQL JSON with a coded error."""

    def __init__(self, status: int, message: str, code: str = BAD_USER_INPUT,
                 headers: Mapping[str, str] | None = None, **extensions: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = GraphQLError(message, extensions={"code": code, **extensions})
        self.headers = dict(headers or {})


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def request_from(data: Any) -> GraphQLRequest:
    """The operation a decoded JSON body (or GET's parameters, or a WebSocket payload)
    holds; a client's mistake is BAD_USER_INPUT that says what is wrong."""
    if isinstance(data, list):
        raise Refused(400, "Batching is not enabled: send one operation per request.")
    if not isinstance(data, dict):
        raise Refused(400, "The request must be a JSON object with a `query`; got "
                           f"{_kind(data)}.")
    fields = (("query", str), ("variables", dict), ("operationName", str),
              ("extensions", dict))
    for name, kind in fields:
        value = data.get(name)
        if value is not None and not isinstance(value, kind):
            wanted = "a string" if kind is str else "an object"
            raise Refused(400, f"`{name}` must be {wanted} or null; got {_kind(value)}.")
    variables = data.get("variables")
    if variables is not None and _variables_too_deep(variables):
        raise Refused(400, f"`variables` nest deeper than {MAX_VARIABLE_NESTING} levels.")
    return GraphQLRequest(data.get("query"), variables, data.get("operationName"),
                          data.get("extensions"))


def _json_parameter(params: Mapping[str, str], name: str) -> Any:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise Refused(400, f"`{name}` is not JSON: {error}.") from None


async def read_http_request(request: Request) -> GraphQLRequest:
    """The operation of a GET or POST; the body has passed BodySizeLimit."""
    if request.method == "GET":
        params = request.query_params
        return request_from({
            "query": params.get("query"), "variables": _json_parameter(params, "variables"),
            "operationName": params.get("operationName"),
            "extensions": _json_parameter(params, "extensions")})
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise Refused(415, "POST a JSON body with `Content-Type: application/json`; got "
                           f"{media_type or 'no content type'}.",
                      headers={"accept-post": "application/json"})
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError as error:
        # orjson words invalid UTF-8, lone surrogates and nesting past its limit too.
        raise Refused(400, f"The body is not JSON: {error}.") from None
    return request_from(data)


class Viewers:
    """Who a request or operation is from (its bearer token), looked up for each one: a
    revoked token stops working at once, on sockets opened before too."""

    def __init__(self, db_getter: Any) -> None:
        self._db = db_getter

    async def resolve(self, headers: Mapping[str, str]) -> Viewer:
        """Anonymous without a token, and with an unknown or revoked one: queries need no
        token, and mutations refuse an anonymous viewer (UNAUTHENTICATED)."""
        token = bearer_token(headers)
        if token is None:
            return Viewer()
        bearer = await authenticate(self._db(), token)
        if bearer is None:
            return Viewer()
        return Viewer(token_id=bearer.token_id, role=bearer.role)


@dataclass
class Admission:
    """A request the door let through: its operation, verdict and context."""

    request: GraphQLRequest
    verdict: Verdict
    context: Context
    # The response cache's ticket of a miss: execution keeps the answer it computes.
    keep: Ticket | None = None


class FrontDoor:
    """The steps every GraphQL request takes, and the HTTP transport's answer."""

    def __init__(self, view: GraphQLApp) -> None:
        self.view = view
        self.schema = view.schema
        self.gate: DocumentGate = view.schema.gate  # type: ignore[attr-defined]
        self.compiled = view.compiled
        self.settings = view.settings

    # ------------------------------------------------------------------ the steps

    async def admit(self, request: GraphQLRequest, connection: Any, method: str,
                    outcome: Outcome) -> Admission | ExecutionResult:
        """Rate limit, persisted query, document and variables: the admitted request, or
        the refusal to answer with. `method` is GET, POST or WS."""
        state = connection.app.state
        viewer = await state.viewers.resolve(connection.headers)
        refused = await self._rate_limit(state, connection, viewer, outcome)
        if refused is not None:
            return refused
        client = client_key(viewer.token_id,
                            connection.client.host if connection.client else None)
        try:
            resolved = await state.persisted_queries.resolve(request, outcome, client)
            if isinstance(resolved, ExecutionResult):
                return resolved
            request = resolved
            if not request.query:
                raise Refused(400, "No GraphQL query found in the request: send `query` "
                                   "(or a registered persisted query's hash).")
            verdict = await self.gate.decide(request.query, request.operation_name, client)
        except GateBusy:
            raise Refused(429, "The server is deciding as many new documents as it takes "
                               "(from you, or from everyone); retry in 1 s. Documents it has "
                               "seen before are answered meanwhile.", RATE_LIMITED,
                          headers={"retry-after": "1"}, retryAfter=1) from None
        if verdict.errors:
            return ExecutionResult(data=None, errors=verdict.errors)
        kind = verdict.operation_type
        if method == "GET" and kind is OperationType.MUTATION:
            raise Refused(405, "Mutations are not allowed over GET: send them by POST.",
                          headers={"allow": "POST"})
        if method != "WS" and kind is OperationType.SUBSCRIPTION:
            raise Refused(400, "Subscriptions are served over WebSocket "
                               "(graphql-transport-ws at /graphql), not by GET or POST.")
        errors = self.gate.request_errors(verdict, request.variables)
        if errors:
            return ExecutionResult(data=None, errors=errors)
        context = Context(settings=self.settings, db=state.db, loaders=Loaders(state.db),
                          viewer=viewer, request=connection, response=outcome,
                          services=state)
        return Admission(request, verdict, context)

    @staticmethod
    async def _rate_limit(state: Any, connection: Any, viewer: Viewer,
                          outcome: Outcome) -> ExecutionResult | None:
        """RATE_LIMITED (429, with Retry-After) once the client's window is spent."""
        limiter = getattr(state, "rate_limiter", None)
        if limiter is None or not limiter.enabled:
            return None
        client = connection.client.host if connection.client else None
        decision = await limiter.check(client_key(viewer.token_id, client))
        outcome.headers.update(decision.headers())
        if decision.allowed:
            return None
        outcome.status_code = 429
        retry_after = decision.retry_after()
        return ExecutionResult(data=None, errors=[GraphQLError(
            f"Rate limit of {decision.limit} requests per {limiter.window_s} s exceeded; "
            f"retry in {retry_after} s.",
            extensions={"code": RATE_LIMITED, "retryAfter": retry_after,
                        "limit": decision.limit, "window": limiter.window_s})])

    async def answer_from_cache(self, admission: Admission) -> ExecutionResult | None:
        """A compiled read's answer from memory (responsecache.py), if the data have not
        changed since it was computed; else None, and the miss's ticket goes with the
        admission to execution, which keeps the answer."""
        cache = self.compiled.response_cache
        plan = admission.verdict.plan
        if cache is None or plan is None:
            return None
        try:
            found = await cache.look_up(plan, admission.request.variables,
                                        admission.context.viewer.role)
        except Exception:  # the version unreadable (a database away): execution says so
            log.debug("response cache look-up failed", exc_info=True)
            return None
        if isinstance(found, bytes):
            # The answer's JSON goes into the response as it is, not decoded again.
            return ExecutionResult(data=orjson.Fragment(found))  # type: ignore[arg-type]
        admission.keep = found
        return None

    async def execute(self, admission: Admission, method: str) -> ExecutionResult:
        """The compiled read path with the verdict's plan, else Strawberry's executor."""
        request, verdict = admission.request, admission.verdict
        if verdict.plan is not None:
            result = await self.compiled.execute_plan(verdict.plan, request.variables,
                                                      admission.context, admission.keep)
            if result is not None:
                return result
        allowed = ({StrawberryOperationType.QUERY} if method == "GET" else
                   {StrawberryOperationType.QUERY, StrawberryOperationType.MUTATION})
        token = ADMITTED.set(verdict)
        try:
            answer: ExecutionResult = await self.schema.execute(
                request.query, variable_values=request.variables,
                context_value=admission.context, operation_name=request.operation_name,
                allowed_operation_types=allowed)
        finally:
            ADMITTED.reset(token)
        return answer

    # ------------------------------------------------------------------ HTTP

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The ASGI app of /graphql: WebSockets and GraphiQL to Strawberry's view, every
        GraphQL request over HTTP through `http`."""
        if scope["type"] != "http":
            await self.view(scope, receive, send)
            return
        request = Request(scope, receive)
        if (scope["method"] == "GET" and "query" not in (params := request.query_params)
                and "extensions" not in params
                and "text/html" in request.headers.get("accept", "")):
            # A browser's visit: GraphiQL, or nothing where it is turned off.
            if self.settings.graphiql:
                response = await self.view.render_graphql_ide(request)
            else:
                response = Response(orjson.dumps({"errors": [{
                    "message": "Not found: this address answers GraphQL requests.",
                    "extensions": {"code": BAD_USER_INPUT}}]}), 404,
                    media_type="application/json; charset=utf-8")
        else:
            try:
                response = await self.http(request)
            except ClientDisconnect:
                # The client went, or its body stopped coming and the connection was
                # answered 408 and closed (connections.py): nobody to answer.
                return
        await response(scope, receive, send)

    async def http(self, request: Request) -> Response:
        media_type = response_media_type(request.headers.get("accept"))
        outcome = Outcome()
        operation_name: str | None = None
        try:
            if request.method not in ("GET", "POST"):
                raise Refused(405, f"GraphQL over HTTP takes GET and POST, not "
                                   f"{request.method[:16]}.", headers={"allow": "GET, POST"})
            graphql_request = await read_http_request(request)
            operation_name = graphql_request.operation_name
            admitted = await self.admit(graphql_request, request, request.method, outcome)
            etag = None
            if isinstance(admitted, Admission):
                cache = request.app.state.http_cache
                if request.method == "GET":
                    etag = await cache.entity_tag(request)
                    not_modified = cache.not_modified(request, etag, outcome.headers)
                    if not_modified is not None:
                        self._record(request, operation_name, None)
                        return not_modified
                result = await self.answer_from_cache(admitted)
                if result is None:
                    result = await self.execute(admitted, request.method)
            else:
                result = admitted
        except Refused as refusal:
            outcome.status_code = refusal.status
            outcome.headers.update(refusal.headers)
            result = ExecutionResult(data=None, errors=[refusal.error])
            etag = None
        body = self._body(result)
        self._record(request, operation_name, body.get("errors"))
        status = outcome.status_code or (
            400 if media_type == GRAPHQL_RESPONSE_JSON and "data" not in body else 200)
        response = Response(orjson.dumps(body), status,
                            headers=outcome.headers,
                            media_type=f"{media_type}; charset=utf-8")
        if request.method == "GET" and status == 200:
            request.app.state.http_cache.decorate(request, response, etag, bool(result.errors))
        return response

    @staticmethod
    def _body(result: ExecutionResult) -> dict[str, Any]:
        body: dict[str, Any] = {}
        errors = result.errors
        # An error before execution (parse, validation, limits, variables): the
        # response has no `data` entry (GraphQL spec, "Response Format").
        if not (errors and result.data is None and all(e.path is None for e in errors)):
            body["data"] = result.data
        if errors:
            body["errors"] = [error.formatted for error in errors]
        if result.extensions:
            body["extensions"] = result.extensions
        return body

    @staticmethod
    def _record(request: Any, operation_name: str | None, errors: Any) -> None:
        if operation_name is not None and len(operation_name) > OPERATION_NAME_LOGGED:
            operation_name = operation_name[:OPERATION_NAME_LOGGED] + "…"
        record_graphql(request, operation_name, errors)


# ---------------------------------------------------------------------- WebSocket


class GraphQLTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with every operation through the front door: its own viewer
    (looked up again, so a revoked token stops working on an open socket), rate limit,
    limits and coded errors, as over HTTP."""

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        door: FrontDoor = self.view.door  # type: ignore[attr-defined]
        connection = self.context.request
        try:
            admitted = await door.admit(
                request_from({"query": operation.query, "variables": operation.variables,
                              "operationName": operation.operation_name}),
                connection, "WS", Outcome())
        except Refused as refusal:
            admitted = ExecutionResult(data=None, errors=[refusal.error])
        except Exception as error:  # the connection's business, as Strawberry's own
            await self.handle_task_exception(error)
            admitted = ExecutionResult(data=None, errors=[GraphQLError(
                "Internal server error.", extensions={"code": "INTERNAL_SERVER_ERROR"})])
        if isinstance(admitted, ExecutionResult):
            with suppress(Exception):
                await operation.send_initial_errors(admitted.errors or [])
            return
        token = ADMITTED.set(admitted.verdict)
        try:
            operation.variables = admitted.request.variables
            context = replace(admitted.context, request=connection,
                              response=self.context.response)
            result_source = await self.schema.stream(
                admitted.request.query, variable_values=admitted.request.variables,
                context_value=context, root_value=self.root_value,
                operation_name=admitted.request.operation_name)
            await self._send_stream(operation, result_source)
        finally:
            ADMITTED.reset(token)

    async def _send_stream(self, operation: Operation[Context, None],
                           result_source: Any) -> None:
        from contextlib import aclosing

        from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
            _OperationStreamClosed,
        )

        try:
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except _OperationStreamClosed:
            return
        except Exception as error:
            await self.handle_task_exception(error)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id,
                                                        "type": "complete"})
            self.operations.pop(operation.id, None)
            raise
