"""Differential testing of the read path: every tier that takes a document (the SQL tier,
the batch tier) answers exactly as Strawberry's executor does, data and errors, on SQLite
and PostgreSQL; and every connection's pages, cursors fed back, match an oracle written
here in plain SQL over the same rows (the tiers and the executor share the paging code, so
a cursor bug there could never show as a difference between them).

Bounded for CI (DIFF_EXAMPLES per property and backend); a longer run:

    CITYLINKS_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest tests/test_differential.py
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import graphql
import pytest
from citylinks.schema import build_schema
from citylinks.schema.ids import decode_any
from citylinks.settings import Settings
from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    InlineFragmentNode,
    NamedTypeNode,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableDefinitionNode,
    VariableNode,
    get_named_type,
    parse_type,
    print_ast,
    value_from_ast_untyped,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes, queries
from sqlalchemy import text

from tests.builders import load
from tests.conftest import fresh_store, running_app
from tests.paging_world import HOME, ConnectionCase, connection_cases, dig, paging_world
from tests.test_fuzz import SCALARS, _global_id
from tests.tiers import TIERS, compiled, reference, unexpected_fallbacks

DIFF_EXAMPLES = int(os.environ.get("CITYLINKS_FUZZ_EXAMPLES", "40"))
SCHEMA = build_schema(Settings())._schema


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def world_app(request: pytest.FixtureRequest, templates: dict[str, str],
                    tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One app per backend for the module: the bundled data and the paging world."""
    # In a thread: making a PostgreSQL store runs asyncio of its own.
    url, cleanup = await asyncio.to_thread(fresh_store, request.param, templates,
                                           tmp_path_factory.mktemp("diff"))
    async with running_app(Settings(db_url=url, rate_limit=0)) as (app, _):
        await load(app.state.db, paging_world())
        province = (await reference(
            app, '{ search(text: "qwerty province", first: 1) { id } }'))["data"]["search"][0]
        yield app, province["id"]
    await asyncio.to_thread(cleanup)


