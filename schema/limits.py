"""Query limits: body and document size, tokens, depth, aliases, cost and validation work,
each refused as QUERY_TOO_COMPLEX (naming the limit and by how much) before any SQL runs.

This module measures; schema/pipeline.py applies the measures in order, before
validation, for every executor: size and tokens before parsing, depth, aliases and the
cost the document alone determines on the parsed document, the validation work before
validating, and a cost whose page sizes come from variables per request, with the
variables coerced as execution coerces them (`first: 100.0` is 100).

Cost follows GitHub's node limit: every object field counts 1, and a connection (a
field with `first`/`last`) multiplies the cost of its selection by its page size — the
argument's value clamped to 0..100 (larger values are refused as BAD_USER_INPUT
anyway), else its default, else 20. A list a list argument asks for (`nodes(ids:)`,
`_entities(representations:)`) multiplies by its length; other lists by the most they
can hold (LIST_BOUNDS: `countries` 250, `sectors` 50, a partnership's `cities` 2) or
else DEFAULT_LIST_BOUND (20). Every branch of a fragment counts, so the figure is an
upper bound.

Why not Strawberry's QueryDepthLimiter, MaxAliasesLimiter and MaxTokensLimiter: their
errors carry no code and (depth, tokens) not the figure, so the client cannot learn by
how much it is over; they run after parsing and with validation, where the limits must
come before validation (graphql-core's validation is super-linear in repeated fields);
and Strawberry has no cost limiter, which needs the same walk as depth and aliases. One
walk measures all three, once per document (the pipeline keeps each verdict).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from citylinks.schema.errors import BAD_USER_INPUT, QUERY_TOO_COMPLEX
from citylinks.settings import Settings
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    Visitor,
    get_named_type,
    visit,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

# The contract: pages hold at most 100 and default to 20.
MAX_PAGE = 100
DEFAULT_PAGE = 20
_PAGE_ARGUMENTS = ("first", "last")
# Lists whose length a list argument gives: one object per item asked for.
_LIST_ARGUMENTS = {"nodes": "ids", "_entities": "representations"}
# Lists without a page size count their selection this many times: the most they can
# hold where the model bounds them (249 ISO 3166-1 codes; two cities a partnership;
# the sector taxonomy, kept well under 50), else DEFAULT_LIST_BOUND, a generous
# figure for the lists a place or partnership holds (milestones, sources,
# organizations, count buckets).
LIST_BOUNDS = {"countries": 250, "sectors": 50, "cities": 2, "bySector": 50,
               "byCountry": 250}
DEFAULT_LIST_BOUND = 20
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
    max_validation_checks: int = Settings.max_validation_checks

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryLimits:
        return cls(max_depth=settings.max_depth, max_cost=settings.max_cost,
                   max_aliases=settings.max_aliases, max_tokens=settings.max_tokens,
                   max_document_bytes=settings.max_document_bytes,
                   max_body_bytes=settings.max_body_bytes,
                   max_validation_checks=settings.max_validation_checks)


_WHAT = {
    "depth": "Query depth is {actual:,}; the limit is {maximum:,}",
    "cost": "Query cost is {actual:,}; the limit is {maximum:,}",
    "aliases": "The operation uses {actual:,} aliases; the limit is {maximum:,}",
    "tokens": "The document has {actual:,} tokens; the limit is {maximum:,}",
    "documentSize": "The document is {actual:,} bytes; the limit is {maximum:,}",
    "bodySize": "The request body is {actual:,} bytes; the limit is {maximum:,}",
    "validation": ("Validating the document takes at least {actual:,} checks; the limit "
                   "is {maximum:,}"),
}
_HINT = {
    "validation": (" Each field counts 20 and each pair of fields answering under the same "
                   "name in one selection set (fragments included) 1: select a field once "
                   "where it repeats."),
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
        parent_name = getattr(parent, "name", "")
        if parent_name.endswith("Connection") or parent_name.startswith("__"):
            # edges and nodes: the connection counted its page; introspection's lists
            # are the schema's own, a fixed size.
            pages, from_variable = 1, False
        else:
            pages, from_variable = self._page_size(node, definition, inner)
        return Measures(depth=child.depth + 1, aliases=aliases + child.aliases,
                        cost=min(1 + pages * child.cost, _COST_CAP),
                        variable_pages=child.variable_pages or from_variable)

    def _page_size(self, node: FieldNode, definition: Any, inner: Any) -> tuple[int, bool]:
        """How many times the field's selection counts, and whether a variable said so."""
        if definition is None:
            return 1, False
        given = {a.name.value: a.value for a in node.arguments or ()}
        listed = _LIST_ARGUMENTS.get(node.name.value)
        if listed is not None and listed in definition.args:
            return self._list_length(given.get(listed))
        if not any(a in definition.args for a in _PAGE_ARGUMENTS):
            if _is_list(definition.type):
                return LIST_BOUNDS.get(node.name.value, DEFAULT_LIST_BOUND), False
            return 1, False
        sizes: list[int] = []
        from_variable = False
        for name in _PAGE_ARGUMENTS:
            value = given.get(name)
            if isinstance(value, VariableNode):
                from_variable = True
                if self.variables is None:
                    sizes.append(0)  # unknown before the request: the lower bound
                    continue
                raw = self._variable(value)
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
        if inner is not None and inner.name.endswith("Connection"):
            return DEFAULT_PAGE, from_variable
        if _is_list(definition.type):
            return LIST_BOUNDS.get(node.name.value, DEFAULT_LIST_BOUND), from_variable
        return 1, from_variable

    def _variable(self, node: VariableNode) -> Any:
        assert self.variables is not None
        name = node.name.value
        return self.variables.get(name, self._defaults.get(name))

    def _list_length(self, value: Any) -> tuple[int, bool]:
        """A list argument's length (`nodes(ids:)`): one object per item it names."""
        if isinstance(value, VariableNode):
            if self.variables is None:
                return 0, True
            raw = self._variable(value)
            return (len(raw) if isinstance(raw, list) else int(raw is not None)), True
        if isinstance(value, ListValueNode):
            return len(value.values), False
        return int(value is not None), False


