"""Import and export: the CSV, Wikidata and JSON readers, the three writers, round trips,
and the 10,596 real Wikidata twinnings loaded whole."""

from __future__ import annotations

import asyncio
import csv
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from citylinks.cli import main
from citylinks.db.bootstrap import bundled_document
from citylinks.db.engine import create_database
from citylinks.db.models import Base
from citylinks.settings import Settings
from citylinks.transfer.formats import CSV_COLUMNS
from sqlalchemy import func, select

from tests.conftest import TWINNINGS, gql, running_app
from tests.stores import pg_database_url, pg_execute

STATS = """
{
  stats {
    cities partnerships countries
    byKind { key count } byStatus { key count } bySector { key count }
    byCountry { key count } byYear { key count }
  }
}
"""
CITY = """
query City($name: String!, $country: String) {
  city(name: $name, country: $country) {
    name wikidataId latitude longitude country { code }
    partnerships { nodes { kind status since until sources { url title }
                           cities { wikidataId } } }
  }
}
"""
TWINNINGS_CSV = TWINNINGS / "twinnings-import.csv"
WIKIDATA_SAMPLE = Path(__file__).parent / "data" / "wikidata-twinnings-sample.json"
HEADER = ",".join(CSV_COLUMNS)
# Made-up Wikidata ids (far above any real item's) for made-up rows.
GOOD_ROW = ("Hoi An,VN,Q990000001,15.88,108.33,Nara,JP,Q990000002,34.685,135.805,"
            "SISTER_CITY,ACTIVE,1998,,culture;tourism,https://example.org/a,A story")


def needs_twinnings() -> None:
    if not TWINNINGS_CSV.is_file():
        pytest.skip(f"the real twinnings file {TWINNINGS_CSV.name} is not present next to the "
                    "repository (it is shared data, never copied into it)")


# ---------------------------------------------------------------- helpers


def query(url: str, document: str, **variables: Any) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async with running_app(Settings(db_url=url)) as (_, client):
            body = await gql(client, document, variables)
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]

    return asyncio.run(run())


def stats(url: str) -> dict[str, Any]:
    return query(url, STATS)["stats"]  # type: ignore[no-any-return]


def row_counts(url: str) -> dict[str, int]:
    async def run() -> dict[str, int]:
        database = create_database(url)
        try:
            async with database.read() as conn:
                return {t.name: (await conn.execute(select(func.count()).select_from(t)))
                        .scalar_one() for t in Base.metadata.sorted_tables}
        finally:
            await database.dispose()

    return asyncio.run(run())


def cli(*args: str) -> int:
    return main(list(args))


def export(url: str, fmt: str, tmp_path: Path) -> str:
    target = tmp_path / f"export-{uuid.uuid4().hex[:6]}.{fmt}"
    assert cli("export", "--format", fmt, "-o", str(target), "--db", url) == 0
    return target.read_text(encoding="utf-8")


def canonical(document: dict[str, Any]) -> dict[str, Any]:
    """The document with refs replaced by what they name, so two stores compare by content."""
    places = {p["ref"]: p for p in document["places"]}

    def name(ref: str | None) -> Any:
        if ref is None:
            return None
        p = places[ref]
        return (p["wikidataId"], p["name"], p["country"], p["level"])

    organizations = {o["ref"]: (o["name"], o["kind"], name(o["place"]))
                     for o in document["organizations"]}
    return {
        "places": sorted(json.dumps({**p, "ref": None, "parent": name(p["parent"])},
                                    sort_keys=True) for p in document["places"]),
        "organizations": sorted(organizations.values(), key=repr),
        "partnerships": sorted(json.dumps(
            {**p, "places": sorted([name(r) for r in p["places"]], key=repr),
             "organizations": sorted([organizations[o] for o in p["organizations"]], key=repr)},
            sort_keys=True) for p in document["partnerships"]),
    }