async def _agreed(app: Any, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The executor's answer, after checking every tier that takes the document agrees."""
    expected = await reference(app, query, variables)
    for tier in TIERS:
        answer = await compiled(app, tier, query, variables)
        if answer is None:
            continue  # left to the executor: the server would answer with `expected`
        assert not expected["errors"], (
            f"the {tier} tier answered where the executor has errors {expected['errors']}:\n"
            f"{query}\n{variables}")
        assert answer == expected, f"the {tier} tier differs for\n{query}\n{variables}"
    return expected


# ---------------------------------------------------------------- paging against an oracle

_NR = "(SELECT p.id FROM places p JOIN countries c ON c.id = p.country_id WHERE c.code = :home)"
_TREE = "(SELECT id FROM places WHERE id = :province OR parent_id = :province)"
_WORLD_PLACES = "SELECT id FROM places WHERE name LIKE 'Qwerty%'"
_NR_PARTNERSHIPS = f"SELECT id FROM partnerships WHERE place_a_id IN {_NR} OR place_b_id IN {_NR}"
_ENDS = ("SELECT id, place_a_id AS self, place_b_id AS other FROM partnerships "
         "UNION ALL SELECT id, place_b_id, place_a_id FROM partnerships")
ORACLE = {
    "cities-name-asc": f"{_WORLD_PLACES} ORDER BY sort_key, id",
    "cities-name-desc": f"{_WORLD_PLACES} ORDER BY sort_key DESC, id DESC",
    "cities-population-asc": f"{_WORLD_PLACES} ORDER BY population IS NULL, population, id",
    "cities-population-desc":
        f"{_WORLD_PLACES} ORDER BY population IS NULL, population DESC, id",
    "cities-partner_count-asc": f"{_WORLD_PLACES} ORDER BY partner_count, sort_key, id",
    "cities-partner_count-desc": f"{_WORLD_PLACES} ORDER BY partner_count DESC, sort_key, id",
    "partnerships": f"{_NR_PARTNERSHIPS} ORDER BY id",
    "partnerships-since-asc": f"{_NR_PARTNERSHIPS} ORDER BY since_first IS NULL, since_first, id",
    "partnerships-since-desc":
        f"{_NR_PARTNERSHIPS} ORDER BY since_first IS NULL, since_first DESC, id",
    "partnerships-distance-asc":
        f"{_NR_PARTNERSHIPS} ORDER BY distance_km IS NULL, distance_km, id",
    "partnerships-distance-desc":
        f"{_NR_PARTNERSHIPS} ORDER BY distance_km IS NULL, distance_km DESC, id",
    "organizations": "SELECT id FROM organizations WHERE name LIKE 'Qwerty%' ORDER BY sort_key, id",
    "country-cities": f"SELECT id FROM places WHERE id IN {_NR} ORDER BY sort_key, id",
    "city-children": "SELECT id FROM places WHERE parent_id = :province ORDER BY sort_key, id",
    "city-partners": f"SELECT id, other FROM ({_ENDS}) e WHERE self = :province ORDER BY id",
    "city-partnerships": f"SELECT id FROM ({_ENDS}) e WHERE self = :province ORDER BY id",
    "city-partners-with-subdivisions":
        f"SELECT id, other FROM ({_ENDS}) e WHERE self IN {_TREE} ORDER BY id, self",
    "city-partnerships-with-subdivisions":
        f"SELECT id FROM ({_ENDS}) e WHERE self IN {_TREE} ORDER BY id, self",
    "sector-partnerships":
        f"SELECT id FROM partnerships WHERE id IN ({_NR_PARTNERSHIPS}) AND id IN ("
        "SELECT partnership_id FROM partnership_sectors ps JOIN sectors s ON s.id = ps.sector_id"
        " WHERE s.slug = 'culture') ORDER BY id",
}


async def _oracle(app: Any, case: ConnectionCase, province: str) -> list[Any]:
    async with app.state.db.read() as conn:
        rows = (await conn.execute(text(ORACLE[case.name]), {
            "home": HOME, "province": decode_any(province)[1]})).all()
    return [tuple(row) if len(row) > 1 else row[0] for row in rows]


def _identity(node: dict[str, Any]) -> Any:
    """What the oracle's rows name: a row's key, or a partner's (partnership, other city)."""
    if "partnership" in node:
        return decode_any(node["partnership"]["id"])[1], decode_any(node["city"]["id"])[1]
    return decode_any(node["id"])[1]


def test_the_oracle_covers_every_connection_case() -> None:
    assert {case.name for case in connection_cases("x")} == set(ORACLE)


@settings(max_examples=DIFF_EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_every_page_and_cursor_round_trip_matches_the_sql_oracle(
        world_app: tuple[Any, str], data: st.DataObject) -> None:
    app, province = world_app
    cases = connection_cases(province)
    case = data.draw(st.sampled_from(cases), label="connection")
    rows = await _oracle(app, case, province)
    whole = dig((await _agreed(app, case.document, {**case.variables, "first": 100}))["data"],
                case.path)
    assert [_identity(edge["node"]) for edge in whole["edges"]] == rows, case.name
    assert whole["totalCount"] == len(rows)
    cursors = [edge["cursor"] for edge in whole["edges"]]
    # a page between two cursors of the answer, forwards or backwards, of any size
    positions = st.one_of(st.none(), st.integers(0, len(rows) - 1))
    after = data.draw(positions, label="after")
    before = data.draw(positions, label="before")
    backwards = data.draw(st.booleans(), label="backwards")
    size = data.draw(st.integers(0, 5), label="size")
    with unexpected_fallbacks() as fallbacks:
        for _ in range(3):  # then the page's own end (or start) cursor fed back, twice
            variables: dict[str, Any] = {**case.variables,
                                         ("last" if backwards else "first"): size}
            if after is not None:
                variables["after"] = cursors[after]
            if before is not None:
                variables["before"] = cursors[before]
            body = await _agreed(app, case.document, variables)
            assert not body["errors"], (case.name, variables, body["errors"])
            page = dig(body["data"], case.path)
            between = rows[(after + 1 if after is not None else 0):
                           (before if before is not None else len(rows))]
            expected = between[-size:] if backwards and size else between[:size]
            got = [_identity(edge["node"]) for edge in page["edges"]]
            assert got == expected, (case.name, after, before, backwards, size)
            info = page["pageInfo"]
            more = len(between) > size
            assert info["hasPreviousPage"] == (more if backwards else after is not None)
            assert info["hasNextPage"] == (before is not None if backwards else more)
            edge_cursors = [edge["cursor"] for edge in page["edges"]]
            assert info["startCursor"] == (edge_cursors[0] if got else None)
            assert info["endCursor"] == (edge_cursors[-1] if got else None)
            if not got:
                break
            if backwards:
                before, after = rows.index(got[0]) if len(set(rows)) == len(rows) \
                    else _position(rows, got[0], between, expected), None
                cursors[before] = info["startCursor"]
            else:
                after, before = rows.index(got[-1]) if len(set(rows)) == len(rows) \
                    else _position(rows, got[-1], between, expected, last=True), None
                cursors[after] = info["endCursor"]
    assert not fallbacks, [record.getMessage() for record in fallbacks]


def _position(rows: list[Any], item: Any, between: list[Any], expected: list[Any], *,
              last: bool = False) -> int:
    """Where in `rows` an item of the page sits when rows repeat (a partnership seen from
    both ends of a tree): the page is a run of `between`, itself a run of `rows`."""
    for start in range(len(rows) - len(expected) + 1):
        if rows[start:start + len(expected)] == expected and (
                rows[start + len(expected) - 1 if last else start] == item):
            return start + len(expected) - 1 if last else start
    raise AssertionError("the page is not a run of the rows")


# ---------------------------------------------------------------- documents over the schema


class _Rewriter:
    """Turns a generated document into one with variables, aliases and fragments: the same
    request written as a client would, which every tier must answer the same way."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.variables: dict[str, Any] = {}
        self.definitions: list[VariableDefinitionNode] = []
        self.fragments: list[FragmentDefinitionNode] = []

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self.data.draw(strategy)

    def argument(self, argument: ArgumentNode, type_: Any) -> ArgumentNode:
        if not self.draw(st.booleans()):
            return argument
        name = f"v{len(self.variables)}"
        self.variables[name] = value_from_ast_untyped(argument.value)
        self.definitions.append(VariableDefinitionNode(
            variable=VariableNode(name=NameNode(value=name)), type=parse_type(str(type_))))
        return ArgumentNode(name=argument.name, value=VariableNode(name=NameNode(value=name)))

    def selections(self, selection_set: SelectionSetNode, parent: Any) -> SelectionSetNode:
        out: list[Any] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                out.append(self.field(selection, parent))
            elif isinstance(selection, InlineFragmentNode) and selection.type_condition:
                condition = SCHEMA.get_type(selection.type_condition.name.value)
                out.append(InlineFragmentNode(
                    type_condition=selection.type_condition, directives=(),
                    selection_set=self.selections(selection.selection_set, condition)))
            else:
                out.append(selection)
        if isinstance(parent, GraphQLObjectType):
            how = self.draw(st.sampled_from(["as is", "inline", "named"]))
            condition = NamedTypeNode(name=NameNode(value=parent.name))
            inner = SelectionSetNode(selections=tuple(out))
            if how == "inline":
                out = [InlineFragmentNode(type_condition=condition, directives=(),
                                          selection_set=inner)]
            elif how == "named":
                name = f"F{len(self.fragments)}"
                self.fragments.append(FragmentDefinitionNode(
                    name=NameNode(value=name), type_condition=condition, directives=(),
                    variable_definitions=None, selection_set=inner))
                out = [FragmentSpreadNode(name=NameNode(value=name), directives=())]
        return SelectionSetNode(selections=tuple(out))

    def field(self, node: FieldNode, parent: Any) -> FieldNode:
        name = node.name.value
        definition = parent.fields.get(name) if hasattr(parent, "fields") else None
        if definition is None:  # __typename
            return node
        arguments = tuple(self.argument(a, definition.args[a.name.value].type)
                          for a in node.arguments or ())
        alias = node.alias
        if self.draw(st.booleans()):
            alias = NameNode(value=f"{name}_{len(self.variables)}_{len(self.fragments)}")
        selection_set = node.selection_set
        if selection_set is not None:
            selection_set = self.selections(selection_set, get_named_type(definition.type))
        return FieldNode(alias=alias, name=node.name, arguments=arguments, directives=(),
                         selection_set=selection_set)

    def rewrite(self, document: DocumentNode) -> tuple[str, dict[str, Any]]:
        operation = document.definitions[0]
        assert isinstance(operation, OperationDefinitionNode)
        selection_set = self.selections(operation.selection_set, SCHEMA.query_type)
        rewritten = OperationDefinitionNode(
            operation=operation.operation, name=NameNode(value="Generated"), directives=(),
            variable_definitions=tuple(self.definitions), selection_set=selection_set)
        return print_ast(DocumentNode(definitions=(rewritten, *self.fragments))), self.variables


# The fields the compiled path plans, with values that mostly hold (real ids, page sizes in
# range, words the data has), so that many documents reach the tiers rather than stopping
# at an error only the executor reports; beside them, anything over the whole schema.
COMPILED_ROOTS = ["city", "cities", "partnership", "partnerships", "country", "countries",
                  "sector", "sectors", "organizations", "search", "partnershipStats",
                  "suggestPartners"]
PLAUSIBLE = {
    "Int": st.one_of(st.integers(0, 6), st.sampled_from([-1, 20, 101])).map(nodes.Int),
    "Float": st.sampled_from([0.0, 1.5, 100.0, 5000.0, -0.5]).map(nodes.Float),
    "String": st.one_of(st.sampled_from(["qwerty", "Qwerty Town", "town", "NR", "FR", "JP",
                                         "culture", "water", "hai phong", "", "far"]),
                        st.text(max_size=6)).map(nodes.String),
    "ID": st.builds(_global_id, st.sampled_from(["City", "Partnership", "Country", "Sector",
                                                 "Organization"]),
                    st.integers(1, 30)).map(nodes.String),
    "PartialDate": st.sampled_from(["1990", "1992-05", "2009-04-01", "2024", "soon"]
                                   ).map(nodes.String),
}
DOCUMENTS = st.one_of(
    queries(SCHEMA, fields=COMPILED_ROOTS, custom_scalars=PLAUSIBLE, allow_x00=False),
    queries(SCHEMA, custom_scalars=SCALARS, allow_x00=False),
)


@settings(max_examples=DIFF_EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data(), generated=DOCUMENTS)
async def test_generated_documents_answer_the_same_on_every_tier(
        world_app: tuple[Any, str], data: st.DataObject, generated: str) -> None:
    app, _ = world_app
    query, variables = _Rewriter(data).rewrite(graphql.parse(generated))
    with unexpected_fallbacks() as fallbacks:
        body = await _agreed(app, query, variables)
    assert not fallbacks, (query, variables, [record.getMessage() for record in fallbacks])
    for error in body["errors"]:
        assert error["code"] != "INTERNAL_SERVER_ERROR", (query, variables, error)
