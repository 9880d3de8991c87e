"""build_schema(settings) -> the Strawberry schema of citylinks."""

from __future__ import annotations

from typing import Any

from citylinks.schema.aggregates import AggregateQuery
from citylinks.schema.errors import ErrorCodes
from citylinks.schema.federation import (
    FEDERATION_VERSION,
    FederatedSchema,
    introspect_public_schema,
    public_sdl,
)
from citylinks.schema.graph import GraphQuery
from citylinks.schema.limits import QueryLimits
from citylinks.schema.mutations import Mutation
from citylinks.schema.pipeline import Admission, DocumentGate
from citylinks.schema.queries import Query as BaseQuery
from citylinks.schema.scalars import SCALAR_MAP
from citylinks.schema.subscriptions import Subscription
from citylinks.settings import Settings
from graphql import GraphQLError
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule, specified_rules
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

Query = merge_types("Query", (BaseQuery, GraphQuery, AggregateQuery))


class CitylinksSchema(FederatedSchema):
    gate: DocumentGate
    validation_rules: tuple[type[ASTValidationRule], ...] = tuple(specified_rules)

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        """Bad input and refused permissions are the client's business, not the server
        log's; ErrorCodes logs each unexpected error once, with its error id."""


def build_schema(settings: Settings | None = None) -> CitylinksSchema:
    settings = settings or Settings()
    rules: list[type[ASTValidationRule]] = list(specified_rules)
    if not settings.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    gate: DocumentGate | None = None
    extensions: list[Any] = [ErrorCodes, lambda: Admission(gate)]  # type: ignore[arg-type]
    schema = CitylinksSchema(query=Query, mutation=Mutation, subscription=Subscription,
                             extensions=extensions,
                             config=StrawberryConfig(scalar_map=SCALAR_MAP),
                             federation_version=FEDERATION_VERSION)
    introspect_public_schema(schema)
    # Every executor's documents pass this gate (schema/pipeline.py); the server gives
    # it the compiled path's planner.
    gate = schema.gate = DocumentGate(schema._schema, QueryLimits.from_settings(settings),
                                      tuple(rules))
    schema.validation_rules = tuple(rules)
    return schema


def schema_sdl() -> str:
    """The public schema (the contract), without the federation internals."""
    return public_sdl(build_schema()) + "\n"
