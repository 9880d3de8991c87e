"""Every connection takes back its own cursors, forwards and backwards, on every tier."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from citylinks.settings import Settings

from tests.builders import load
from tests.conftest import running_app
from tests.paging_world import ConnectionCase, connection_cases, dig, paging_world
from tests.tiers import TIERS, compiled, reference, unexpected_fallbacks


@pytest.fixture
async def paging_app(db_url: str) -> Any:
    async with running_app(Settings(db_url=db_url)) as (app, _):
        await load(app.state.db, paging_world())
        yield app


async def _province_id(app: Any) -> str:
    body = await reference(app, '{ search(text: "qwerty province", first: 1) { id } }')
    return str(body["data"]["search"][0]["id"])


async def _answers(app: Any, case: ConnectionCase, **page: Any) -> dict[str, Any]:
    """The page from the executor, checked against each tier that takes the document."""
    variables = {**case.variables, **page}
    expected = await reference(app, case.document, variables)
    for tier in TIERS:
        answer = await compiled(app, tier, case.document, variables)
        if answer is not None:
            assert answer == expected, f"{case.name} {page}: the {tier} tier differs"
    return expected


async def _page(app: Any, case: ConnectionCase, **page: Any) -> dict[str, Any]:
    body = await _answers(app, case, **page)
    assert not body["errors"], f"{case.name} {page}: {body['errors']}"
    return dig(body["data"], case.path)  # type: ignore[no-any-return]


async def test_every_connection_walks_its_own_cursors_forwards_and_backwards(
        paging_app: Any) -> None:
    province = await _province_id(paging_app)
    with unexpected_fallbacks() as fallbacks:
        for case in connection_cases(province):
            whole = await _page(paging_app, case, first=100)
            edges = [edge["node"] for edge in whole["edges"]]
            assert len(edges) == whole["totalCount"] >= 3, case.name
            # forwards: two at a time from the start, each endCursor fed back as `after`
            seen: list[Any] = []
            after = None
            while True:
                page = await _page(paging_app, case, first=2, after=after)
                seen += [edge["node"] for edge in page["edges"]]
                assert page["pageInfo"]["hasPreviousPage"] is (after is not None), case.name
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
            assert seen == edges, f"{case.name}: forwards"
            # backwards: two at a time from the end, each startCursor fed back as `before`
            seen = []
            before = None
            while True:
                page = await _page(paging_app, case, last=2, before=before)
                seen = [edge["node"] for edge in page["edges"]] + seen
                assert page["pageInfo"]["hasNextPage"] is (before is not None), case.name
                if not page["pageInfo"]["hasPreviousPage"]:
                    break
                before = page["pageInfo"]["startCursor"]
            assert seen == edges, f"{case.name}: backwards"
            # between two cursors of one page: the edges strictly between them
            cursors = [edge["cursor"] for edge in whole["edges"]]
            between = await _page(paging_app, case, first=100, after=cursors[0],
                                  before=cursors[-1])
            assert [edge["node"] for edge in between["edges"]] == edges[1:-1], case.name
    assert not fallbacks, [record.getMessage() for record in fallbacks]


def _forged(values: list[Any], ordering: str) -> str:
    payload = json.dumps([ordering, values]).encode()  # json: orjson refuses 2**70
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


async def test_a_cursor_of_another_connection_or_forged_is_bad_user_input_everywhere(
        paging_app: Any) -> None:
    province = await _province_id(paging_app)
    cases = connection_cases(province)
    cursors = {}
    for case in cases:
        page = await _page(paging_app, case, first=1)
        cursors[case.name] = page["pageInfo"]["endCursor"]
    forged = [_forged(values, name) for name, values in (
        ("id", ["1"]), ("id", [2**70]), ("id", [2**63]), ("id", [1e300]), ("id", [True]),
        ("id", [None]), ("name", [1, 2]),
        ("partner-tree", [1]), ("partner-tree", [1, "x"]), ("since", [5, 1]),
        ("since", ["not a date", 1]), ("distance", ["far", 1]), ("population", [1.5, 1]))]
    for case in cases:
        foreign = [c for name, c in cursors.items() if not _same_ordering(name, case.name)]
        for cursor in foreign + forged:
            for argument in ("after", "before"):
                page = {"first": 2} if argument == "after" else {"last": 2}
                body = await _answers(paging_app, case, **page, **{argument: cursor})
                codes = [(e["code"], e["field"]) for e in body["errors"]]
                assert codes == [("BAD_USER_INPUT", argument)], (
                    f"{case.name} given {_decoded(cursor)!r}: {body['errors']}")


def _decoded(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


# Connections that share an ordering take each other's cursors (a keyset is a keyset).
_ORDERINGS = {
    "cities-name-asc": "name", "country-cities": "name", "city-children": "name",
    "partnerships": "id", "sector-partnerships": "id", "city-partners": "id",
    "city-partnerships": "id",
    "city-partners-with-subdivisions": "tree", "city-partnerships-with-subdivisions": "tree",
}


def _same_ordering(a: str, b: str) -> bool:
    return _ORDERINGS.get(a, a) == _ORDERINGS.get(b, b)