def _is_list(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _page(value: Any) -> int:
    """A page size as the cost counts it, coerced as execution coerces an Int (`100.0` is
    100); a value execution refuses counts 0. Clamped to what a page can hold."""
    if isinstance(value, str):  # a literal's text (IntValueNode.value)
        value = int(value) if value.lstrip("-").isdigit() else None
    try:
        size = GraphQLInt.parse_value(value)
    except (GraphQLError, TypeError, ValueError):
        return 0
    return max(0, min(size, MAX_PAGE))


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


# What visiting one field costs validation, in comparisons of two fields (measured:
# about 25 us against 0.3-1.7 us with graphql-core 3.3).
FIELD_CHECKS = 20


class _OverBudget(Exception):
    pass


class _ValidationWork:
    """An estimate of what graphql-core's validation does with a document, counted until
    it passes a budget (so counting costs at most the budget).

    Validation visits every field once, and OverlappingFieldsCanBeMerged compares every
    pair of fields that answer under the same name in one selection set (fragments
    spread into it included), and the pairs of their sub-selections, recursively: work
    that grows with the square of repeated fields. `{ stats { cities } }` repeated 300
    times takes graphql-core half a second, 490 times a recursion error."""

    def __init__(self, document: DocumentNode, budget: int) -> None:
        self.budget = budget
        self.work = 0
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self._fields: dict[int, dict[str, list[FieldNode]]] = {}

    def spend(self, amount: int) -> None:
        self.work += amount
        if self.work > self.budget:
            raise _OverBudget

    def fields(self, selection_set: SelectionSetNode,
               visiting: frozenset[str] = frozenset()) -> dict[str, list[FieldNode]]:
        """The set's fields by response name, through its fragments."""
        known = self._fields.get(id(selection_set))
        if known is not None:
            return known
        found: dict[str, list[FieldNode]] = {}
        spread: set[str] = set()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                found.setdefault(key, []).append(selection)
                self.spend(1)
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = self.fields(selection.selection_set, visiting)
            else:
                name = selection.name.value  # type: ignore[attr-defined]
                fragment = self.fragments.get(name)
                if fragment is None or name in visiting or name in spread:
                    continue
                spread.add(name)
                inner = self.fields(fragment.selection_set, visiting | {name})
            for key, nodes in inner.items():
                found.setdefault(key, []).extend(nodes)
                self.spend(len(nodes))
        self._fields[id(selection_set)] = found
        return found

    def compare(self, first: FieldNode, second: FieldNode) -> None:
        self.spend(1)
        if first.selection_set is None or second.selection_set is None:
            return
        mine = self.fields(first.selection_set)
        theirs = self.fields(second.selection_set)
        for key, nodes in mine.items():
            for other in theirs.get(key, ()):
                for node in nodes:
                    self.compare(node, other)

    def document(self, document: DocumentNode) -> int:
        # Every selection set and field of the document (graphql-core's visitor would
        # take three times as long).
        selection_sets: list[SelectionSetNode] = []
        fields = 0
        stack = [d.selection_set for d in document.definitions
                 if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)]
        while stack:
            selection_set = stack.pop()
            selection_sets.append(selection_set)
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    fields += 1
                inner = getattr(selection, "selection_set", None)
                if inner is not None:
                    stack.append(inner)
        try:
            self.spend(FIELD_CHECKS * fields)
            for selection_set in selection_sets:
                for nodes in self.fields(selection_set).values():
                    for i, node in enumerate(nodes):
                        for other in nodes[i + 1:]:
                            self.compare(node, other)
        except _OverBudget:
            pass
        return self.work


