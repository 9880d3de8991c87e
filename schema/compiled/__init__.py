"""The compiled read path: cached, validated documents run as a few batch statements.

graphql-core's executor spends most of a large nested answer completing fields
one by one (its known per-field cost). For queries it can express, this path
takes the plan the request pipeline made once per document (schema/pipeline.py),
and per request runs one statement per relation per nesting level, assembling the
response directly. Any document or request it cannot answer exactly —
introspection, abstract types, errors of any kind — goes to Strawberry's
executor, the reference whose answers the tests compare this path against.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson
import strawberry
from citylinks.db.engine import Database
from citylinks.db.errors import StoreError
from citylinks.db.inline_reads import NotInline
from citylinks.responsecache import VERSION_SQL, ResponseCache, Ticket
from citylinks.schema.compiled import sqljson
from citylinks.schema.compiled.planner import (
    FieldPlan,
    NotCompilable,
    ObjectPlan,
    OperationPlan,
    Planner,
)
from citylinks.schema.compiled.resolvers import build_registry
from citylinks.schema.errors import ApiError
from graphql import (
    ArgumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLString,
    ListValueNode,
    Node,
    ObjectFieldNode,
    ObjectValueNode,
    VariableNode,
    get_argument_values,
    specified_scalar_types,
)
from graphql.execution.get_variable_signature import get_variable_signature
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    get_variable_values,
)
from sqlalchemy import TextClause, text
from sqlalchemy.exc import OperationalError
from strawberry.types.arguments import convert_arguments

if TYPE_CHECKING:
    from citylinks.schema.pipeline import DocumentGate

log = logging.getLogger("citylinks.compiled")

DEFINITION_BACKREF = "strawberry-definition"


# Converted arguments kept per field, by their values and by their variables' values:
# two entries per distinct value. Past the bound all are dropped, so it has to hold
# the values in use: at 256, Q2 of the benchmark (a country code from 200) dropped
# them every 128 new codes and converted its filter in most requests.
CONVERTED_PER_FIELD = 4096
# A bound parameter of sqljson.Sql.bind (":p0"), not a PostgreSQL cast ("::text").
_NAMED_PARAMETER = re.compile(r"(?<!:):p(\d+)\b")


TEMPLATES_PER_PLAN = 64
# Statements with their values, by plan and the request's variables, all plans together
# (CompiledExecutor._bound_statement): past the bound all are dropped.
BOUND_STATEMENTS = 8192
# The share of a statement's runs past the inline budget that sends it to the reader
# threads (_Statement.over_budget): six such runs in a row reach it.
INLINE_OVER_BUDGET_LIMIT = 0.05


@dataclass
class _Statement:
    template: sqljson.Template
    clause: TextClause  # for SQLAlchemy
    numbered: str  # the same text with asyncpg's $1, $2, ... parameters
    # SQLite: how often the statement ran past the budget of the event loop's connection
    # (inline_reads), a moving average over about its last hundred runs there. From one
    # in twenty on, it runs on the reader threads for good; a run held up now and then
    # (the process preempted, the first run preparing it) does not send it there.
    over_budget: float = 0.0


def _frozen(value: Any) -> Any:
    """A hashable copy of coerced argument values; None when one is not hashable."""
    if isinstance(value, dict):
        items = tuple(sorted((k, _frozen(v)) for k, v in value.items()))
        return None if any(v is None and value[k] is not None for k, v in items) else (dict, items)
    if isinstance(value, list):
        items = tuple(_frozen(v) for v in value)
        return None if any(f is None and v is not None
                           for f, v in zip(items, value, strict=True)) else (list, items)
    try:
        hash(value)
    except TypeError:
        return None
    return (type(value), value)


def _variable_names(node: Node) -> tuple[str, ...]:
    """The variables the field's arguments refer to, at any depth, in document order."""
    names: dict[str, None] = {}
    stack: list[Any] = list(reversed(node.arguments or ()))
    while stack:
        item = stack.pop()
        if isinstance(item, VariableNode):
            names[item.name.value] = None
        elif isinstance(item, ArgumentNode | ObjectFieldNode):
            stack.append(item.value)
        elif isinstance(item, ObjectValueNode):
            stack.extend(reversed(item.fields))
        elif isinstance(item, ListValueNode):
            stack.extend(reversed(item.values))
    return tuple(names)


