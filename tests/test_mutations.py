"""Mutations: each writes what it says in one transaction, validates as the contract says,
and leaves no trace when it fails."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from citylinks.auth import create_token
from citylinks.db.engine import Database, create_database
from citylinks.db.models import Base, StoreState
from sqlalchemy import func, select

from tests.conftest import LiveServer, gql

CITY_FIELDS = """
id name localName aliases level country { code } parent { name }
latitude longitude population wikidataId partnerCount
"""
PARTNERSHIP_FIELDS = """
id kind status since until description distanceKm
cities { name partnerCount } sectors { slug } organizations { name }
sources { url title publisher publishedOn }
milestones { date kind description source { title } }
"""
CREATE_CITY = f"""
mutation Create($input: CityInput!) {{ createCity(input: $input) {{ {CITY_FIELDS} }} }}
"""
UPDATE_CITY = f"""
mutation Update($id: ID!, $input: CityPatch!) {{
  updateCity(id: $id, input: $input) {{ {CITY_FIELDS} }}
}}
"""
DELETE_CITY = "mutation Delete($id: ID!) { deleteCity(id: $id) }"
CREATE_PARTNERSHIP = f"""
mutation Create($input: PartnershipInput!) {{
  createPartnership(input: $input) {{ {PARTNERSHIP_FIELDS} }}
}}
"""
UPDATE_PARTNERSHIP = f"""
mutation Update($id: ID!, $input: PartnershipPatch!) {{
  updatePartnership(id: $id, input: $input) {{ {PARTNERSHIP_FIELDS} }}
}}
"""
DELETE_PARTNERSHIP = "mutation Delete($id: ID!) { deletePartnership(id: $id) }"
ADD_MILESTONE = f"""
mutation Add($partnership: ID!, $input: MilestoneInput!) {{
  addMilestone(partnership: $partnership, input: $input) {{ {PARTNERSHIP_FIELDS} }}
}}
"""
CITY_BY_NAME = f'query City($name: String!) {{ city(name: $name) {{ {CITY_FIELDS} }} }}'
CITY_BY_ID = f"query City($id: ID!) {{ city(id: $id) {{ {CITY_FIELDS} }} }}"
PARTNERSHIP_BY_ID = f"query P($id: ID!) {{ partnership(id: $id) {{ {PARTNERSHIP_FIELDS} }} }}"
PARTNERSHIPS_OF = """
query Of($name: String!) {
  city(name: $name) { partnerships { nodes { id kind since cities { name } } } }
}
"""
ORGANIZATIONS = "query { organizations(first: 1) { nodes { id name } } }"

MISSING_CITY = "Q2l0eTo5OTk5OTk="  # City:999999
MISSING_PARTNERSHIP = "UGFydG5lcnNoaXA6OTk5OTk5"  # Partnership:999999


@pytest.fixture
async def editor(database: Database) -> dict[str, str]:
    async with database.write() as session:
        _, token = await create_token(session, "editor", "mutation tests")
    return {"authorization": f"Bearer {token}"}


class Api:
    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    async def raw(self, query: str, **variables: Any) -> dict[str, Any]:
        return await gql(self.client, query, variables, self.headers)

    async def ok(self, query: str, **variables: Any) -> dict[str, Any]:
        body = await self.raw(query, **variables)
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]

    async def error(self, query: str, **variables: Any) -> dict[str, Any]:
        body = await self.raw(query, **variables)
        assert body.get("errors"), body
        assert not body.get("data"), body
        return body["errors"][0]  # type: ignore[no-any-return]

    async def city(self, name: str) -> dict[str, Any]:
        return (await self.ok(CITY_BY_NAME, name=name))["city"]  # type: ignore[no-any-return]

    async def partnership_between(self, a: str, b: str) -> dict[str, Any]:
        nodes = (await self.ok(PARTNERSHIPS_OF, name=a))["city"]["partnerships"]["nodes"]
        return next(n for n in nodes if b in {c["name"] for c in n["cities"]})


@pytest.fixture
def api(client: httpx.AsyncClient, editor: dict[str, str]) -> Api:
    return Api(client, editor)


async def counts(database: Database) -> dict[str, int]:
    """Rows in every table, and the data version: a failed write must change none of them."""
    out: dict[str, int] = {}
    async with database.read() as conn:
        for table in Base.metadata.sorted_tables:
            out[table.name] = (await conn.execute(
                select(func.count()).select_from(table))).scalar_one()
        out["data_version"] = (await conn.execute(
            select(StoreState.data_version).where(StoreState.id == 1))).scalar_one()
    return out


# ---------------------------------------------------------------- places


async def test_create_city_returns_the_new_place_as_queries_show_it(api: Api) -> None:
    created = (await api.ok(CREATE_CITY, input={
        "name": "Cu Lao Cham", "localName": "Cù Lao Chàm", "aliases": ["Faifo Islands"],
        "level": "CITY",
        "country": "vn", "latitude": 15.88, "longitude": 108.33, "population": 120000,
        "wikidataId": "Q990000001"}))["createCity"]
    assert created == {
        "id": created["id"], "name": "Cu Lao Cham", "localName": "Cù Lao Chàm",
        "aliases": ["Faifo Islands"],
        "level": "CITY", "country": {"code": "VN"}, "parent": None, "latitude": 15.88,
        "longitude": 108.33, "population": 120000, "wikidataId": "Q990000001", "partnerCount": 0}
    assert (await api.ok(CITY_BY_ID, id=created["id"]))["city"] == created
    assert (await api.city("Faifo Islands"))["id"] == created["id"]


async def test_create_city_with_a_parent_nests_it(api: Api) -> None:
    province = await api.city("Khanh Hoa")
    created = (await api.ok(CREATE_CITY, input={
        "name": "Cam Ranh", "level": "CITY", "country": "VN",
        "parent": province["id"]}))["createCity"]
    assert created["parent"] == {"name": "Khanh Hoa"}


async def test_update_city_changes_only_the_fields_given_and_null_clears_one(api: Api) -> None:
    before = await api.city("Da Nang")
    after = (await api.ok(UPDATE_CITY, id=before["id"], input={
        "population": 1_230_000, "localName": None}))["updateCity"]
    assert after == {**before, "population": 1_230_000, "localName": None}


async def test_update_city_renames_and_the_new_name_finds_it(api: Api) -> None:
    before = await api.city("Saijo")
    await api.ok(UPDATE_CITY, id=before["id"], input={"name": "Saijō City"})
    assert (await api.city("saijo city"))["id"] == before["id"]
    assert (await api.city("Saijō"))["id"] == before["id"], "aliases are kept"


async def test_moving_a_city_refreshes_the_distance_of_its_partnerships(api: Api) -> None:
    da_nang = await api.city("Da Nang")
    link = await api.partnership_between("Da Nang", "Le Havre")
    before = (await api.ok(PARTNERSHIP_BY_ID, id=link["id"]))["partnership"]["distanceKm"]
    await api.ok(UPDATE_CITY, id=da_nang["id"], input={"latitude": 49.0, "longitude": 0.0})
    after = (await api.ok(PARTNERSHIP_BY_ID, id=link["id"]))["partnership"]["distanceKm"]
    assert before > 9000 and after < 100


async def test_delete_city_returns_its_id_and_the_city_is_gone(api: Api) -> None:
    created = (await api.ok(CREATE_CITY, input={
        "name": "Cu Lao Cham", "level": "CITY", "country": "VN"}))["createCity"]
    assert (await api.ok(DELETE_CITY, id=created["id"]))["deleteCity"] == created["id"]
    assert (await api.ok(CITY_BY_ID, id=created["id"]))["city"] is None


# ---------------------------------------------------------------- partnerships


async def test_create_partnership_returns_it_with_everything_it_cites(api: Api) -> None:
    hai_phong, boston = await api.city("Hai Phong"), await api.city("Boston")
    organization = (await api.ok(ORGANIZATIONS))["organizations"]["nodes"][0]
    created = (await api.ok(CREATE_PARTNERSHIP, input={
        "cities": [hai_phong["id"], boston["id"]], "kind": "FRIENDSHIP", "status": "PROPOSED",
        "since": "2025-06", "description": "Port cooperation.",
        "sectors": ["ports-logistics", "education"], "organizations": [organization["id"]],
        "sources": [{"url": "https://example.org/news/1", "title": "Haiphong and Boston",
                     "publisher": "Example News", "publishedOn": "2025-06-02"}]}
    ))["createPartnership"]
    assert created["kind"] == "FRIENDSHIP" and created["status"] == "PROPOSED"
    assert created["since"] == "2025-06" and created["until"] is None
    assert created["description"] == "Port cooperation."
    assert created["distanceKm"] > 10000
    assert sorted(c["name"] for c in created["cities"]) == ["Boston", "Hai Phong"]
    assert {c["name"]: c["partnerCount"] for c in created["cities"]} == {
        "Boston": boston["partnerCount"] + 1, "Hai Phong": hai_phong["partnerCount"] + 1}
    assert {s["slug"] for s in created["sectors"]} == {"education", "ports-logistics"}
    assert created["organizations"] == [{"name": organization["name"]}]
    assert created["sources"] == [{"url": "https://example.org/news/1",
                                   "title": "Haiphong and Boston",
                                   "publisher": "Example News", "publishedOn": "2025-06-02"}]
    assert (await api.ok(PARTNERSHIP_BY_ID, id=created["id"]))["partnership"] == created


async def test_update_partnership_changes_only_the_fields_given(api: Api) -> None:
    link = await api.partnership_between("Da Nang", "Le Havre")
    before = (await api.ok(PARTNERSHIP_BY_ID, id=link["id"]))["partnership"]
    after = (await api.ok(UPDATE_PARTNERSHIP, id=link["id"], input={
        "status": "SUSPENDED", "sectors": ["culture"]}))["updatePartnership"]
    assert after == {**before, "status": "SUSPENDED", "sectors": [{"slug": "culture"}]}


async def test_update_partnership_to_other_cities_moves_the_partner_counts(api: Api) -> None:
    link = await api.partnership_between("Hai Phong", "Kitakyushu")
    boston, kitakyushu = await api.city("Boston"), await api.city("Kitakyushu")
    updated = (await api.ok(UPDATE_PARTNERSHIP, id=link["id"], input={
        "cities": [(await api.city("Hai Phong"))["id"], boston["id"]]}))["updatePartnership"]
    assert {c["name"]: c["partnerCount"] for c in updated["cities"]}["Boston"] == \
        boston["partnerCount"] + 1
    assert (await api.city("Kitakyushu"))["partnerCount"] == kitakyushu["partnerCount"] - 1


async def test_delete_partnership_returns_its_id_and_frees_the_pair(api: Api) -> None:
    link = await api.partnership_between("Hai Phong", "Kitakyushu")
    kitakyushu = await api.city("Kitakyushu")
    assert (await api.ok(DELETE_PARTNERSHIP, id=link["id"]))["deletePartnership"] == link["id"]
    assert (await api.ok(PARTNERSHIP_BY_ID, id=link["id"]))["partnership"] is None
    assert (await api.city("Kitakyushu"))["partnerCount"] == kitakyushu["partnerCount"] - 1
    # The same kind between the same two cities may now be created again.
    await api.ok(CREATE_PARTNERSHIP, input={
        "cities": [(await api.city("Hai Phong"))["id"], (await api.city("Kitakyushu"))["id"]],
        "kind": link["kind"], "status": "ACTIVE"})


async def test_add_milestone_returns_the_partnership_with_its_history_oldest_first(
        api: Api) -> None:
    link = await api.partnership_between("Khanh Hoa", "Boston")
    before = (await api.ok(PARTNERSHIP_BY_ID, id=link["id"]))["partnership"]["milestones"]
    after = (await api.ok(ADD_MILESTONE, partnership=link["id"], input={
        "date": "1990-02", "kind": "VISIT", "description": "A first delegation.",
        "source": {"title": "Archive note"}}))["addMilestone"]["milestones"]
    added = {"date": "1990-02", "kind": "VISIT", "description": "A first delegation.",
             "source": {"title": "Archive note"}}
    assert len(after) == len(before) + 1 and added in after
    dated = [m["date"] for m in after if m["date"]]
    assert dated == sorted(dated)


# ---------------------------------------------------------------- validation


def _city_input(**changes: Any) -> dict[str, Any]:
    return {"name": "Cu Lao Cham", "level": "CITY", "country": "VN", **changes}


@pytest.mark.parametrize(("changes", "field"), [
    ({"latitude": 90.5}, "latitude"),
    ({"latitude": -91}, "latitude"),
    ({"longitude": 180.01}, "longitude"),
    ({"population": -1}, "population"),
    ({"country": "ZZ"}, "country"),
    ({"country": "Vietnam"}, "country"),
    ({"name": "   "}, "name"),
    ({"wikidataId": "214062"}, "wikidataId"),
])
async def test_create_city_refuses_a_bad_value_naming_the_field(
        api: Api, changes: dict[str, Any], field: str) -> None:
    error = await api.error(CREATE_CITY, input=_city_input(**changes))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


@pytest.mark.parametrize(("patch", "field"), [
    ({"population": -5}, "population"),
    ({"longitude": -200}, "longitude"),
    ({"name": None}, "name"),
    ({"country": "XX"}, "country"),
])
async def test_update_city_refuses_a_bad_value_naming_the_field(
        api: Api, patch: dict[str, Any], field: str) -> None:
    city = await api.city("Da Nang")
    error = await api.error(UPDATE_CITY, id=city["id"], input=patch)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def _partnership_input(api: Api, **changes: Any) -> dict[str, Any]:
    a, b = await api.city("Hai Phong"), await api.city("Boston")
    return {"cities": [a["id"], b["id"]], "kind": "FRIENDSHIP", "status": "ACTIVE", **changes}


@pytest.mark.parametrize(("changes", "field"), [
    ({"since": "2010", "until": "2009-12"}, "until"),
    ({"since": "2009-13"}, "since"),
    ({"until": "09"}, "until"),
    ({"sectors": ["education", "space-travel"]}, "sectors"),
    ({"sources": [{"title": "A story", "url": "ftp://example.org/x"}]}, "url"),
    ({"sources": [{"title": "A story", "publishedOn": "yesterday"}]}, "publishedOn"),
])
async def test_create_partnership_refuses_a_bad_value_naming_the_field(
        api: Api, changes: dict[str, Any], field: str) -> None:
    error = await api.error(CREATE_PARTNERSHIP, input=await _partnership_input(api, **changes))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_a_malformed_date_written_in_the_document_names_its_field(api: Api) -> None:
    a, b = await api.city("Hai Phong"), await api.city("Boston")
    document = (f'mutation {{ createPartnership(input: {{cities: ["{a["id"]}", "{b["id"]}"], '
                'kind: FRIENDSHIP, status: ACTIVE, since: "2009-13"}) { id } }')
    error = await api.error(document)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "since"}


@pytest.mark.parametrize("cities", ["same twice", "only one", "three"])
async def test_a_partnership_names_exactly_two_distinct_cities(api: Api, cities: str) -> None:
    a, b, c = [await api.city(n) for n in ("Hai Phong", "Boston", "Kyoto")]
    ids = {"same twice": [a["id"], a["id"]], "only one": [a["id"]],
           "three": [a["id"], b["id"], c["id"]]}[cities]
    error = await api.error(CREATE_PARTNERSHIP, input=await _partnership_input(api, cities=ids))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "cities"}


async def test_update_partnership_refuses_an_until_before_the_stored_since(api: Api) -> None:
    link = await api.partnership_between("Hue", "Kyoto")
    assert link["since"] == "2013-02"
    error = await api.error(UPDATE_PARTNERSHIP, id=link["id"], input={"until": "1900"})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "until"}


async def test_a_second_partnership_of_the_same_kind_between_two_cities_is_a_conflict(
        api: Api) -> None:
    link = await api.partnership_between("Da Nang", "Le Havre")
    da_nang, le_havre = await api.city("Da Nang"), await api.city("Le Havre")
    error = await api.error(CREATE_PARTNERSHIP, input={
        "cities": [le_havre["id"], da_nang["id"]], "kind": link["kind"], "status": "ACTIVE"})
    assert error["extensions"]["code"] == "CONFLICT"
    other_kind = "FRIENDSHIP" if link["kind"] != "FRIENDSHIP" else "COOPERATION"
    await api.ok(CREATE_PARTNERSHIP, input={
        "cities": [da_nang["id"], le_havre["id"]], "kind": other_kind, "status": "ACTIVE"})
    moved = await api.error(UPDATE_PARTNERSHIP, id=link["id"], input={"kind": other_kind})
    assert moved["extensions"]["code"] == "CONFLICT"


async def test_deleting_a_city_that_a_partnership_names_is_a_conflict(api: Api) -> None:
    error = await api.error(DELETE_CITY, id=(await api.city("Da Nang"))["id"])
    assert error["extensions"]["code"] == "CONFLICT"
    assert (await api.city("Da Nang"))["name"] == "Da Nang"


async def test_a_wikidata_id_that_another_place_has_is_a_conflict(api: Api) -> None:
    taken = (await api.city("Da Nang"))["wikidataId"]
    error = await api.error(CREATE_CITY, input=_city_input(wikidataId=taken))
    assert error["extensions"]["code"] == "CONFLICT"


@pytest.mark.parametrize(("document", "variables"), [
    (UPDATE_CITY, {"id": MISSING_CITY, "input": {"population": 1}}),
    (DELETE_CITY, {"id": MISSING_CITY}),
    (UPDATE_PARTNERSHIP, {"id": MISSING_PARTNERSHIP, "input": {"status": "ENDED"}}),
    (DELETE_PARTNERSHIP, {"id": MISSING_PARTNERSHIP}),
    (ADD_MILESTONE, {"partnership": MISSING_PARTNERSHIP, "input": {"kind": "VISIT"}}),
    (CREATE_CITY, {"input": {"name": "X", "level": "CITY", "country": "VN",
                             "parent": MISSING_CITY}}),
], ids=["updateCity", "deleteCity", "updatePartnership", "deletePartnership", "addMilestone",
        "createCity-parent"])
async def test_a_mutation_naming_a_missing_object_is_not_found(
        api: Api, document: str, variables: dict[str, Any]) -> None:
    error = await api.error(document, **variables)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_a_partnership_naming_a_missing_city_is_not_found(api: Api) -> None:
    error = await api.error(CREATE_PARTNERSHIP, input=await _partnership_input(
        api, cities=[(await api.city("Boston"))["id"], MISSING_CITY]))
    assert error["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(("document", "variables", "field"), [
    (UPDATE_CITY, {"id": "not-an-id", "input": {"population": 1}}, "id"),
    (DELETE_CITY, {"id": MISSING_PARTNERSHIP}, "id"),  # a Partnership id where a City's goes
    (DELETE_PARTNERSHIP, {"id": "%%%"}, "id"),
    (ADD_MILESTONE, {"partnership": "bm9wZQ==", "input": {"kind": "VISIT"}}, "partnership"),
    (CREATE_CITY, {"input": {"name": "X", "level": "CITY", "country": "VN",
                             "parent": "nope"}}, "parent"),
], ids=["updateCity", "deleteCity-wrong-type", "deletePartnership", "addMilestone",
        "createCity-parent"])
async def test_a_malformed_id_is_bad_user_input(
        api: Api, document: str, variables: dict[str, Any], field: str) -> None:
    error = await api.error(document, **variables)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_a_malformed_city_id_in_a_partnership_names_the_cities_field(api: Api) -> None:
    error = await api.error(CREATE_PARTNERSHIP, input=await _partnership_input(
        api, cities=[(await api.city("Boston"))["id"], "garbage"]))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "cities"}


# ---------------------------------------------------------------- atomicity and the change log


async def test_a_failing_mutation_leaves_every_count_as_it_was(
        api: Api, database: Database) -> None:
    da_nang = await api.city("Da Nang")
    link = await api.partnership_between("Hue", "Kyoto")
    before = await counts(database)
    # This one has already replaced the aliases and search keys when it trips on the long alias.
    await api.error(UPDATE_CITY, id=da_nang["id"], input={
        "name": "Renamed", "aliases": ["fine", "x" * 301]})
    await api.error(CREATE_PARTNERSHIP, input=await _partnership_input(
        api, sectors=["nope"], sources=[{"title": "new source"}]))
    await api.error(UPDATE_PARTNERSHIP, id=link["id"], input={
        "description": "changed", "sectors": ["culture"], "until": "1800"})
    await api.error(ADD_MILESTONE, partnership=link["id"], input={
        "kind": "VISIT", "source": {"title": "new", "url": "not a url"}})
    await api.error(CREATE_CITY, input=_city_input(aliases=["Faifo Islands"], latitude=100))
    await api.error(DELETE_CITY, id=da_nang["id"])
    assert await counts(database) == before
    assert await api.city("Da Nang") == da_nang
    assert (await api.ok(PARTNERSHIP_BY_ID, id=link["id"]))["partnership"]["description"] != \
        "changed"


async def test_every_accepted_write_is_logged_and_bumps_the_data_version(
        api: Api, database: Database) -> None:
    before = await counts(database)
    created = (await api.ok(CREATE_CITY, input=_city_input()))["createCity"]
    await api.ok(UPDATE_CITY, id=created["id"], input={"population": 10})
    await api.ok(DELETE_CITY, id=created["id"])
    after = await counts(database)
    assert after["change_log"] == before["change_log"] + 3
    assert after["data_version"] == before["data_version"] + 3


async def test_each_mutation_of_a_document_is_its_own_transaction(api: Api) -> None:
    document = """
    mutation {
      ok: createCity(input: {name: "Cu Lao Cham", level: CITY, country: "VN"}) { name }
      bad: createCity(input: {name: "My Son", level: CITY, country: "VN", population: -1}) {
        name }
    }
    """
    body = await api.raw(document)
    assert body["data"] is None  # `bad` is non-null, so the error nulls the whole data
    assert body["errors"][0]["path"] == ["bad"]
    assert (await api.city("Cu Lao Cham"))["name"] == "Cu Lao Cham"


# ---------------------------------------------------------------- a real server, restarted


def _editor_token(db_url: str) -> str:
    async def make() -> str:
        database = create_database(db_url)
        try:
            async with database.write() as session:
                return (await create_token(session, "editor"))[1]
        finally:
            await database.dispose()

    return asyncio.run(make())


@pytest.fixture
def stopped_server(db_url: str) -> Iterator[tuple[LiveServer, str]]:
    token = _editor_token(db_url)
    server = LiveServer(db_url)
    yield server, token
    server.stop()


def test_data_written_survives_a_server_restart(
        stopped_server: tuple[LiveServer, str]) -> None:
    server, token = stopped_server
    headers = {"authorization": f"Bearer {token}"}

    def post(query: str, **variables: Any) -> dict[str, Any]:
        body: dict[str, Any] = httpx.post(f"{server.url}/graphql", headers=headers, timeout=30,
                                          json={"query": query, "variables": variables}).json()
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]

    server.start()
    city = post(CREATE_CITY, input=_city_input(latitude=15.88, longitude=108.33))["createCity"]
    da_nang = post(CITY_BY_NAME, name="Da Nang")["city"]
    link = post(CREATE_PARTNERSHIP, input={
        "cities": [city["id"], da_nang["id"]], "kind": "COOPERATION", "status": "ACTIVE",
        "since": "2024", "sectors": ["tourism"]})["createPartnership"]
    server.stop()
    server.start()
    assert post(CITY_BY_ID, id=city["id"])["city"]["name"] == "Cu Lao Cham"
    reread = post(PARTNERSHIP_BY_ID, id=link["id"])["partnership"]
    assert reread == link
    assert post(CITY_BY_ID, id=city["id"])["city"]["partnerCount"] == 1
