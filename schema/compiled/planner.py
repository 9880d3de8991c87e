"""Compile a validated query document into a plan: per object type, the fields to produce.

A plan names, for every selected field, the batch resolver that produces its
values for a whole list of parent rows at once. Documents the plan cannot express
(introspection, abstract types, variable-driven @skip/@include, fields without a
compiled resolver) are left to Strawberry's executor, which stays the reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)


class NotCompilable(Exception):
    """This document (or this request's arguments) goes to the reference executor."""


@dataclass
class FieldPlan:
    key: str
    name: str
    node: FieldNode
    definition: GraphQLField
    resolver: Any
    child: ObjectPlan | None = None
    # The converted arguments, when the document spells them all out (no variables).
    constant_arguments: dict[str, Any] | None = None
    # Else the converted arguments by (frozen) value, and by the (frozen) values of the
    # variables they come from, bounded (compiled/__init__.py).
    converted: dict[Any, dict[str, Any]] = field(default_factory=dict)
    # The variables the field's arguments refer to; None: not looked at yet.
    variable_names: tuple[str, ...] | None = None
    # The statement shape of converted arguments, by their identity (compiled/__init__.py).
    shapes: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    # GraphQL name -> Python name when every argument is a built-in scalar, which
    # Strawberry passes through unchanged; False when some need converting; None: unknown.
    plain_arguments: dict[str, str] | Literal[False] | None = None


@dataclass
class ObjectPlan:
    type_name: str
    fields: list[FieldPlan] = field(default_factory=list)

    def find(self, name: str) -> list[FieldPlan]:
        return [f for f in self.fields if f.name == name]


@dataclass
class OperationPlan:
    root: ObjectPlan
    operation: OperationDefinitionNode
    # Dialects whose parser refused this plan's single statement (SQLite nests ~100 deep).
    too_deep_for: set[str] = field(default_factory=set)
    # The SQL tier's statements by dialect and shape of the arguments (sqljson.Template).
    templates: dict[Any, Any] = field(default_factory=dict)
    # The fields whose arguments come from variables: their shape picks the template.
    variable_fields: list[FieldPlan] | None = None
    # This plan in the response cache's keys (responsecache.py): unique, and kept alive
    # by the keys that hold it, so never taken for another plan's.
    cache_token: object = field(default_factory=object)
    # The operation's variables as graphql-core reads their definitions (signatures),
    # when every one is a String or ID without a default: then a string given for each
    # is its own coerced value (CompiledExecutor.coerce_variables). False: some are not.
    string_variables: Any = None

    def fields(self) -> list[FieldPlan]:
        """Every field of the plan, depth first."""
        out: list[FieldPlan] = []
        stack = [self.root]
        while stack:
            plan = stack.pop()
            out.extend(plan.fields)
            stack.extend(f.child for f in plan.fields if f.child is not None)
        return out


# type name -> field name -> resolver; filled by resolvers.py.
Registry = dict[str, dict[str, Any]]
# Connection types are compiled structurally: their fields are read by the resolver.
CONNECTION_FIELDS = {"edges", "nodes", "pageInfo", "totalCount", "__typename"}
STRUCTURAL_TYPES = ("Connection", "Edge", "PageInfo")


def _include(node: Any) -> bool:
    """@skip/@include with literal arguments are decided here; with variables, not at all."""
    for directive in node.directives or ():
        if directive.name.value not in ("skip", "include"):
            continue
        (argument,) = directive.arguments
        if not isinstance(argument.value, BooleanValueNode):
            raise NotCompilable("@skip/@include with a variable")
        value = argument.value.value
        if (directive.name.value == "skip") == value:
            return False
    return True


class Planner:
    def __init__(self, schema: GraphQLSchema, registry: Registry) -> None:
        self.schema = schema
        self.registry = registry

    def plan(self, document: DocumentNode, operation_name: str | None) -> OperationPlan:
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        fragments = {d.name.value: d for d in document.definitions
                     if isinstance(d, FragmentDefinitionNode)}
        if operation_name is None:
            if len(operations) != 1:
                raise NotCompilable("operation name needed")
            operation = operations[0]
        else:
            matching = [o for o in operations if o.name and o.name.value == operation_name]
            if len(matching) != 1:
                raise NotCompilable("unknown operation")
            operation = matching[0]
        if operation.operation != OperationType.QUERY:
            raise NotCompilable("not a query")
        root_type = self.schema.query_type
        assert root_type is not None
        root = self._object(root_type, [operation.selection_set], fragments)
        return OperationPlan(root=root, operation=operation)

    def _collect(self, type_: GraphQLObjectType, selection_sets: list[SelectionSetNode],
                 fragments: dict[str, FragmentDefinitionNode]) -> dict[str, list[FieldNode]]:
        """Response key -> field nodes, in first-seen order, through fragments (graphql's
        CollectFields, restricted to concrete types)."""
        fields: dict[str, list[FieldNode]] = {}

        def visit(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if not _include(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    fields.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    if self._applies(selection.type_condition, type_):
                        visit(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = fragments[selection.name.value]
                    if self._applies(fragment.type_condition, type_):
                        visit(fragment.selection_set)

        for selection_set in selection_sets:
            visit(selection_set)
        return fields

    def _applies(self, condition: Any, type_: GraphQLObjectType) -> bool:
        if condition is None or condition.name.value == type_.name:
            return True
        return any(i.name == condition.name.value for i in type_.interfaces)

    def _object(self, type_: GraphQLObjectType, selection_sets: list[SelectionSetNode],
                fragments: dict[str, FragmentDefinitionNode]) -> ObjectPlan:
        plan = ObjectPlan(type_.name)
        structural = type_.name.endswith(STRUCTURAL_TYPES)
        resolvers = self.registry.get(type_.name) if not structural else None
        if resolvers is None and not structural:
            raise NotCompilable(f"type {type_.name}")
        for key, nodes in self._collect(type_, selection_sets, fragments).items():
            name = nodes[0].name.value
            if name.startswith("__") and name != "__typename":
                raise NotCompilable("introspection")
            if name == "__typename":
                plan.fields.append(FieldPlan(key, name, nodes[0], None, None))  # type: ignore[arg-type]
                continue
            definition = type_.fields[name]
            resolver = None
            if not structural:
                resolver = resolvers.get(name) if resolvers else None
                if resolver is None:
                    raise NotCompilable(f"{type_.name}.{name}")
            field_plan = FieldPlan(key, name, nodes[0], definition, resolver)
            named = get_named_type(definition.type)
            if isinstance(named, GraphQLObjectType):
                sets = [n.selection_set for n in nodes if n.selection_set is not None]
                field_plan.child = self._object(named, sets, fragments)
            elif not _is_leaf(definition.type):
                raise NotCompilable(f"abstract type at {type_.name}.{name}")
            plan.fields.append(field_plan)
        return plan


def _is_leaf(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    from graphql import GraphQLEnumType, GraphQLScalarType

    return isinstance(type_, GraphQLScalarType | GraphQLEnumType)


Resolver = Callable[..., Any]