@pytest.fixture
def empty_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it yet, on the same backend as `db_url`."""
    if db_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"citylinks_empty_{uuid.uuid4().hex[:10]}"
    asyncio.run(pg_execute(f'CREATE DATABASE "{name}"'))
    yield pg_database_url(name)
    asyncio.run(pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- the real twinnings


def _expected_after_twinnings() -> tuple[int, int, int]:
    """(cities, partnerships, countries) once the twinnings join the bundled data."""
    seed = bundled_document()
    seed_qids = {p["ref"]: p["wikidataId"] for p in seed["places"]}
    with TWINNINGS_CSV.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    csv_places = {(r[f"{s}_wikidata"], r[f"{s}_country"]) for r in rows for s in "ab"}
    new_places = {q for q, _ in csv_places} - set(seed_qids.values())
    seed_pairs = {(frozenset((seed_qids[a], seed_qids[b])), p["kind"])
                  for p in seed["partnerships"] for a, b in [p["places"]]}
    csv_pairs = {(frozenset((r["a_wikidata"], r["b_wikidata"])), r["kind"]) for r in rows}
    countries = {c for _, c in csv_places} | {p["country"] for p in seed["places"]}
    return (len(seed["places"]) + len(new_places),
            len(seed["partnerships"]) + len(csv_pairs - seed_pairs), len(countries))


@pytest.mark.slow
def test_the_twinnings_load_whole_once_and_round_trip_into_an_empty_store(
        db_url: str, empty_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    needs_twinnings()
    # when: the 10,596 pairs are imported into the store with the bundled data (the world)
    assert cli("import", str(TWINNINGS_CSV), "--format", "csv", "--db", db_url) == 0
    progress = capsys.readouterr().err
    # (the bundled world holds these pairs already: only the story's Huế-Shizuoka, a
    # COOPERATION, gains Wikidata's SISTER_CITY beside it)
    assert re.search(r"partnerships: (\d+)/\1\n.*committed", progress, re.DOTALL), progress
    # then: stats counts every place and pair, the bundled ones matched, not duplicated
    loaded = stats(db_url)
    cities, partnerships, countries = _expected_after_twinnings()
    assert (loaded["cities"], loaded["partnerships"], loaded["countries"]) == (
        cities, partnerships, countries)
    assert {b["key"] for b in loaded["byCountry"]} >= {"XK", "XC", "XS", "NA", "VN"}
    # Two Wikidata items called Huế in Vietnam: the bundled city and a second one.
    hue = query(db_url, '{ cities(filter: {nameContains: "Huế", country: "VN"}, first: 10) '
                        "{ nodes { wikidataId } } }")["cities"]["nodes"]
    assert {"Q36167", "Q36399"} <= {c["wikidataId"] for c in hue}
    # a second import adds nothing
    before = row_counts(db_url)
    assert cli("import", str(TWINNINGS_CSV), "--format", "csv", "--db", db_url) == 0
    assert "partnerships: 0 new, 10596 already present" in capsys.readouterr().out
    assert row_counts(db_url)["places"] == before["places"]
    assert {k: v for k, v in row_counts(db_url).items() if k not in ("change_log",)} == {
        k: v for k, v in before.items() if k not in ("change_log",)}
    # an export imported into an empty store gives the same stats and the same content
    exported = export(db_url, "json", tmp_path)
    path = write(tmp_path, "all.json", exported)
    assert cli("import", str(path), "--db", empty_url) == 0
    assert stats(empty_url) == loaded
    assert canonical(json.loads(export(empty_url, "json", tmp_path))) == \
        canonical(json.loads(exported))


# ---------------------------------------------------------------- JSON round trips


def test_an_export_of_the_bundled_data_reimports_with_nothing_lost(
        db_url: str, empty_url: str, tmp_path: Path) -> None:
    exported = export(db_url, "json", tmp_path)
    document = json.loads(exported)
    assert document["format"] == "citylinks" and document["version"] == 1
    assert any(p["milestones"] for p in document["partnerships"])
    assert any(p["organizations"] for p in document["partnerships"])
    assert any(place["parent"] for place in document["places"])
    assert cli("import", str(write(tmp_path, "seed.json", exported)), "--db", empty_url) == 0
    again = json.loads(export(empty_url, "json", tmp_path))
    assert canonical(again) == canonical(document)
    assert stats(empty_url) == stats(db_url)


def test_importing_the_same_json_twice_changes_nothing(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "seed.json", export(db_url, "json", tmp_path))
    before = row_counts(db_url)
    assert cli("import", str(path), "--db", db_url) == 0
    after = row_counts(db_url)
    assert {k: v for k, v in after.items() if k != "change_log"} == \
        {k: v for k, v in before.items() if k != "change_log"}


# ---------------------------------------------------------------- CSV and GeoJSON


def test_the_csv_export_has_the_contract_layout_and_loads_back(
        db_url: str, empty_url: str, tmp_path: Path) -> None:
    exported = export(db_url, "csv", tmp_path)
    lines = exported.splitlines()
    assert lines[0] == HEADER
    rows = list(csv.DictReader(lines))
    assert len(rows) == stats(db_url)["partnerships"]
    haiphong = next(r for r in rows if "Hai Phong" in (r["a_name"], r["b_name"]))
    assert haiphong["since"] == "2014-04" and ";" in haiphong["sectors"]
    assert cli("import", str(write(tmp_path, "seed.csv", exported)), "--db", empty_url) == 0
    loaded, original = stats(empty_url), stats(db_url)
    for key in ("partnerships", "byKind", "byStatus", "bySector", "byYear"):
        assert loaded[key] == original[key], key


def test_the_geojson_export_has_a_point_per_place_and_a_line_per_partnership(
        db_url: str, tmp_path: Path) -> None:
    collection = json.loads(export(db_url, "geojson", tmp_path))
    assert collection["type"] == "FeatureCollection"
    points = [f for f in collection["features"] if f["geometry"]["type"] == "Point"]
    lines = [f for f in collection["features"] if f["geometry"]["type"] == "LineString"]
    counts = stats(db_url)
    # a point per place with coordinates (Cam Lâm has none), a line per partnership
    unplaced = sum(1 for p in bundled_document()["places"] if p.get("latitude") is None)
    assert unplaced == 1
    assert len(points) == counts["cities"] - unplaced
    assert len(lines) == counts["partnerships"]
    da_nang = next(p for p in points if p["properties"]["name"] == "Da Nang")
    assert da_nang["geometry"]["coordinates"] == [108.209722222, 16.069444444]
    da_nang_lines = [line for line in lines
                     if da_nang["id"] in line["properties"]["cityIds"]]
    assert da_nang["properties"]["partnerCount"] == len(da_nang_lines) > 1
    assert all(len(line["geometry"]["coordinates"]) == 2 for line in lines)


def test_the_geojson_export_leaves_out_what_has_no_coordinates(
        db_url: str, tmp_path: Path) -> None:
    document = ("Nowhere,FR,,,,Somewhere,DE,,,,SISTER_CITY,ACTIVE,,,,,\n"
                "Nowhere,FR,,,,Da Nang,VN,Q25282,16.069444444,108.209722222,"
                "FRIENDSHIP,ACTIVE,,,,,\n")
    assert cli("import", str(write(tmp_path, "no-coordinates.csv", f"{HEADER}\n{document}")),
               "--db", db_url) == 0
    collection = json.loads(export(db_url, "geojson", tmp_path))
    named = [f["properties"].get("name") for f in collection["features"]]
    assert "Nowhere" not in named and "Somewhere" not in named
    lines = [f for f in collection["features"] if f["geometry"]["type"] == "LineString"]
    assert not any("Nowhere" in f["properties"]["cities"] for f in lines)


# ---------------------------------------------------------------- Wikidata


def test_wikidata_results_load_with_dates_at_their_precision_and_pairs_merged(
        stories_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    # The stories alone: the world already holds these pairs, undated.
    db_url = stories_db_url
    before = stats(db_url)
    assert cli("import", str(WIKIDATA_SAMPLE), "--format", "wikidata", "--db", db_url) == 0
    # 12 items, of which Da Nang (Q25282) and Huế (Q36167) are bundled already;
    # 9 statements, two pairs stated from both sides, one "unknown value" twin.
    assert "6 added, 0 ended, 0 no longer on Wikidata, 0 updated, 0 unchanged, 1 skipped; " \
        "10 new places" in capsys.readouterr().out
    after = stats(db_url)
    assert after["cities"] == before["cities"] + 10
    assert after["partnerships"] == before["partnerships"] + 6
    paris = query(db_url, CITY, name="Paris")["city"]
    [rome] = paris["partnerships"]["nodes"]
    assert (rome["kind"], rome["status"], rome["since"]) == ("SISTER_CITY", "ACTIVE", "1956-01-30")
    assert rome["sources"] == [{"url": "https://www.wikidata.org/wiki/Property:P190",
                                "title": "Wikidata: twinned administrative body (P190)"}]
    assert (paris["latitude"], paris["longitude"]) == (48.856666666, 2.352222222)
    tokyo = query(db_url, CITY, name="Tokyo")["city"]["partnerships"]["nodes"]
    assert [p["since"] for p in tokyo] == ["1960-02-29"]
    moscow = query(db_url, CITY, name="Moscow")["city"]["partnerships"]["nodes"]
    assert [(p["status"], p["until"]) for p in moscow] == [("ENDED", "2022")]
    assert query(db_url, CITY, name="Pristina")["city"]["country"]["code"] == "XK"
    da_nang = query(db_url, CITY, name="Da Nang")["city"]["partnerships"]["nodes"]
    assert any({"wikidataId": "Q1342"} in p["cities"] for p in da_nang)


def test_a_wikidata_json_file_is_recognised_without_format(db_url: str) -> None:
    assert cli("import", str(WIKIDATA_SAMPLE), "--db", db_url) == 0
    before = row_counts(db_url)
    assert cli("import", str(WIKIDATA_SAMPLE), "--db", db_url) == 0
    after = row_counts(db_url)
    assert {k: v for k, v in after.items() if k != "change_log"} == \
        {k: v for k, v in before.items() if k != "change_log"}


def test_a_stored_place_without_a_wikidata_id_takes_the_one_an_import_brings(
        db_url: str, tmp_path: Path) -> None:
    row = ("Khanh Hoa,VN,Q990000003,12.25,109.1833,Nara,JP,Q990000002,34.685,135.805,"
           "FRIENDSHIP,ACTIVE,,,,,")
    before = stats(db_url)["cities"]
    assert cli("import", str(write(tmp_path, "k.csv", f"{HEADER}\n{row}\n")), "--db",
               db_url) == 0
    assert stats(db_url)["cities"] == before + 1  # Nara only
    assert query(db_url, CITY, name="Khanh Hoa")["city"]["wikidataId"] == "Q990000003"


# ---------------------------------------------------------------- bad files


@pytest.mark.parametrize(("text", "where", "reason"), [
    (HEADER.replace(",since", "") + "\n" + GOOD_ROW, "line 1", "since"),
    (f"{HEADER}\n{GOOD_ROW}\n{GOOD_ROW.replace(',1998,', ',1998-13,')}", "line 3", "month"),
    (f"{HEADER}\n{GOOD_ROW.replace('Nara,JP', 'Nara,ZZ')}", "line 2", "'ZZ'"),
    (f"{HEADER}\n{GOOD_ROW}\n{GOOD_ROW.replace('15.88', 'north')}", "line 3", "not a number"),
    (f"{HEADER}\n{GOOD_ROW.replace('SISTER_CITY', 'TWIN')}", "line 2", "TWIN"),
    (f"{HEADER}\n{GOOD_ROW.replace('culture;', 'knitting;')}", "line 2", "knitting"),
], ids=["missing-column", "bad-date", "unknown-country", "bad-number", "bad-kind",
        "unknown-sector"])
def test_a_bad_csv_file_writes_nothing_and_says_where_and_why(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        text: str, where: str, reason: str) -> None:
    before = row_counts(db_url)
    assert cli("import", str(write(tmp_path, "bad.csv", text + "\n")), "--db", db_url) == 1
    error = capsys.readouterr().err
    assert "nothing was written" in error
    problem = next(line for line in error.splitlines() if line.startswith(where))
    assert reason in problem
    assert row_counts(db_url) == before


@pytest.mark.parametrize(("content", "reason"), [
    ('{"head": {"vars": ["place"]}, "results": {"bindings": []}}', "missing variable"),
    ('{"head": {"vars": []},\n "results": ', "line 2: not valid JSON"),
    ('[1, 2, 3]', "not a Wikidata query service result"),
])
def test_a_bad_wikidata_file_writes_nothing_and_says_why(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        content: str, reason: str) -> None:
    before = row_counts(db_url)
    path = write(tmp_path, "bad.json", content)
    assert cli("import", str(path), "--format", "wikidata", "--db", db_url) == 1
    assert reason in capsys.readouterr().err
    assert row_counts(db_url) == before


def test_wikidata_results_with_an_unknown_country_skip_that_pair_and_name_the_result(
        stories_db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The stories alone: the bundled world already holds Pristina, with its country.
    db_url = stories_db_url
    data = json.loads(WIKIDATA_SAMPLE.read_text(encoding="utf-8"))
    data["results"]["bindings"][6]["placeCountry"]["value"] = "QQ"
    path = write(tmp_path, "bad-country.json", json.dumps(data))
    assert cli("import", str(path), "--format", "wikidata", "--db", db_url) == 0
    out = capsys.readouterr().out
    assert "result 7: Q25270 (Pristina): unknown country code 'QQ'" in out
    assert query(db_url, CITY, name="Pristina")["city"] is None
    assert query(db_url, CITY, name="Paris")["city"]["partnerships"]["nodes"]


def test_a_missing_file_is_an_error(db_url: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("import", str(tmp_path / "nope.csv"), "--db", db_url) == 1
    assert "no such file" in capsys.readouterr().err