def _uses_variables(node: Node) -> bool:
    """Whether any argument of the field refers to a variable, at any depth."""
    return bool(_variable_names(node))


# A variable the request did not give (not the same as one given as null).
_ABSENT = object()


def _shape(run: Run, field: FieldPlan) -> Any:
    """The shape of the field's arguments in this request (sqljson.shape), remembered
    for the converted arguments that requests share (those of input objects)."""
    arguments = run.arguments(field)
    if field.plain_arguments is not False:
        return sqljson.shape(arguments)
    known = field.shapes.get(id(arguments))
    if known is not None and known[0] is arguments:
        return known[1]
    shape = sqljson.shape(arguments)
    if len(field.shapes) >= CONVERTED_PER_FIELD:
        field.shapes.clear()
    field.shapes[id(arguments)] = (arguments, shape)
    return shape


class Run:
    """One request on the compiled path: its connection, variables and argument cache."""

    def __init__(self, executor: CompiledExecutor, conn: Any, variables: dict[str, Any],
                 db: Database | None = None) -> None:
        self.executor = executor
        self.conn = conn
        # For what is read from the process's graph index rather than the connection
        # (suggestPartners, path: db/graph.py).
        self.db = db
        self.variables = variables
        self._arguments: dict[int, dict[str, Any]] = {}
        # The data version read with the answer, when the statement was asked to.
        self.version: int | None = None

    def arguments(self, field: FieldPlan) -> dict[str, Any]:
        """Arguments as the reference resolvers see them: Python names, input objects built."""
        if field.constant_arguments is not None:
            return field.constant_arguments
        key = id(field)
        if key not in self._arguments:
            names = field.variable_names
            if names is None:
                names = field.variable_names = _variable_names(field.node)
            plain = field.plain_arguments
            if plain is None:
                plain = field.plain_arguments = self.executor.plain_arguments(field)
            # The same values of the field's variables make the same arguments: a value
            # seen before skips coercing the document's literals as well as converting.
            by_variables = None
            if names and not plain:
                values = getattr(self.variables, "coerced", self.variables)
                by_variables = _frozen([values.get(n, _ABSENT) for n in names])
                known = field.converted.get(("variables", by_variables))
                if by_variables is not None and known is not None:
                    self._arguments[key] = known
                    return known
            raw = get_argument_values(field.definition, field.node, self.variables)
            # Strawberry's conversion costs more than the SQL of a small query: arguments
            # written out in the document are converted once per plan, and those given
            # by variables once per distinct value (a few, for filters and orderings).
            constant = not names
            frozen = None if constant or plain else _frozen(raw)
            converted = None if frozen is None else field.converted.get(frozen)
            if converted is None and plain and not constant:
                # An id or a name, different in every request: nothing to convert.
                converted = {plain[name]: value for name, value in raw.items()}
            elif converted is None:
                definition = self._definition(field)
                converted = convert_arguments(
                    raw, definition.arguments,
                    scalar_registry=self.executor.scalar_registry, config=self.executor.config)
                if constant:
                    field.constant_arguments = converted
                elif frozen is not None:
                    if len(field.converted) >= CONVERTED_PER_FIELD:
                        field.converted.clear()
                    field.converted[frozen] = converted
            if by_variables is not None and not plain:
                if len(field.converted) >= CONVERTED_PER_FIELD:
                    field.converted.clear()
                field.converted[("variables", by_variables)] = converted
            self._arguments[key] = converted
        return self._arguments[key]

    @staticmethod
    def _definition(field: FieldPlan) -> Any:
        definition = field.definition.extensions.get(DEFINITION_BACKREF)
        if definition is None:
            raise NotCompilable("field without a Strawberry definition")
        return definition

    async def complete(self, plan: ObjectPlan, rows: list[Any]) -> list[dict[str, Any]]:
        if not rows:
            return []
        columns: list[list[Any]] = []
        for field in plan.fields:
            resolver = field.resolver
            if resolver is None:  # __typename
                columns.append([plan.type_name] * len(rows))
            elif getattr(resolver, "sync", False):
                columns.append(resolver(self, field, rows))
            else:
                columns.append(await resolver(self, field, rows))
        keys = [field.key for field in plan.fields]
        if len(keys) == 1:
            (key,), (column,) = keys, columns
            return [{key: value} for value in column]
        return [dict(zip(keys, values, strict=False)) for values in zip(*columns, strict=False)]


