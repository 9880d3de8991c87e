"""A fresh store answers the seed stories' questions, each fact with its source."""

from __future__ import annotations

import httpx
import pytest
from citylinks.db.engine import Database
from sqlalchemy import text

from tests.conftest import gql

PARTNERS = """query ($name: String!) { city(name: $name) { name localName level
  parent { name }
  partners(first: 50) { totalCount nodes { kind status since
    city { name country { code } }
    sectors { slug }
    partnership { milestones { date kind source { title publisher } } sources { title } } } } } }"""
PROVINCE = """query ($name: String!) { city(name: $name) { name level
  children { nodes { name } }
  partners(first: 50, includeSubdivisions: true) { nodes { city { name }
    partnership { cities { name } } } } } }"""


def _by_partner(body: dict[str, object]) -> dict[str, dict[str, object]]:
    city = body["data"]["city"]  # type: ignore[index]
    return {n["city"]["name"]: n for n in city["partners"]["nodes"]}  # type: ignore[index]


async def test_hai_phong_and_kitakyushu_went_from_mou_to_sister_cities(
        client: httpx.AsyncClient) -> None:
    partners = _by_partner(await gql(client, PARTNERS, {"name": "Hải Phòng"}))
    kitakyushu = partners["Kitakyushu"]
    # sister cities since the relationship was made official, not since the first MoU
    assert (kitakyushu["kind"], kitakyushu["status"], kitakyushu["since"]) == (
        "SISTER_CITY", "ACTIVE", "2014-04")
    milestones = kitakyushu["partnership"]["milestones"]  # type: ignore[index]
    assert [(m["date"], m["kind"]) for m in milestones] == [
        ("2009-04", "MOU_SIGNED"), ("2014-04", "FORMALIZED"), (None, "MOU_SIGNED")]
    assert all(m["source"]["title"] for m in milestones)
    assert "water" in {s["slug"] for s in kitakyushu["sectors"]}  # type: ignore[union-attr]


@pytest.mark.parametrize("spelling", ["Da Nang", "danang", "Đà Nẵng"])
async def test_da_nang_and_le_havre_are_negotiating_a_twinning(client: httpx.AsyncClient,
                                                              spelling: str) -> None:
    partners = _by_partner(await gql(client, PARTNERS, {"name": spelling}))
    le_havre = partners["Le Havre"]
    assert le_havre["kind"] == "SISTER_CITY" and le_havre["status"] == "NEGOTIATING"
    assert le_havre["since"] is None  # the story gives no date: none is invented
    sectors = {s["slug"] for s in le_havre["sectors"]}  # type: ignore[union-attr]
    assert {"education", "culture", "ports-logistics"} <= sectors


async def test_khanh_hoa_twinnings_with_us_cities_are_only_planned(
        client: httpx.AsyncClient) -> None:
    partners = _by_partner(await gql(client, PARTNERS, {"name": "Khanh Hoa"}))
    assert {name: p["status"] for name, p in partners.items()} == {
        "San Diego": "PROPOSED", "Boston": "PROPOSED"}


async def test_hue_city_is_inside_thua_thien_hue_province(client: httpx.AsyncClient) -> None:
    hue = (await gql(client, PARTNERS, {"name": "Hue"}))["data"]["city"]
    assert (hue["name"], hue["level"], hue["parent"]["name"]) == ("Hue", "CITY", "Thua Thien Hue")
    partners = _by_partner(await gql(client, PARTNERS, {"name": "Hue"}))
    assert partners["Shizuoka"]["since"] == "2005"
    assert partners["Kyoto"]["since"] == "2013-02"


async def test_province_view_includes_its_cities_partnerships(client: httpx.AsyncClient) -> None:
    body = await gql(client, PROVINCE, {"name": "Thừa Thiên Huế"})
    province = body["data"]["city"]
    assert province["level"] == "PROVINCE"
    assert "Hue" in [c["name"] for c in province["children"]["nodes"]]
    ends = [{c["name"] for c in n["partnership"]["cities"]} for n in province["partners"]["nodes"]]
    assert {"Hue", "Shizuoka"} in ends  # a city's partnership, naming its own place
    assert {"Thua Thien Hue", "Gifu Prefecture"} in ends


async def test_every_partnership_and_milestone_has_a_source(database: Database) -> None:
    async with database.read() as conn:
        unsourced = (await conn.execute(text(
            "SELECT count(*) FROM partnerships p WHERE NOT EXISTS "
            "(SELECT 1 FROM partnership_sources s WHERE s.partnership_id = p.id)"))).scalar_one()
        milestones = (await conn.execute(text(
            "SELECT count(*) FROM milestones WHERE source_id IS NULL"))).scalar_one()
        total = (await conn.execute(text("SELECT count(*) FROM partnerships"))).scalar_one()
    assert (unsourced, milestones) == (0, 0) and total > 10


async def test_dates_keep_the_precision_the_sources_give(client: httpx.AsyncClient) -> None:
    # the dated ones first: every dated partnership is on this page
    body = await gql(client, """{ partnerships(first: 100,
        orderBy: {field: SINCE, direction: DESC}) { nodes { since } } }""")
    assert body["data"]["partnerships"]["nodes"][-1]["since"] is None
    for node in body["data"]["partnerships"]["nodes"]:
        since = node["since"]
        assert since is None or len(since) in (4, 7), since  # "2005" or "2009-04", no days
