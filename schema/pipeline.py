"""The document steps of the one request pipeline: size, lexing under the token cap, the
query limits, validation under a budget, validation and the compiled plan, each refusing
with a coded error before the next costs anything; a document's verdict is kept, so a
repeated document costs a dictionary look-up, refused or accepted.

The transport steps before these (body, rate limit, persisted queries) are frontdoor.py's.
Strawberry's executor takes an admitted document through `Admission`, the schema
extension that hands it the parsed document and skips its own parse and validation;
called directly (tests, tools), the extension runs the same steps itself.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from citylinks.schema.compiled.planner import NotCompilable, OperationPlan, Planner
from citylinks.schema.errors import GRAPHQL_PARSE_FAILED, coded_errors
from citylinks.schema.limits import (
    QueryLimits,
    count_tokens,
    has_nul,
    measure,
    measure_errors,
    nul_refused,
    too_complex,
    validation_work,
)
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
)
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

# Verdicts kept per process, accepted and refused apart, each bounded in count; the
# accepted also in the text of the documents they hold (a parsed document takes about
# 110 bytes of memory per byte of text: at most about 60 MB). A refused document keeps
# only its errors (and its text, as the key: at most 16 MB).
VERDICTS = 1_000
VERDICT_TEXT_BYTES = 512_000
# Variables nested deeper than this are refused before anything walks them: no input
# type of the schema nests so deep, and JSON nested a thousand deep would exhaust
# Python's recursion in coercion.
MAX_VARIABLE_NESTING = 32
# Undecided documents waiting for the gate's thread, at most, overall and per client
# (its token, else its address): past either a new document is refused (GateBusy, answered
# RATE_LIMITED) instead of queueing without end, and no client takes every place. Known
# documents never wait here: their verdict is a look-up on the event loop.
MAX_WAITING = 64
MAX_WAITING_PER_CLIENT = 16
# The interpreter's switch interval while the gate's thread decides a document: the
# event loop waits at most this for each turn (5 ms by default). A request with a known
# document takes several turns (the loop, the database driver's thread): at 1 ms the
# attack load test's good client took 1.2 ms more at the median, at 0.2 ms 0.2 ms more.
# Only while the thread works: with no document to decide, each forced turn is a thread
# switch that serves nothing, and kept at 0.2 ms they cost the benchmark's Q2 on SQLite
# (four driver threads) 4-5 % of its throughput.
GATE_SWITCH_INTERVAL_S = 0.0002


class GateBusy(Exception):
    """The gate already has as many undecided documents waiting as it takes."""


@dataclass
class Verdict:
    """What the document steps decided about one (document, operation name)."""

    errors: list[GraphQLError] | None = None
    document: DocumentNode | None = None
    operation: OperationDefinitionNode | None = None
    # The compiled read path's plan; None: Strawberry's executor answers.
    plan: OperationPlan | None = None
    # The cost depends on variables: checked again per request.
    variable_pages: bool = False

    @property
    def operation_type(self) -> OperationType | None:
        return self.operation.operation if self.operation is not None else None


# The verdict the transport admitted, for the executor it calls next (one asyncio task
# per request or WebSocket operation, so one value per operation).
ADMITTED: ContextVar[Verdict | None] = ContextVar("citylinks_admitted", default=None)


def _operation(document: DocumentNode,
               operation_name: str | None) -> OperationDefinitionNode | GraphQLError:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        if len(operations) == 1:
            return operations[0]
        return GraphQLError("Must provide operation name if query contains multiple "
                            "operations." if operations else "The document has no operation.")
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation
    return GraphQLError(f"Unknown operation named '{operation_name}'.")


def _variables_too_deep(value: Any) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_VARIABLE_NESTING:
            return True
        if isinstance(item, Mapping):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


class DocumentGate:
    """The document steps, with their verdicts cached by (document, operation name)."""

    def __init__(self, schema: GraphQLSchema, limits: QueryLimits,
                 rules: tuple[type[ASTValidationRule], ...],
                 planner: Planner | None = None) -> None:
        self.schema = schema
        self.limits = limits
        self.rules = rules
        self.planner = planner
        self._accepted: OrderedDict[tuple[str, str | None], Verdict] = OrderedDict()
        self._refused: OrderedDict[tuple[str, str | None], Verdict] = OrderedDict()
        self._text = 0  # of the accepted documents
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citylinks-gate")
        # Documents being decided, so that a flood of one new document is decided once.
        self._deciding: dict[tuple[str, str | None], asyncio.Future[Verdict]] = {}
        self._waiting: Counter[str | None] = Counter()

    def verdict(self, query: str, operation_name: str | None) -> Verdict:
        """The document's verdict, decided here if it is not known yet."""
        known = self.known(query, operation_name)
        if known is not None:
            return known
        return self._keep(query, operation_name, self._decide(query, operation_name))

    async def decide(self, query: str, operation_name: str | None,
                     client: str | None = None) -> Verdict:
        """The verdict; an undecided document's is decided in the gate's own thread, never
        on the event loop, which goes on serving the requests whose documents are known.
        (graphql-core parses a document at the token cap in about 8 ms; while the thread
        works, the loop waits at most GATE_SWITCH_INTERVAL_S for its turn.)
        One document at a time is decided, behind a bounded queue: GateBusy past
        MAX_WAITING, or past MAX_WAITING_PER_CLIENT for `client`."""
        known = self.known(query, operation_name)
        if known is not None:
            return known
        key = (query, operation_name)
        deciding = self._deciding.get(key)
        if deciding is not None:
            return await asyncio.shield(deciding)
        if (self._waiting[client] >= MAX_WAITING_PER_CLIENT
                or sum(self._waiting.values()) >= MAX_WAITING):
            raise GateBusy()
        self._waiting[client] += 1
        future = asyncio.get_running_loop().run_in_executor(
            self._thread, self._decide_aside, query, operation_name)
        self._deciding[key] = future
        # The place is held until the thread is done, not until the request goes: a
        # client that sends and hangs up must not free its place while the work queues.
        future.add_done_callback(lambda done: self._decided(key, client, done))
        return await asyncio.shield(future)

    def _decided(self, key: tuple[str, str | None], client: str | None,
                 done: asyncio.Future[Verdict]) -> None:
        self._deciding.pop(key, None)
        self._waiting[client] -= 1
        if not self._waiting[client]:
            del self._waiting[client]
        if not done.cancelled() and done.exception() is None:
            self._keep(key[0], key[1], done.result())

    def known(self, query: str, operation_name: str | None) -> Verdict | None:
        limit = self.limits.max_document_bytes
        # Characters never outnumber UTF-8 bytes: a long text is refused unencoded.
        if len(query) > limit:
            return Verdict([too_complex("documentSize", len(query.encode()), limit)])
        key = (query, operation_name)
        for kept in (self._accepted, self._refused):
            found = kept.get(key)
            if found is not None:
                kept.move_to_end(key)
                return found
        return None

    def _keep(self, query: str, operation_name: str | None, verdict: Verdict) -> Verdict:
        key = (query, operation_name)
        if verdict.errors:
            # Refusals apart: a flood of refused documents never pushes out a plan.
            self._refused[key] = Verdict(verdict.errors)
            if len(self._refused) > VERDICTS:
                self._refused.popitem(last=False)
            return verdict
        if key not in self._accepted:
            self._text += len(query)
        self._accepted[key] = verdict
        while len(self._accepted) > VERDICTS or self._text > VERDICT_TEXT_BYTES:
            (old, _), _ = self._accepted.popitem(last=False)
            self._text -= len(old)
        return verdict

    def _decide_aside(self, query: str, operation_name: str | None) -> Verdict:
        """`_decide` in the gate's thread, with the event loop's turns kept short."""
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(GATE_SWITCH_INTERVAL_S)
        try:
            return self._decide(query, operation_name)
        finally:
            sys.setswitchinterval(switch_interval)

    def _decide(self, query: str, operation_name: str | None) -> Verdict:
        limits = self.limits
        size = len(query.encode("utf-8", "surrogatepass"))
        if size > limits.max_document_bytes:
            return Verdict([too_complex("documentSize", size, limits.max_document_bytes)])
        tokens = count_tokens(query)
        if tokens > limits.max_tokens:
            return Verdict([too_complex("tokens", tokens, limits.max_tokens)])
        try:
            document = parse(query, max_tokens=limits.max_tokens)
        except GraphQLError as error:
            if "tokens" in error.message and "more than" in error.message:
                return Verdict([too_complex("tokens", count_tokens(query), limits.max_tokens)])
            return Verdict([GraphQLError(error.message, error.nodes, error.source,
                                         error.positions,
                                         extensions={"code": GRAPHQL_PARSE_FAILED})])
        except RecursionError:
            # Brackets nested hundreds deep inside the token cap: far over any depth.
            return Verdict([too_complex("depth", limits.max_tokens // 2, limits.max_depth)])
        if ("\x00" in query or "\\u0000" in query) and has_nul(document):
            return Verdict([nul_refused()])
        operation = _operation(document, operation_name)
        if isinstance(operation, GraphQLError):
            return Verdict(coded_errors([operation]), document)
        measures = measure(self.schema, document, None, operation_name)
        errors = measure_errors(limits, measures, [operation])
        if errors:
            return Verdict(errors, document, operation)
        work = validation_work(document, limits.max_validation_checks)
        if work > limits.max_validation_checks:
            return Verdict([too_complex("validation", work, limits.max_validation_checks)],
                           document, operation)
        errors = validate_document(self.schema, document, self.rules)
        if errors:
            return Verdict(coded_errors(errors), document, operation)
        plan = None
        if self.planner is not None and operation.operation is OperationType.QUERY:
            try:
                plan = self.planner.plan(document, operation_name)
            except NotCompilable:
                plan = None
        return Verdict(None, document, operation, plan, measures.variable_pages)

    def request_errors(self, verdict: Verdict,
                       variables: Mapping[str, Any] | None) -> list[GraphQLError] | None:
        """What this request is refused for that depends on its variables."""
        # (Their nesting was bounded with the request's shape: frontdoor.request_from.)
        if variables and has_nul(variables):
            return [nul_refused()]
        if verdict.variable_pages and verdict.document is not None:
            assert verdict.operation is not None
            name = verdict.operation.name.value if verdict.operation.name else None
            cost = measure(self.schema, verdict.document, variables or {}, name).cost
            if cost > self.limits.max_cost:
                return [too_complex("cost", cost, self.limits.max_cost)]
        return None


class Admission(SchemaExtension):
    """Strawberry's side of the gate: the admitted document instead of a parse, its
    verdict instead of a validation, and the per-request checks when nothing ran them."""

    def __init__(self, gate: DocumentGate) -> None:
        self.gate = gate
        self.verdict: Verdict | None = None
        self.admitted = False

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        verdict = ADMITTED.get()
        self.admitted = verdict is not None
        if verdict is None and context.query is not None and context.graphql_document is None:
            verdict = self.gate.verdict(context.query, context.provided_operation_name)
        self.verdict = verdict
        if verdict is not None:
            if verdict.document is None and verdict.errors:
                raise verdict.errors[0]
            context.graphql_document = verdict.document
        yield

    def on_validate(self) -> Iterator[None]:
        if self.verdict is not None:
            self.execution_context.pre_execution_errors = list(self.verdict.errors or ())
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if not self.admitted and self.verdict is not None:
            errors = self.gate.request_errors(self.verdict, context.variables)
            if errors:
                context.result = ExecutionResult(data=None, errors=errors)
        yield