class CompiledExecutor:
    def __init__(self, schema: strawberry.Schema) -> None:
        self.schema = schema
        self.graphql_schema = schema._schema
        self.scalar_registry = schema.schema_converter.scalar_registry
        self.config = schema.config
        self.planner = Planner(self.graphql_schema, build_registry())
        # Documents come through the schema's gate, which plans what it admits.
        self.gate: DocumentGate = schema.gate  # type: ignore[attr-defined]
        self.gate.planner = self.planner
        # Off: every plan runs on the batch tier (the tests compare both tiers).
        self.sql_tier = True
        # Answers kept in memory per data version (responsecache.py); the app sets it.
        self.response_cache: ResponseCache | None = None
        self._bound: dict[Any, tuple[_Statement, dict[str, Any]] | None] = {}

    def plain_arguments(self, field: FieldPlan) -> dict[str, str] | Literal[False]:
        """The field's GraphQL -> Python argument names when Strawberry's conversion
        would return every value unchanged (built-in scalars and lists of them)."""
        names: dict[str, str] = {}
        for argument in Run._definition(field).arguments:
            graphql_type = field.definition.args[
                self.config.name_converter.get_graphql_name(argument)].type
            while isinstance(graphql_type, GraphQLNonNull | GraphQLList):
                graphql_type = graphql_type.of_type
            if not (isinstance(graphql_type, GraphQLScalarType)
                    and graphql_type.name in specified_scalar_types):
                return False
            names[self.config.name_converter.get_graphql_name(argument)] = argument.python_name
        return names

    def compile(self, query: str, operation_name: str | None) -> OperationPlan | None:
        """The plan of an admitted query document (schema/pipeline.py keeps it)."""
        verdict = self.gate.verdict(query, operation_name)
        return None if verdict.errors else verdict.plan

    async def execute(self, query: str, variables: dict[str, Any] | None,
                      operation_name: str | None, context: Any) -> ExecutionResult | None:
        """The answer, or None when the reference executor should answer instead."""
        plan = self.compile(query, operation_name)
        if plan is None:
            return None
        return await self.execute_plan(plan, variables, context)

    async def execute_plan(self, plan: OperationPlan, variables: dict[str, Any] | None,
                           context: Any, keep: Ticket | None = None) -> ExecutionResult | None:
        """The answer to an admitted request, or None when the reference executor should
        answer instead (a variable it refuses, an error of any kind). `keep`: the response
        cache's ticket of a miss (the front door's answer_from_cache), to keep the answer."""
        coerced = self.coerce_variables(plan, variables or {})
        if isinstance(coerced, list):
            return None
        try:
            if keep is None:
                return ExecutionResult(data=(await self._run(plan, coerced, context.db))[0])
            return await self._run_and_keep(keep, plan, coerced, context.db)
        except (NotCompilable, ApiError, StoreError, GraphQLError):
            return None
        except Exception:  # the reference executor reports (and masks) it
            log.debug("compiled path fell back", exc_info=True)
            return None

    def coerce_variables(self, plan: OperationPlan,
                         variables: dict[str, Any]) -> VariableValues | list[GraphQLError]:
        """graphql-core's coercion of the request's variables (get_variable_values), with
        its result made directly where that is exact: every variable a String or ID
        without a default, given as a string, which both scalars take unchanged. Any
        other value, or a variable left out, goes through graphql-core (its errors)."""
        signatures = plan.string_variables
        if signatures is None:
            signatures = plan.string_variables = self._string_variables(plan)
        if signatures is not False:
            sources: dict[str, VariableValueSource] = {}
            coerced: dict[str, Any] = {}
            for signature in signatures:
                value = variables.get(signature.name)
                if type(value) is not str:
                    break
                sources[signature.name] = VariableValueSource(signature, value)
                coerced[signature.name] = value
            else:
                return VariableValues(sources, coerced)
        return get_variable_values(self.graphql_schema,
                                   plan.operation.variable_definitions or (), variables)

    def _string_variables(self, plan: OperationPlan) -> tuple[Any, ...] | Literal[False]:
        signatures = []
        for definition in plan.operation.variable_definitions or ():
            signature = get_variable_signature(self.graphql_schema, definition)
            if isinstance(signature, GraphQLError) or definition.default_value is not None:
                return False
            named = signature.type
            if isinstance(named, GraphQLNonNull):
                named = named.of_type
            if named is not GraphQLString and named is not GraphQLID:
                return False
            signatures.append(signature)
        return tuple(signatures)

    async def _run(self, plan: OperationPlan, coerced: Any, db: Database,
                   cache: ResponseCache | None = None) -> tuple[Any, int | None]:
        """The answer; with a cache, also the data version it is at least as fresh as:
        read in the SQL tier's statement itself where the cache allows, else before
        the batch tier's statements."""
        run = Run(self, None, coerced, db)
        versioned = cache is not None and cache.version_with_answer
        data = await self._in_sql(run, plan, db, versioned)
        if data is None:
            if cache is not None:
                run.version = await cache.current_version()
            async with db.read() as conn:
                run.conn = conn
                data = (await run.complete(plan.root, [None]))[0]
        return data, run.version

    async def _run_and_keep(self, ticket: Ticket, plan: OperationPlan, coerced: Any,
                            db: Database) -> ExecutionResult:
        """A miss of the response cache: the answer, kept under the data version read
        before it was computed (or in its own statement): at least that fresh."""
        cache = ticket.cache
        data, read_with = await self._run(plan, coerced, db,
                                          cache if ticket.version is None else None)
        body = orjson.dumps(data)
        version = ticket.version if ticket.version is not None else read_with
        if version is not None:
            cache.put(ticket, version, body)
        # The answer's JSON goes into the response as it is, not decoded and re-encoded.
        return ExecutionResult(data=orjson.Fragment(body))  # type: ignore[arg-type]

    def _bound_statement(self, run: Run, plan: OperationPlan, dialect: str,
                         versioned: bool) -> tuple[_Statement, dict[str, Any]] | None:
        """`_statement`'s answer, kept by the variables' values: the same values make the
        same parameters. A value seen before skips converting the arguments and computing
        each parameter, a fifth of the Python time of the benchmark's Q2 (one country
        code from 200)."""
        values = getattr(run.variables, "coerced", run.variables)
        frozen = _frozen(values)
        if frozen is None:
            return self._statement(run, plan, dialect, versioned)
        key = (plan.cache_token, dialect, versioned, frozen)
        found = self._bound.get(key, _ABSENT)
        if found is _ABSENT:
            found = self._statement(run, plan, dialect, versioned)
            if len(self._bound) >= BOUND_STATEMENTS:
                self._bound.clear()
            self._bound[key] = found
        return found  # type: ignore[return-value]

    @staticmethod
    def _statement(run: Run, plan: OperationPlan, dialect: str,
                   versioned: bool = False) -> tuple[_Statement, dict[str, Any]] | None:
        """The plan's statement for this request's shape of arguments, and its values.

        The text is built the first time a plan meets a shape of arguments (which
        filters are set, the ordering, a list's length); later requests only compute
        their values (sqljson.Template). None: the plan does not fit the SQL tier."""
        variable_fields = plan.variable_fields
        if variable_fields is None:
            variable_fields = plan.variable_fields = [
                f for f in plan.fields() if f.node is not None and _uses_variables(f.node)]
        try:
            key: Any = (dialect, versioned, *(_shape(run, f) for f in variable_fields))
            prepared = plan.templates.get(key)
        except sqljson.Unshaped:
            key, prepared = None, None
        if prepared is not None:
            try:
                return prepared, prepared.template.params(run.arguments)
            except NotCompilable:
                return None
        sql = sqljson.Sql(dialect, run.arguments)
        try:
            text_ = sqljson.statement(sql, plan.root)
        except NotCompilable:
            return None
        if versioned:
            # One more column, read in the same statement, so from the same snapshot.
            text_ += f", ({VERSION_SQL})"
        prepared = _Statement(sqljson.Template.of(sql, text_), text(text_),
                              _NAMED_PARAMETER.sub(lambda m: f"${int(m[1]) + 1}", text_))
        if key is not None:
            if len(plan.templates) >= TEMPLATES_PER_PLAN:
                plan.templates.clear()
            plan.templates[key] = prepared
        return prepared, sql.params

    async def _fetch_row(self, db: Database, prepared: _Statement,
                         params: dict[str, Any]) -> Sequence[Any]:
        """The statement's one row, straight from the driver.

        The statement is plain text with its values bound and its answer is JSON text,
        so SQLAlchemy's execution layer (connection objects, compiling, result
        processing, and on aiosqlite more hops to the connection's thread) would add
        only overhead: about a third of a small request's CPU time. The connection is
        one of those held for such reads (db/driver_reads.py). Where something listens
        to the engine's statements (the tests' statement counter, echo), the statement
        goes through SQLAlchemy as usual.
        """
        engine = db.reader.sync_engine
        if engine.dispatch.before_cursor_execute or engine.echo:
            async with db.read() as conn:
                return (await conn.execute(prepared.clause, params)).one()
        if db.inline is not None and prepared.over_budget < INLINE_OVER_BUDGET_LIMIT:
            try:
                row = db.inline.fetch(prepared.template.text, params)
                prepared.over_budget *= 0.99
                return row
            except NotInline as refused:
                if refused.over_budget:
                    prepared.over_budget = prepared.over_budget * 0.99 + 0.01
        return await db.driver_reads.fetch_row(prepared.template.text, params,
                                               prepared.numbered)

    async def _in_sql(self, run: Run, plan: OperationPlan, db: Database,
                      versioned: bool = False) -> dict[str, Any] | None:
        """The whole answer from one statement that builds the JSON, when the plan allows.
        `versioned`: the statement also reads the data version, into `run.version`."""
        dialect = db.dialect
        if not self.sql_tier or dialect in plan.too_deep_for:
            return None
        found = self._bound_statement(run, plan, dialect, versioned)
        if found is None:
            return None
        try:
            row = await self._fetch_row(db, *found)
        except (OperationalError, sqlite3.OperationalError) as error:
            # SQLite's parser has a fixed stack: deep documents nest too many
            # subqueries for it. They run on the batch tier from then on.
            if "parser stack overflow" not in str(error):
                raise
            plan.too_deep_for.add(dialect)
            return None
        if versioned:
            *row, version = row
            run.version = int(version)
        return {
            f.key: value if value is None or f.name == "__typename" else orjson.Fragment(value)
            for f, value in zip(plan.root.fields, row, strict=True)
        }
