"""partnershipStats(filter:): counts, country flows, rankings and map arcs agree with plain SQL
written here and with the totalCount of the filtered lists, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.builders import document, load, partnership, place
from tests.conftest import gql

EVERYTHING = """query ($filter: PartnershipFilter) { partnershipStats(filter: $filter) {
  partnerships undated places countries
  byKind { key count } byStatus { key count } byYear { key count } byDecade { key count }
  bySector(first: 100) { key count }
  byCountry(first: 100) { country { code } count latitude longitude }
  countryPairs(first: 100) { countries { code } count }
  topPlaces(first: 100) { city { name } count }
  arcs(first: 2000) { id names coordinates } }
  partnerships(first: 0, filter: $filter) { totalCount } }"""
PARTNER_COUNTRIES = """query ($filter: PartnershipFilter) { partnershipStats(filter: $filter) {
  partnerCountries(first: 100) { country { code } count }
  topPlaces(first: 5, country: "SJ") { city { name } count } } }"""
WITHIN = """query ($box: BoundingBoxInput!) { partnershipStats {
  arcs(first: 2000, within: $box) { names } } }"""
TOO_MANY = """{ partnershipStats { countryPairs(first: 101) { count } } }"""

# A world of its own under country codes the bundled world has no place in (Svalbard, Saint
# Helena, Fiji east and west of the antimeridian), at the coordinates of Iceland and Namibia.
ROWS = document(
    [place("rey", "Stat Reykjavik", "SJ", latitude=64.1, longitude=-21.9, population=130000),
     place("aku", "Stat Akureyri", "SJ", latitude=65.7, longitude=-18.1, population=19000),
     place("win", "Stat Windhoek", "SH", latitude=-22.6, longitude=17.1),
     place("suv", "Stat Suva", "FJ", latitude=-18.1, longitude=178.4),
     place("lab", "Stat Labasa", "FJ", latitude=-16.4, longitude=-179.6)],
    [partnership("rey", "aku", since="1994-05", sectors=["culture"]),
     partnership("rey", "win", kind="FRIENDSHIP", since="2001"),
     partnership("rey", "suv", kind="COOPERATION", status="ENDED", since="1999", until="2004"),
     partnership("aku", "win"),
     partnership("suv", "lab", since="2010")])

# Plain SQL oracle, sharing no code with db/aggregates.py.
ORACLE_FILTERED = """
SELECT p.id, p.kind, p.status, p.since, a.name, a.country_id, a.latitude, a.longitude,
       b.name, b.country_id, b.latitude, b.longitude, ca.code, cb.code, a.id, b.id
