"""Where places are: great-circle distances, radius searches, ordering by partner count,
and provinces that answer for the places inside them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from citylinks.db import writes
from citylinks.db.bootstrap import bundled_document
from citylinks.db.geo import haversine_km
from citylinks.schema.ids import decode_id, encode_id

from tests.builders import document, load, partnership, place
from tests.conftest import gql

LE_HAVRE_PARTNERS = """{ city(name: "Le Havre") {
  partners { nodes { city { name } distanceKm partnership { distanceKm } } } } }"""
CITY_ID = """query ($name: String!) { city(name: $name) { id } }"""
PARTNERSHIP_DISTANCE = """query ($id: ID!) { partnership(id: $id) { distanceKm } }"""
NEAR_CONSTRUCTED = """query ($lat: Float!, $lon: Float!, $km: Float!) {
  all: cities(first: 0, filter: {near: {latitude: $lat, longitude: $lon, radiusKm: $km}}) {
    totalCount }
  constructed: cities(first: 100, filter: {country: "KI",
                      near: {latitude: $lat, longitude: $lon, radiusKm: $km}}) {
    nodes { name } } }"""
NEAR = """query ($lat: Float!, $lon: Float!, $km: Float!) {
  cities(first: 100, filter: {near: {latitude: $lat, longitude: $lon, radiusKm: $km}}) {
    totalCount nodes { name } } }"""
BY_PARTNER_COUNT = """query ($direction: OrderDirection!, $first: Int, $after: String) {
  cities(filter: {country: "TV"}, first: $first, after: $after,
         orderBy: {field: PARTNER_COUNT, direction: $direction}) {
    nodes { name partnerCount } pageInfo { endCursor hasNextPage } } }"""
SUBDIVISIONS = """query ($name: String!, $deep: Boolean) {
  city(name: $name) {
    partners(first: 100, includeSubdivisions: $deep) {
      totalCount nodes { city { name } partnership { cities { name } } } }
    partnerships(first: 100, includeSubdivisions: $deep) {
      totalCount nodes { cities { name } } } } }"""
SUBDIVISIONS_FILTERED = """{ city(name: "Thua Thien Hue") {
  partners(includeSubdivisions: true, filter: {activeOn: "2018"}) {
    totalCount nodes { city { name } } } } }"""


# ---------------------------------------------------------------- distances


async def test_le_havre_and_da_nang_are_about_ten_thousand_km_apart(
        client: httpx.AsyncClient) -> None:
    nodes = (await gql(client, LE_HAVRE_PARTNERS))["data"]["city"]["partners"]["nodes"]
    da_nang = next(n for n in nodes if n["city"]["name"] == "Da Nang")
    assert 9_800 < da_nang["distanceKm"] < 10_100
    assert da_nang["partnership"]["distanceKm"] == da_nang["distanceKm"]


async def test_distance_is_kept_by_writes_and_null_without_coordinates(
        app_and_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_and_client
    # given a place without coordinates twinned with Oslo
    async with app.state.db.write() as session:
        oslo = await writes.create_place(session, {
            "name": "Geo Oslo", "level": "CITY", "country": "NO",
            "latitude": 59.9139, "longitude": 10.7522})
        nowhere = await writes.create_place(session, {
            "name": "Geo Somewhere", "level": "CITY", "country": "SE"})
        link = await writes.create_partnership(session, {
            "cities": [oslo.id, nowhere.id], "kind": "FRIENDSHIP", "status": "ACTIVE"})
    gid = encode_id("Partnership", link.id)
    assert (await gql(client, PARTNERSHIP_DISTANCE, {"id": gid}))["data"]["partnership"] == {
        "distanceKm": None}
    # when the place gets coordinates (Stockholm's)
    async with app.state.db.write() as session:
        await writes.update_place(session, nowhere.id, {"latitude": 59.3293,
                                                        "longitude": 18.0686})
    distance = (await gql(client, PARTNERSHIP_DISTANCE, {"id": gid}))["data"]["partnership"]
    # then the partnership's distance follows (Oslo-Stockholm is about 417 km)
    assert distance["distanceKm"] == pytest.approx(
        haversine_km(59.9139, 10.7522, 59.3293, 18.0686), abs=0.1)
    assert 410 < distance["distanceKm"] < 425
    # and when it loses them again
    async with app.state.db.write() as session:
        await writes.update_place(session, nowhere.id, {"latitude": None, "longitude": None})
    assert (await gql(client, PARTNERSHIP_DISTANCE, {"id": gid}))["data"]["partnership"] == {
        "distanceKm": None}


# ---------------------------------------------------------------- near


def _near_world() -> dict[str, Any]:
    """Places around (10, 20), on the antimeridian, and near the north pole."""
    spots = {
        "Geo Centre": (10.0, 20.0),
        "Geo North 56": (10.5, 20.0),     # 55.6 km
        "Geo North 100": (10.9, 20.0),    # 100.1 km
        "Geo East 110": (10.0, 21.0),     # 109.5 km
        "Geo North 111": (11.0, 20.0),    # 111.2 km
        "Geo Corner": (10.7, 20.7),       # 108.8 km: inside the 100 km box, outside the circle
        "Geo Dateline West": (0.0, 179.5),
        "Geo Dateline East": (0.0, -179.5),
        "Geo Dateline Far": (0.0, 178.0),
        "Geo Polar": (89.5, 180.0),
        "Geo Nowhere": (None, None),
    }
    return document([place(f"g{i}", name, "KI", latitude=lat, longitude=lon)
                     for i, (name, (lat, lon)) in enumerate(spots.items())], [])


@pytest.fixture
async def near_client(app_and_client: tuple[Any, httpx.AsyncClient]) -> httpx.AsyncClient:
    app, client = app_and_client
    await load(app.state.db, _near_world())
    return client


async def _near(client: httpx.AsyncClient, lat: float, lon: float, km: float) -> set[str]:
    body = await gql(client, NEAR, {"lat": lat, "lon": lon, "km": km})
    page = body["data"]["cities"]
    assert page["totalCount"] == len(page["nodes"])
    return {n["name"] for n in page["nodes"]}


async def test_near_keeps_places_within_the_great_circle_radius(
        near_client: httpx.AsyncClient) -> None:
    assert await _near(near_client, 10.0, 20.0, 100) == {"Geo Centre", "Geo North 56"}
    assert await _near(near_client, 10.0, 20.0, 105) == {
        "Geo Centre", "Geo North 56", "Geo North 100"}
    assert await _near(near_client, 10.0, 20.0, 110) == {
        "Geo Centre", "Geo North 56", "Geo North 100", "Geo East 110", "Geo Corner"}
    assert await _near(near_client, 10.0, 20.0, 112) == {
        "Geo Centre", "Geo North 56", "Geo North 100", "Geo East 110", "Geo Corner",
        "Geo North 111"}


async def test_near_crosses_the_antimeridian_and_the_pole(
        near_client: httpx.AsyncClient) -> None:
    assert await _near(near_client, 0.0, 179.9, 100) == {
        "Geo Dateline West", "Geo Dateline East"}
    assert await _near(near_client, 0.0, -179.9, 100) == {
        "Geo Dateline West", "Geo Dateline East"}
    # over the pole: 0.5 degrees up and 0.5 down the other side is about 111 km
    assert await _near(near_client, 89.5, 0.0, 120) == {"Geo Polar"}


async def test_a_radius_around_the_whole_globe_keeps_every_place_with_coordinates(
        near_client: httpx.AsyncClient) -> None:
    # ten constructed places with coordinates, one without, and the bundled ones
    bundled = sum(1 for p in bundled_document()["places"]
                  if p.get("latitude") is not None and p.get("longitude") is not None)
    for lat, lon in ((10.0, 20.0), (-10.0, -160.0), (90.0, 0.0)):
        body = await gql(near_client, NEAR_CONSTRUCTED, {"lat": lat, "lon": lon, "km": 20_040})
        assert body["data"]["all"]["totalCount"] == 10 + bundled
        found = {n["name"] for n in body["data"]["constructed"]["nodes"]}
        assert len(found) == 10 and "Geo Nowhere" not in found


async def test_near_answers_the_bundled_cities_around_hue(client: httpx.AsyncClient) -> None:
    # Hue and its province share the seat's coordinates; Da Nang is about 80 km away.
    assert await _near(client, 16.4637, 107.5909, 50) == {"Hue", "Thua Thien Hue"}
    assert await _near(client, 16.4637, 107.5909, 100) == {"Hue", "Thua Thien Hue", "Da Nang"}


@pytest.mark.parametrize(("field", "value"), [
    ("latitude", 91.0), ("longitude", -181.0), ("radiusKm", 0.0), ("radiusKm", 30_000.0)])
async def test_near_refuses_impossible_circles(client: httpx.AsyncClient, field: str,
                                              value: float) -> None:
    variables = {"lat": 10.0, "lon": 20.0, "km": 100.0}
    variables[{"latitude": "lat", "longitude": "lon", "radiusKm": "km"}[field]] = value
    error = (await gql(client, NEAR, variables))["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


# ---------------------------------------------------------------- partner count


async def test_cities_order_by_partner_count_with_ties_by_name(
        app_and_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_and_client
    names = ["Geo Zebra", "Geo Alpha", "Geo Mid", "Geo Beta", "Geo Lonely"]
    await load(app.state.db, document(
        [place(f"z{i}", n, "TV") for i, n in enumerate(names)],
        # Zebra 3, Alpha 2, Mid 2, Beta 1, Lonely 0
        [partnership("z0", "z1"), partnership("z0", "z2"), partnership("z0", "z3"),
         partnership("z1", "z2")]))
    descending = (await gql(client, BY_PARTNER_COUNT, {"direction": "DESC"}))["data"]["cities"]
    assert [(n["name"], n["partnerCount"]) for n in descending["nodes"]] == [
        ("Geo Zebra", 3), ("Geo Alpha", 2), ("Geo Mid", 2), ("Geo Beta", 1), ("Geo Lonely", 0)]
    ascending = (await gql(client, BY_PARTNER_COUNT, {"direction": "ASC"}))["data"]["cities"]
    assert [n["name"] for n in ascending["nodes"]] == [
        "Geo Lonely", "Geo Beta", "Geo Alpha", "Geo Mid", "Geo Zebra"]
    # a page boundary inside a tie continues with the next name
    page = (await gql(client, BY_PARTNER_COUNT, {"direction": "DESC", "first": 2})
            )["data"]["cities"]
    rest = (await gql(client, BY_PARTNER_COUNT, {
        "direction": "DESC", "first": 10, "after": page["pageInfo"]["endCursor"]}))["data"]
    assert [n["name"] for n in rest["cities"]["nodes"]] == ["Geo Mid", "Geo Beta", "Geo Lonely"]


async def test_partner_count_order_follows_writes(
        app_and_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_and_client
    await load(app.state.db, document(
        [place("a", "Geo A", "TV"), place("b", "Geo B", "TV"), place("c", "Geo C", "TV")],
        [partnership("a", "b")]))
    first = (await gql(client, BY_PARTNER_COUNT, {"direction": "DESC"}))["data"]["cities"]
    assert [n["name"] for n in first["nodes"]] == ["Geo A", "Geo B", "Geo C"]
    ids = {}
    for name in ("Geo B", "Geo C"):
        body = await gql(client, CITY_ID, {"name": name})
        ids[name] = decode_id(body["data"]["city"]["id"], "City")
    async with app.state.db.write() as session:
        await writes.create_partnership(session, {
            "cities": [ids["Geo B"], ids["Geo C"]], "kind": "SISTER_CITY", "status": "ACTIVE"})
    after = (await gql(client, BY_PARTNER_COUNT, {"direction": "DESC"}))["data"]["cities"]
    assert [(n["name"], n["partnerCount"]) for n in after["nodes"]] == [
        ("Geo B", 2), ("Geo A", 1), ("Geo C", 1)]


# ---------------------------------------------------------------- subdivisions


async def test_a_province_includes_the_partnerships_of_the_places_inside_it(
        client: httpx.AsyncClient) -> None:
    own = (await gql(client, SUBDIVISIONS, {"name": "Thua Thien Hue", "deep": False}))
    deep = (await gql(client, SUBDIVISIONS, {"name": "Thua Thien Hue", "deep": True}))
    hue = (await gql(client, SUBDIVISIONS, {"name": "Hue", "deep": False}))["data"]["city"]
    own_city, deep_city = own["data"]["city"], deep["data"]["city"]
    # the province's five stories' partners and its one Wikidata twin (Baranavichy)
    assert own_city["partners"]["totalCount"] == 6
    # the province's own and its city's (Hue has no places inside it)
    assert deep_city["partners"]["totalCount"] == 6 + hue["partners"]["totalCount"]
    assert deep_city["partnerships"]["totalCount"] == deep_city["partners"]["totalCount"]
    hue_partners = {n["city"]["name"] for n in deep_city["partners"]["nodes"]
                    if "Hue" in {c["name"] for c in n["partnership"]["cities"]}}
    assert hue_partners == {n["city"]["name"] for n in hue["partners"]["nodes"]}
    assert {"Shizuoka", "Kyoto", "Tamba-Sasayama", "Saijo", "Takayama"} <= hue_partners
    # each partnership still names its own place, never the province in Hue's stead
    for node in deep_city["partners"]["nodes"]:
        ends = {c["name"] for c in node["partnership"]["cities"]}
        assert node["city"]["name"] in ends
        assert len(ends & {"Hue", "Thua Thien Hue"}) == 1
    assert deep_city["partners"]["totalCount"] == len(deep_city["partners"]["nodes"])


async def test_subdivisions_reach_every_level_and_keep_the_filters(
        app_and_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_and_client
    # given a ward inside Hue (inside the province) twinned with a French town
    await load(app.state.db, document(
        [place("hue", "Hue", "VN"), place("ward", "Geo Ward", "VN", level="DISTRICT",
                                          parent="hue"),
         place("fr", "Geo Bourg", "FR")],
        [partnership("ward", "fr", kind="FRIENDSHIP", since="2018")]))
    own = (await gql(client, SUBDIVISIONS, {"name": "Thua Thien Hue", "deep": False}))
    own_hue = (await gql(client, SUBDIVISIONS, {"name": "Hue", "deep": False}))["data"]["city"]
    deep = (await gql(client, SUBDIVISIONS, {"name": "Thua Thien Hue", "deep": True}))
    names = {n["city"]["name"] for n in deep["data"]["city"]["partners"]["nodes"]}
    assert "Geo Bourg" in names and deep["data"]["city"]["partners"]["totalCount"] == (
        own["data"]["city"]["partners"]["totalCount"] + own_hue["partners"]["totalCount"] + 1)
    # Hue's own view includes its ward, not its province
    hue = (await gql(client, SUBDIVISIONS, {"name": "Hue", "deep": True}))["data"]["city"]
    assert {n["city"]["name"] for n in hue["partners"]["nodes"]} == {
        n["city"]["name"] for n in own_hue["partners"]["nodes"]} | {"Geo Bourg"}
    filtered = (await gql(client, SUBDIVISIONS_FILTERED))["data"]["city"]["partners"]
    # in force in 2018: the province's dated cooperations (not its PROPOSED one, nor the
    # undated ones: an unknown start is not "always"), Hue's five, and the ward's
    assert {n["city"]["name"] for n in filtered["nodes"]} == {
        "Kyoto Prefecture", "Gifu Prefecture",
        "Shizuoka", "Kyoto", "Tamba-Sasayama", "Saijo", "Takayama", "Geo Bourg"}
    assert filtered["totalCount"] == 8


async def test_a_cycle_of_parents_in_imported_data_still_ends(
        app_and_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_and_client
    # given two places that an imported file says are inside each other
    await load(app.state.db, document(
        [place("x", "Geo Loop X", "NO", parent="y"), place("y", "Geo Loop Y", "NO", parent="x"),
         place("z", "Geo Loop Pal", "SE")],
        [partnership("x", "z")]))
    body = await asyncio.wait_for(
        gql(client, SUBDIVISIONS, {"name": "Geo Loop Y", "deep": True}), timeout=20)
    assert body["data"]["city"]["partners"]["totalCount"] == 1
