"""Query limits: body and document size, tokens, depth, aliases and cost, each refused as
QUERY_TOO_COMPLEX (naming the limit and by how much) before any SQL runs.

The same checks guard both executors. Depth, aliases and the cost that the document
alone determines are graphql-core validation rules (`validation_rules`), which
Strawberry's validation and the compiled path's cached validation both run. What
depends on the request — the size and tokens of the text before it is parsed, and a
cost whose page sizes come from variables — is checked by `Limiter`: Strawberry runs it
as a schema extension, the HTTP view calls `Limiter.admits` before the compiled path.

Cost follows GitHub's node limit: every object field counts 1, and a connection (a
field with `first`/`last`) multiplies the cost of its selection by its page size — the
argument's value clamped to 0..100 (larger values are refused as BAD_USER_INPUT
anyway), else its default, else 20. Lists without a page size count 1 each, and
every branch of a fragment counts, so the figure is an upper bound.

Why not Strawberry's QueryDepthLimiter, MaxAliasesLimiter and MaxTokensLimiter: their
errors carry no code and (depth, tokens) not the figure, so the client cannot learn by
how much it is over; they live in Strawberry's extension chain, which the compiled
read path skips, where a plain validation rule runs on both; and Strawberry has no
cost limiter, which needs the same walk as depth and aliases. One walk measures all
three, once per document (validation and the LRU below are cached by document).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from citylinks.schema.errors import BAD_USER_INPUT, QUERY_TOO_COMPLEX
from citylinks.settings import Settings
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    Visitor,
    get_named_type,
    parse,
    visit,
)
from graphql.language import Lexer, TokenKind
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef
from strawberry.extensions import SchemaExtension

# The contract: pages hold at most 100 and default to 20.
MAX_PAGE = 100
DEFAULT_PAGE = 20
_PAGE_ARGUMENTS = ("first", "last")
# Cost is an upper bound; past this it only needs to say "far too much".
_COST_CAP = 10**15
_META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}


@dataclass(frozen=True)
class QueryLimits:
    """The limits, as `Settings` gives them (see its comments for the defaults' reasons)."""

    max_depth: int = Settings.max_depth
    max_cost: int = Settings.max_cost
    max_aliases: int = Settings.max_aliases
    max_tokens: int = Settings.max_tokens
    max_document_bytes: int = Settings.max_document_bytes
    max_body_bytes: int = Settings.max_body_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryLimits:
        return cls(max_depth=settings.max_depth, max_cost=settings.max_cost,
                   max_aliases=settings.max_aliases, max_tokens=settings.max_tokens,
                   max_document_bytes=settings.max_document_bytes,
                   max_body_bytes=settings.max_body_bytes)


_WHAT = {
    "depth": "Query depth is {actual:,}; the limit is {maximum:,}",
    "cost": "Query cost is {actual:,}; the limit is {maximum:,}",
    "aliases": "The operation uses {actual:,} aliases; the limit is {maximum:,}",
    "tokens": "The document has {actual:,} tokens; the limit is {maximum:,}",
    "documentSize": "The document is {actual:,} bytes; the limit is {maximum:,}",
    "bodySize": "The request body is {actual:,} bytes; the limit is {maximum:,}",
}
_HINT = {
    "cost": (" Each object counts 1 and a connection multiplies its selection by its "
             "`first` or `last` (20 when absent): ask for smaller pages or fewer nested "
             "connections."),
}


def too_complex(limit: str, actual: int, maximum: int,
                nodes: Any = None) -> GraphQLError:
    """The refusal of one limit: which, the figure, the limit, and by how much."""
    message = _WHAT[limit].format(actual=actual, maximum=maximum)
    return GraphQLError(
        f"{message} (over by {actual - maximum:,}).{_HINT.get(limit, '')}", nodes,
        extensions={"code": QUERY_TOO_COMPLEX, "limit": limit, "maximum": maximum,
                    "actual": actual})


# ------------------------------------------------------------------ measuring a document


@dataclass
class Measures:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    # A page size came from a variable: the cost holds only for these variables.
    variable_pages: bool = False

    def add(self, other: Measures) -> None:
        self.depth = max(self.depth, other.depth)
        self.aliases += other.aliases
        self.cost = min(self.cost + other.cost, _COST_CAP)
        self.variable_pages = self.variable_pages or other.variable_pages


class _Measure:
    """Depth, aliases and cost of one operation, each fragment measured once.

    `variables` None measures the document alone: a page size given by a variable
    counts 0, so the cost is a lower bound that only refuses what no variables can
    save."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 variables: Mapping[str, Any] | None) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self._memo: dict[str, Measures] = {}
        self._defaults: dict[str, Any] = {}

    def operation(self, operation: OperationDefinitionNode) -> Measures:
        self._defaults = {
            d.variable.name.value: d.default_value.value
            for d in operation.variable_definitions or ()
            if isinstance(d.default_value, IntValueNode)}
        root = self.schema.get_root_type(operation.operation)
        return self._selections(operation.selection_set, root, frozenset())

    def _selections(self, selection_set: SelectionSetNode, parent: Any,
                    visiting: frozenset[str]) -> Measures:
        total = Measures()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total.add(self._field(selection, parent, visiting))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total.add(self._selections(selection.selection_set, inner, visiting))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in visiting:
                    continue  # unknown or cyclic: validation reports it
                if name not in self._memo:
                    inner = self.schema.get_type(fragment.type_condition.name.value)
                    self._memo[name] = self._selections(fragment.selection_set, inner,
                                                        visiting | {name})
                total.add(self._memo[name])
        return total

    def _field(self, node: FieldNode, parent: Any, visiting: frozenset[str]) -> Measures:
        aliases = 1 if node.alias is not None else 0
        if node.selection_set is None:
            return Measures(depth=1, aliases=aliases)
        name = node.name.value
        definition = _META_FIELDS.get(name)
        if definition is None and isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(name)
        inner = get_named_type(definition.type) if definition is not None else None
        child = self._selections(node.selection_set, inner, visiting)
        pages, from_variable = self._page_size(node, definition, inner)
        return Measures(depth=child.depth + 1, aliases=aliases + child.aliases,
                        cost=min(1 + pages * child.cost, _COST_CAP),
                        variable_pages=child.variable_pages or from_variable)

    def _page_size(self, node: FieldNode, definition: Any, inner: Any) -> tuple[int, bool]:
        """How many times the field's selection counts, and whether a variable said so."""
        if definition is None or not any(a in definition.args for a in _PAGE_ARGUMENTS):
            return 1, False
        given = {a.name.value: a.value for a in node.arguments or ()}
        sizes: list[int] = []
        from_variable = False
        for name in _PAGE_ARGUMENTS:
            value = given.get(name)
            if isinstance(value, VariableNode):
                from_variable = True
                if self.variables is None:
                    sizes.append(0)  # unknown before the request: the lower bound
                    continue
                raw = self.variables.get(value.name.value,
                                         self._defaults.get(value.name.value))
                if raw is not None:  # a variable not given leaves the argument unset
                    sizes.append(_page(raw))
            elif isinstance(value, IntValueNode):
                sizes.append(_page(value.value))
        if sizes:
            return max(sizes), from_variable
        for name in _PAGE_ARGUMENTS:
            argument = definition.args.get(name)
            default = argument.default_value if argument is not None else None
            if isinstance(default, int) and not isinstance(default, bool):
                return _page(default), from_variable
        is_connection = inner is not None and inner.name.endswith("Connection")
        return (DEFAULT_PAGE if is_connection else 1), from_variable


def _page(value: Any) -> int:
    """A page size as the cost counts it: only integers; clamped to what a page can hold."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int):
        return 0
    return max(0, min(value, MAX_PAGE))


def measure(schema: GraphQLSchema, document: DocumentNode,
            variables: Mapping[str, Any] | None = None,
            operation_name: str | None = None) -> Measures:
    """The measures of the operation that would run (each operation's maximum without a
    name and with several operations)."""
    measuring = _Measure(schema, document, variables)
    total = Measures()
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
                operation_name is None or (definition.name is not None
                                           and definition.name.value == operation_name)):
            one = measuring.operation(definition)
            total.depth = max(total.depth, one.depth)
            total.aliases = max(total.aliases, one.aliases)
            total.cost = max(total.cost, one.cost)
            total.variable_pages = total.variable_pages or one.variable_pages
    return total


def _measure_errors(limits: QueryLimits, measures: Measures,
                    nodes: Any = None) -> list[GraphQLError]:
    errors = []
    if measures.depth > limits.max_depth:
        errors.append(too_complex("depth", measures.depth, limits.max_depth, nodes))
    if measures.aliases > limits.max_aliases:
        errors.append(too_complex("aliases", measures.aliases, limits.max_aliases, nodes))
    if measures.cost > limits.max_cost:
        errors.append(too_complex("cost", measures.cost, limits.max_cost, nodes))
    return errors


def validation_rules(limits: QueryLimits) -> tuple[type[ValidationRule], ...]:
    """The rule that refuses each operation over depth, aliases or its document-only cost."""

    class QueryLimitsRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode,
                                       *_: Any) -> Any:
            context: ValidationContext = self.context
            measures = _Measure(context.schema, context.document, None).operation(node)
            for error in _measure_errors(limits, measures, node):
                context.report_error(error)
            return self.SKIP

    return (QueryLimitsRule,)


# ------------------------------------------------------------------ per request


def nul_refused() -> GraphQLError:
    """PostgreSQL cannot store U+0000 in text; no place or source name has one."""
    return GraphQLError("Text must not contain the NUL character (U+0000).",
                        extensions={"code": BAD_USER_INPUT})


def _has_nul(value: Any) -> bool:
    """Whether a string anywhere in a document's literals or in variables holds U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    if isinstance(value, DocumentNode):
        return any("\x00" in node.value for node in _string_values(value))
    return False


def _string_values(document: DocumentNode) -> Iterator[StringValueNode]:
    found: list[StringValueNode] = []

    class Strings(Visitor):
        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            found.append(node)

    visit(document, Strings())
    yield from found


@dataclass
class _Facts:
    error: GraphQLError | None
    document: DocumentNode | None
    variable_pages: bool


def count_tokens(text: str) -> int:
    """Tokens as graphql-core's `max_tokens` counts them (punctuators, names, values)."""
    lexer = Lexer(Source(text))
    count = 0
    try:
        while lexer.advance().kind is not TokenKind.EOF:
            count += 1
    except GraphQLError:
        pass
    return count


class Limiter:
    """The request-time checks: text size and tokens before parsing, and the cost with the
    request's variables; what it learns of each document text is kept in an LRU."""

    def __init__(self, limits: QueryLimits, cache_size: int = 512) -> None:
        self.limits = limits
        self.schema: GraphQLSchema | None = None
        self._cache: OrderedDict[str, _Facts] = OrderedDict()
        self._cache_size = cache_size

    def attach(self, schema: GraphQLSchema) -> None:
        self.schema = schema

    def facts(self, query: str) -> _Facts:
        limit = self.limits.max_document_bytes
        # Characters never outnumber UTF-8 bytes: a long text is refused unencoded.
        if len(query) > limit:
            return _Facts(too_complex("documentSize", len(query.encode()), limit), None, False)
        cached = self._cache.get(query)
        if cached is not None:
            self._cache.move_to_end(query)
            return cached
        facts = self._learn(query)
        self._cache[query] = facts
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return facts

    def _learn(self, query: str) -> _Facts:
        size = len(query.encode())
        if size > self.limits.max_document_bytes:
            return _Facts(too_complex("documentSize", size, self.limits.max_document_bytes),
                          None, False)
        try:
            document = parse(query, max_tokens=self.limits.max_tokens)
        except GraphQLError as error:
            if "tokens" in error.message and "more than" in error.message:
                return _Facts(too_complex("tokens", count_tokens(query),
                                          self.limits.max_tokens), None, False)
            return _Facts(None, None, False)  # the executor reports the syntax error
        if ("\x00" in query or "\\u0000" in query) and _has_nul(document):
            return _Facts(nul_refused(), None, False)
        assert self.schema is not None, "Limiter.attach(schema) first"
        variable_pages = measure(self.schema, document).variable_pages
        return _Facts(None, document, variable_pages)

    def cost_error(self, document: DocumentNode, variables: Mapping[str, Any] | None,
                   operation_name: str | None) -> GraphQLError | None:
        assert self.schema is not None, "Limiter.attach(schema) first"
        cost = measure(self.schema, document, variables or {}, operation_name).cost
        if cost > self.limits.max_cost:
            return too_complex("cost", cost, self.limits.max_cost)
        return None

    def request_error(self, query: str, variables: Mapping[str, Any] | None,
                      operation_name: str | None) -> GraphQLError | None:
        """What this request is refused for, among the checks validation cannot make."""
        facts = self.facts(query)
        if facts.error is not None:
            return facts.error
        if variables and _has_nul(variables):
            return nul_refused()
        if facts.variable_pages and facts.document is not None:
            return self.cost_error(facts.document, variables, operation_name)
        return None

    def admits(self, query: str, variables: Mapping[str, Any] | None,
               operation_name: str | None) -> bool:
        return self.request_error(query, variables, operation_name) is None

    def extension(self) -> SchemaExtension:
        """A fresh extension per operation, as Strawberry wants its extensions."""
        return QueryLimitsExtension(self)


class QueryLimitsExtension(SchemaExtension):
    """Strawberry's side of `Limiter`: refuses an oversized text before parsing (and hands
    over the parse it cached), and a cost over the limit before execution."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter
        self._variable_pages = False

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is None:
            facts = self.limiter.facts(context.query)
            if facts.error is not None:
                raise GraphQLError(facts.error.message, extensions=facts.error.extensions)
            self._variable_pages = facts.variable_pages
            if facts.document is not None:
                context.graphql_document = facts.document
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.variables and _has_nul(context.variables):
            context.result = ExecutionResult(data=None, errors=[nul_refused()])
        elif self._variable_pages and context.graphql_document is not None:
            error = self.limiter.cost_error(context.graphql_document, context.variables,
                                            context.operation_name)
            if error is not None:
                context.result = ExecutionResult(data=None, errors=[error])
        yield


# ------------------------------------------------------------------ request body


class BodySizeLimit:
    """ASGI middleware: a body over `max_body_bytes` gets 413 before anything reads it."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _refuse_body(send, declared, limit)
                    return
        received = 0
        started = False

        async def counted_receive() -> dict[str, Any]:
            nonlocal received
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(received)
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracking_send)
        except _BodyTooLarge as error:
            if started:
                raise
            await _refuse_body(send, error.received, limit, at_least=True)


class _BodyTooLarge(Exception):
    def __init__(self, received: int) -> None:
        super().__init__(received)
        self.received = received


async def _refuse_body(send: Any, actual: int, limit: int, at_least: bool = False) -> None:
    error = too_complex("bodySize", actual, limit)
    message = error.message.replace("is ", "is at least ", 1) if at_least else error.message
    body = orjson.dumps({"errors": [{"message": message, "extensions": error.extensions}]})
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