def validation_work(document: DocumentNode, budget: int) -> int:
    """What validating the document would cost, in field visits and comparisons; past
    `budget`, some figure over it."""
    return _ValidationWork(document, budget).document(document)


def measure_errors(limits: QueryLimits, measures: Measures,
                    nodes: Any = None) -> list[GraphQLError]:
    errors = []
    if measures.depth > limits.max_depth:
        errors.append(too_complex("depth", measures.depth, limits.max_depth, nodes))
    if measures.aliases > limits.max_aliases:
        errors.append(too_complex("aliases", measures.aliases, limits.max_aliases, nodes))
    if measures.cost > limits.max_cost:
        errors.append(too_complex("cost", measures.cost, limits.max_cost, nodes))
    return errors


# ------------------------------------------------------------------ per request


def nul_refused() -> GraphQLError:
    """PostgreSQL cannot store U+0000 in text; no place or source name has one."""
    return GraphQLError("Text must not contain the NUL character (U+0000).",
                        extensions={"code": BAD_USER_INPUT})


def has_nul(value: Any) -> bool:
    """Whether a string anywhere in a document's literals or in variables holds U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(has_nul(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
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


# GraphQL's tokens (graphql-core's lexer, in one regular expression): comments match so
# that their words are not counted, strings whole so that theirs are not either.
_TOKEN = re.compile(r'#[^\n\r]*|"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n\r]|\\.)*"|\.\.\.'
                    r"|[!$&()\[\]{}:=@|]|[_A-Za-z][_0-9A-Za-z]*"
                    r"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def count_tokens(text: str) -> int:
    """Tokens as graphql-core's `max_tokens` counts them (punctuators, names, values), at
    the speed of a regular expression: a tenth of what lexing costs, so a document over
    the cap is refused before graphql-core lexes it (its parser stays the exact guard)."""
    return sum(1 for match in _TOKEN.finditer(text) if match.group()[0] != "#")


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
