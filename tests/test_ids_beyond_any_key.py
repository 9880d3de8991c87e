"""A well-formed global id whose key is beyond any the database can hold (more than its
integer) answers exactly as a well-formed id of a missing object: null, an empty list or
NOT_FOUND, never INTERNAL_SERVER_ERROR, in every field that takes an id."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from citylinks.auth import create_token
from citylinks.db.engine import Database

from tests.conftest import gql

MISSING = "City:999999"  # well formed, no such place
BEYOND = ["City:2147483648", "City:9223372036854775808", "City:99999999999999999999"]

# (operation, variables with "$" where the id goes): every field and input taking an id.
OPERATIONS: list[tuple[str, dict[str, Any]]] = [
    ("query($id: ID!) { node(id: $id) { id } }", {"id": "$"}),
    ("query($id: ID!) { nodes(ids: [$id]) { id } }", {"id": "$"}),
    ("query($id: ID!) { city(id: $id) { name } }", {"id": "$"}),
    ("query($id: ID!) { partnership(id: $id) { kind } }", {"id": "$P"}),
    ("query($id: ID!) { partnerships(filter: {city: $id}) { totalCount } }", {"id": "$"}),
    ("query($id: ID!) { organizations(filter: {city: $id}) { totalCount } }", {"id": "$"}),
    ("query($id: ID!) { path(from: $id, to: $id) { hops } }", {"id": "$"}),
    ("query($id: ID!) { suggestPartners(city: $id) { score } }", {"id": "$"}),
    ("query($r: [_Any!]!) { _entities(representations: $r) { ... on City { name } } }",
     {"r": [{"__typename": "City", "id": "$"}]}),
    ("mutation($id: ID!) { updateCity(id: $id, input: {name: \"X\"}) { id } }", {"id": "$"}),
    ("mutation($id: ID!) { deleteCity(id: $id) }", {"id": "$"}),
    ("mutation($id: ID!) { deletePartnership(id: $id) }", {"id": "$P"}),
    ("mutation($id: ID!) { addMilestone(partnership: $id, input: {date: \"2020\", "
     "kind: SIGNING, description: \"x\"}) { id } }", {"id": "$P"}),
    ("mutation($id: ID!) { createCity(input: {name: \"Y\", level: CITY, country: \"VN\", "
     "parent: $id}) { id } }", {"id": "$"}),
]


def _b64(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


def _fill(value: Any, key: str) -> Any:
    """The variables with each "$" (a City id) or "$P" (a Partnership id) filled in."""
    if value == "$":
        return _b64(key)
    if value == "$P":
        return _b64(key.replace("City:", "Partnership:"))
    if isinstance(value, dict):
        return {k: _fill(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, key) for v in value]
    return value


def _outcome(body: dict[str, Any]) -> tuple[Any, list[tuple[str, Any]]]:
    """What a client acts on: the data and each error's code and path."""
    errors = [(e.get("extensions", {}).get("code"), e.get("path"))
              for e in body.get("errors", [])]
    return body.get("data"), errors


@pytest.fixture
async def editor(database: Database) -> dict[str, str]:
    async with database.write() as session:
        _, token = await create_token(session, "editor", "ids test")
    return {"authorization": f"Bearer {token}"}


async def test_an_id_beyond_any_key_answers_as_a_missing_one(
        client: httpx.AsyncClient, editor: dict[str, str]) -> None:
    for operation, variables in OPERATIONS:
        expected = _outcome(await gql(client, operation, _fill(variables, MISSING), editor))
        assert "INTERNAL_SERVER_ERROR" not in str(expected), (operation, expected)
        for key in BEYOND:
            body = await gql(client, operation, _fill(variables, key), editor)
            assert _outcome(body) == expected, (operation, key, body)