FROM partnerships p JOIN places a ON a.id = p.place_a_id JOIN places b ON b.id = p.place_b_id
JOIN countries ca ON ca.id = a.country_id JOIN countries cb ON cb.id = b.country_id"""


@pytest.fixture
async def stocked(app_and_client: tuple[Any, httpx.AsyncClient]) -> tuple[Any, httpx.AsyncClient]:
    app, client = app_and_client
    await load(app.state.db, ROWS)
    return app, client


async def _oracle(app: Any, codes: set[str] | None) -> list[Any]:
    async with app.state.db.read() as conn:
        rows = list(await conn.execute(text(ORACLE_FILTERED)))
    return [r for r in rows if codes is None or r[12] in codes or r[13] in codes]


@pytest.mark.parametrize("filter_", [None, {"country": "SJ"}, {"country": "FJ"}])
async def test_counts_and_flows_agree_with_plain_sql(stocked: tuple[Any, httpx.AsyncClient],
                                                     filter_: dict[str, str] | None) -> None:
    app, client = stocked
    # when
    body = await gql(client, EVERYTHING, {"filter": filter_})
    # then
    assert "errors" not in body, body
    stats = body["data"]["partnershipStats"]
    rows = await _oracle(app, {filter_["country"]} if filter_ else None)
    assert stats["partnerships"] == len(rows) == body["data"]["partnerships"]["totalCount"]
    assert stats["undated"] == sum(1 for r in rows if r[3] is None)
    assert stats["places"] == len({r[14] for r in rows} | {r[15] for r in rows})
    assert stats["countries"] == len({r[12] for r in rows} | {r[13] for r in rows})
    assert {b["key"]: b["count"] for b in stats["byKind"]} == Counter(r[1] for r in rows)
    assert {b["key"]: b["count"] for b in stats["byYear"]} == Counter(
        r[3][:4] for r in rows if r[3])
    assert {b["key"]: b["count"] for b in stats["byDecade"]} == Counter(
        r[3][:3] + "0" for r in rows if r[3])
    # The lists come first: 100 (the world has more pairs and countries than that): the
    # leading ones, each with the oracle's count.
    pairs = Counter(tuple(sorted((r[12], r[13]))) for r in rows)
    got = {tuple(c["code"] for c in p["countries"]): p["count"] for p in stats["countryPairs"]}
    assert {tuple(sorted(k)): v for k, v in got.items()} == {
        tuple(sorted(k)): pairs[tuple(sorted(k))] for k in got}
    assert [p["count"] for p in stats["countryPairs"]] == sorted(
        pairs.values(), reverse=True)[:100]
    ends = Counter(code for r in rows for code in {r[12], r[13]})
    by_country = {c["country"]["code"]: c["count"] for c in stats["byCountry"]}
    assert by_country == {code: ends[code] for code in by_country}
    assert sorted(by_country.values(), reverse=True) == sorted(ends.values(), reverse=True)[:100]
    assert len(stats["arcs"]) == min(2000, sum(
        1 for r in rows if None not in (r[6], r[7], r[10], r[11])))


async def test_a_small_world_has_the_counts_worked_out_by_hand(
        stocked: tuple[Any, httpx.AsyncClient]) -> None:
    _, client = stocked
    stats = (await gql(client, EVERYTHING, {"filter": {"country": "SJ"}}))["data"][
        "partnershipStats"]
    assert (stats["partnerships"], stats["undated"], stats["places"], stats["countries"]) == (
        4, 1, 4, 3)
    assert stats["byDecade"] == [{"key": "1990", "count": 2}, {"key": "2000", "count": 1}]
    assert stats["countryPairs"][0] == {"countries": [{"code": "SH"}, {"code": "SJ"}], "count": 2}
    iceland = next(c for c in stats["byCountry"] if c["country"]["code"] == "SJ")
    # the mean of the ends in Iceland: Reykjavik three times, Akureyri twice (one each for
    # the domestic partnership)
    assert iceland["latitude"] == pytest.approx((64.1 * 3 + 65.7 * 2) / 5)
    assert stats["topPlaces"][0] == {"city": {"name": "Stat Reykjavik"}, "count": 3}
    # the best-connected pairs first (3 + 2 partners), ties by partnership
    assert [a["names"] for a in stats["arcs"]] == [
        ["Stat Reykjavik", "Stat Akureyri"], ["Stat Reykjavik", "Stat Windhoek"],
        ["Stat Reykjavik", "Stat Suva"], ["Stat Akureyri", "Stat Windhoek"]]


async def test_partner_countries_rank_the_other_end(stocked: tuple[Any, httpx.AsyncClient]) -> None:
    _, client = stocked
    data = (await gql(client, PARTNER_COUNTRIES, {"filter": {"country": "SJ"}}))["data"]
    ranked = data["partnershipStats"]["partnerCountries"]
    assert ranked == [{"country": {"code": "SH"}, "count": 2},
                      {"country": {"code": "FJ"}, "count": 1},
                      {"country": {"code": "SJ"}, "count": 1}]
    assert data["partnershipStats"]["topPlaces"][:2] == [
        {"city": {"name": "Stat Reykjavik"}, "count": 3},
        {"city": {"name": "Stat Akureyri"}, "count": 2}]


async def test_partner_countries_without_a_country_is_bad_input(
        stocked: tuple[Any, httpx.AsyncClient]) -> None:
    body = await gql(stocked[1], PARTNER_COUNTRIES, {"filter": {"kind": ["SISTER_CITY"]}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == "country"


async def test_a_page_over_the_bound_is_bad_input(stocked: tuple[Any, httpx.AsyncClient]) -> None:
    body = await gql(stocked[1], TOO_MANY)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_arcs_within_an_area_across_the_antimeridian(
        stocked: tuple[Any, httpx.AsyncClient]) -> None:
    # given: Fiji's area runs from 177 E to 179 W
    box = {"south": -20, "west": 177, "north": -15, "east": -179}
    # when
    arcs = (await gql(stocked[1], WITHIN, {"box": box}))["data"]["partnershipStats"]["arcs"]
    # then: both Fijian partnerships, and nothing that touches neither Suva nor Labasa
    names = {tuple(sorted(a["names"])) for a in arcs}
    assert ("Stat Labasa", "Stat Suva") in names
    assert ("Stat Reykjavik", "Stat Suva") in names
    assert all({"Stat Suva", "Stat Labasa"} & set(n) for n in names)


async def test_answers_kept_per_data_version_follow_a_write(
        stocked: tuple[Any, httpx.AsyncClient]) -> None:
    # given: the answer asked twice (the second from the answers kept for this version)
    app, client = stocked
    query = """{ partnershipStats(filter: {country: "SJ"}) { partnerships
      countryPairs(first: 5) { count } } }"""
    first = (await gql(client, query))["data"]["partnershipStats"]
    assert (await gql(client, query))["data"]["partnershipStats"] == first
    # when: a partnership is imported
    await load(app.state.db, document(
        [place("kef", "Stat Keflavik", "SJ"), place("rey", "Stat Reykjavik", "SJ")],
        [partnership("kef", "rey")]))
    # then: the next answer counts it
    after = (await gql(client, query))["data"]["partnershipStats"]
    assert after["partnerships"] == first["partnerships"] + 1


REGIONS = """query ($filter: PartnershipFilter) { partnershipStats(filter: $filter) {
  byRegion(first: 10, country: "SJ") { key count } } }"""


async def test_regions_of_a_country_are_ranked_by_their_places_partnerships(
        app_and_client: tuple[Any, httpx.AsyncClient]) -> None:
    # given: three Icelandic places in two regions (one unknown) and their partnerships
    app, client = app_and_client
    await load(app.state.db, document(
        [place("a", "Region A1", "SJ", region="Capital Region"),
         place("b", "Region B1", "SJ", region="Northeastern Region"),
         place("c", "Region C1", "SJ"), place("x", "Region X", "SH")],
        [partnership("a", "x"), partnership("a", "b"), partnership("c", "x"),
         partnership("b", "x", kind="FRIENDSHIP")]))
    # when
    body = await gql(client, REGIONS, {"filter": None})
    # then: a partnership within Iceland counts once in each of its regions; no region, no row
    assert body["data"]["partnershipStats"]["byRegion"] == [
        {"key": "Capital Region", "count": 2}, {"key": "Northeastern Region", "count": 2}]
    friendly = await gql(client, REGIONS, {"filter": {"kind": ["FRIENDSHIP"]}})
    assert friendly["data"]["partnershipStats"]["byRegion"] == [
        {"key": "Northeastern Region", "count": 1}]
