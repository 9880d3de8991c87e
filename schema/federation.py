"""Apollo Federation 2: `_entities` in batches through the loaders, and the public SDL.

The schema that citylinks serves is a Federation 2 subgraph: `City`, `Country`,
`Partnership`, `Sector` and `Organization` are entities keyed by their global
`id` (and `City` also by `wikidataId`), declared where the types are
(`@strawberry.federation.type(keys=...)` in schema/types/nodes.py). A gateway
resolves hundreds of entities in one `_entities` call, so each type's references
go through the request's DataLoaders: one statement per type, whatever the
number of representations.

`citylinks schema` and `/schema.graphql` print the public schema, the contract,
without the federation machinery (`_service`, `_entities`, `_Any`, `@key`,
`@link`); so does introspection (`__schema`, `__type`), so that GraphiQL and a
frontend's code generator see the contract (with `strictScalars`, GraphQL Code
Generator stops at an unknown `_Any`). A gateway reads the subgraph SDL with all
of it from `_service { sdl }`, and `_entities` and `_service` still answer.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from typing import Any

import strawberry
from citylinks.db.models import Place
from citylinks.schema.errors import ApiError, bad_input
from citylinks.schema.ids import decode_id
from citylinks.schema.types.nodes import City, Country, Organization, Partnership, Sector
from graphql import (
    DocumentNode,
    GraphQLArgument,
    GraphQLField,
    GraphQLNonNull,
    GraphQLSchema,
    GraphQLString,
    build_schema,
    parse,
)
from graphql.type.introspection import introspection_types
from sqlalchemy import select
from strawberry.dataloader import DataLoader
from strawberry.federation.schema import FederationAny
from strawberry.federation.schema_directives import Key
from strawberry.printer import print_schema
from strawberry.types import Info

# Composes with every @apollo/composition 2.x release since 2.7 (the tests pin a current one).
FEDERATION_VERSION = "2.7"

ENTITY_TYPES: tuple[type, ...] = (City, Country, Partnership, Sector, Organization)


def entity_keys(cls: type) -> tuple[str, ...]:
    """The key fields a type declares with `@strawberry.federation.type(keys=...)`."""
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    return tuple(d.fields for d in definition.directives if isinstance(d, Key))


# What `_service { sdl }` adds to the public schema, and the public SDL leaves out.
FEDERATION_TYPES = frozenset({"_Any", "_Entity", "_Service", "_FieldSet", "link__Import",
                              "link__Purpose", "federation__FieldSet"})
FEDERATION_FIELDS = frozenset({"_entities", "_service"})
FEDERATION_DIRECTIVES = frozenset({"key", "link", "shareable", "external", "requires",
                                   "provides", "extends", "inaccessible", "tag", "override",
                                   "composeDirective", "interfaceObject"})


class FederatedSchema(strawberry.federation.Schema):
    """Strawberry's Federation 2 schema whose `_entities` loads each type in one batch."""

    async def entities_resolver(  # type: ignore[override]
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        """The entities in the order of `representations`; null for one that does not exist,
        an error (BAD_USER_INPUT) in its place for a malformed representation."""
        references = _References(info)
        results = await asyncio.gather(*(references.resolve(r) for r in representations))
        return results  # type: ignore[return-value]


class _References:
    """One `_entities` call: resolves representations through the request's loaders."""

    def __init__(self, info: Info) -> None:
        self.info = info
        self.loaders = info.context.loaders
        self.by_name = {cls.__strawberry_definition__.name: cls  # type: ignore[attr-defined]
                        for cls in ENTITY_TYPES}
        self.place_id_by_wikidata_id: DataLoader[str, int | None] = DataLoader(
            load_fn=self._place_ids_by_wikidata_ids)

    async def resolve(self, representation: Any) -> Any:
        try:
            return await self._resolve(representation)
        except ApiError as error:
            return error

    async def _resolve(self, representation: Any) -> Any:
        if not isinstance(representation, dict):
            raise bad_input("a representation is an object with __typename and a key")
        type_name = representation.get("__typename")
        cls = self.by_name.get(type_name) if isinstance(type_name, str) else None
        if cls is None:
            raise bad_input(f"{type_name!r} is not an entity type of this subgraph",
                            "__typename")
        loader = getattr(self.loaders, cls.loader)  # type: ignore[attr-defined]
        if "id" in representation:
            value = representation["id"]
            if not isinstance(value, str):
                raise bad_input("id must be a string", "id")
            row = await loader.load(decode_id(value, type_name))
        elif cls is City and "wikidataId" in representation:
            value = representation["wikidataId"]
            if not isinstance(value, str):
                raise bad_input("wikidataId must be a string", "wikidataId")
            place_id = await self.place_id_by_wikidata_id.load(value)
            row = None if place_id is None else await loader.load(place_id)
        else:
            keys = " or ".join(entity_keys(cls))
            raise bad_input(f"a {type_name} representation needs its {keys}")
        return None if row is None else cls(row=row)

    async def _place_ids_by_wikidata_ids(self, keys: list[str]) -> list[int | None]:
        async with self.info.context.db.read() as conn:
            rows = await conn.execute(
                select(Place.id, Place.wikidata_id).where(Place.wikidata_id.in_(keys)))
            found = {wikidata_id: place_id for place_id, wikidata_id in rows}
        return [found.get(key) for key in keys]


# ---------------------------------------------------------------- the public SDL


def public_sdl(schema: strawberry.Schema) -> str:
    """The schema as the contract shows it: the subgraph SDL without federation's parts.

    Strawberry's printer writes the SDL (so the public file reads exactly as it
    always has); the federation parts are then cut out at the source positions
    the parsed document gives them.
    """
    cached: str | None = getattr(schema, "_citylinks_public_sdl", None)
    if cached is not None:
        return cached
    text = _without_federation(print_schema(schema))
    schema._citylinks_public_sdl = text  # type: ignore[attr-defined]
    return text


# Every schema the process builds prints the same subgraph SDL (the types are the code's):
# parsing it again for each app (the tests start hundreds) was most of building a schema.
@functools.lru_cache(maxsize=4)
def _without_federation(text: str) -> str:
    cuts = sorted(_federation_spans(parse(text), text), reverse=True)
    for start, end in cuts:
        text = text[:start] + text[end:]
    # A type whose first fields were cut keeps the blank line that followed them.
    return text.replace("{\n\n", "{\n").strip("\n")


def _federation_spans(document: DocumentNode, text: str) -> Iterable[tuple[int, int]]:
    def lines(start: int, end: int, *, blank_after: bool) -> tuple[int, int]:
        first = text.rfind("\n", 0, start) + 1
        last = text.find("\n", end)
        last = len(text) if last < 0 else last + 1
        if blank_after and text.startswith("\n", last):
            last += 1
        return first, last

    for definition in document.definitions:
        assert definition.loc is not None
        name = getattr(definition, "name", None)
        if definition.kind == "schema_definition" or (
                name is not None and name.value in FEDERATION_TYPES):
            # The public schema's root types have their default names: no schema block.
            yield lines(definition.loc.start, definition.loc.end, blank_after=True)
            continue
        for directive in getattr(definition, "directives", None) or ():
            if directive.name.value in FEDERATION_DIRECTIVES and directive.loc is not None:
                yield directive.loc.start - 1, directive.loc.end  # with its leading space
        for field in getattr(definition, "fields", None) or ():
            if field.name.value in FEDERATION_FIELDS and field.loc is not None:
                yield lines(field.loc.start, field.loc.end, blank_after=False)
            for directive in field.directives or ():
                if directive.name.value in FEDERATION_DIRECTIVES and directive.loc is not None:
                    yield directive.loc.start - 1, directive.loc.end


# ---------------------------------------------------------------- public introspection


@functools.lru_cache(maxsize=4)
def _describing_schema(public_text: str) -> GraphQLSchema:
    # Read-only once built (it only describes), so one per SDL text serves every app.
    return build_schema(public_text)


def introspect_public_schema(schema: strawberry.Schema) -> None:
    """Answer `__schema` and `__type` from the public schema (the contract's SDL built
    into a schema of its own, used only to describe): every other field, `_entities`
    and `_service` included, still runs on the full subgraph schema."""
    served = schema._schema
    public = _describing_schema(public_sdl(schema))
    schema_field = GraphQLField(
        GraphQLNonNull(introspection_types["__Schema"]),  # type: ignore[arg-type]
        description="Access the current type schema of this server.",
        resolve=lambda _source, _info: public)
    type_field = GraphQLField(
        introspection_types["__Type"],  # type: ignore[arg-type]
        description="Request the type information of a single type.",
        args={"name": GraphQLArgument(GraphQLNonNull(GraphQLString))},
        resolve=lambda _source, _info, name: public.get_type(name))
    get_field = served.get_field

    def get_public_field(parent_type: Any, field_name: str) -> GraphQLField | None:
        if parent_type is served.query_type:
            if field_name == "__schema":
                return schema_field
            if field_name == "__type":
                return type_field
        return get_field(parent_type, field_name)

    served.get_field = get_public_field  # type: ignore[method-assign]
    schema.public_graphql_schema = public  # type: ignore[attr-defined]
