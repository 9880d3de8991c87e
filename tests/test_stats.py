"""Stats: counts by kind, status, sector, country and year that add up, and that agree with
the totalCount of the lists a client would page through."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.builders import document, load, partnership, place
from tests.conftest import gql

STATS = """{ stats {
  cities partnerships countries
  byKind { key count } byStatus { key count } bySector { key count }
  byCountry { key count } byYear { key count } } }"""
TOP_COUNTRIES = """query ($first: Int) { stats { byCountry(first: $first) { key count } } }"""
TOTALS = """{ cities(first: 0) { totalCount } partnerships(first: 0) { totalCount }
  countries { code partnershipCount } }"""
BY_KIND = """query ($kind: PartnershipKind!) {
  partnerships(first: 0, filter: {kind: [$kind]}) { totalCount } }"""
BY_STATUS = """query ($status: PartnershipStatus!) {
  partnerships(first: 0, filter: {status: [$status]}) { totalCount } }"""
BY_SECTOR = """query ($slug: String!) {
  partnerships(first: 0, filter: {sector: $slug}) { totalCount }
  sector(slug: $slug) { partnershipCount partnerships(first: 0) { totalCount } } }"""
BY_COUNTRY = """query ($code: String!) {
  partnerships(first: 0, filter: {country: $code}) { totalCount }
  country(code: $code) { partnershipCount } }"""
BY_YEAR = """query ($year: PartialDate!) {
  partnerships(first: 0, filter: {sinceFrom: $year, sinceTo: $year}) { totalCount } }"""


async def _within_one_country(database: Any) -> int:
    """An oracle in plain SQL, sharing no code with stats: partnerships inside one country."""
    async with database.read() as conn:
        return int((await conn.execute(text(
            "SELECT count(*) FROM partnerships p JOIN places a ON a.id = p.place_a_id "
            "JOIN places b ON b.id = p.place_b_id WHERE a.country_id = b.country_id"))
        ).scalar_one())


def _buckets(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {row["key"]: row["count"] for row in rows}


@pytest.fixture
async def base(app_and_client: tuple[Any, httpx.AsyncClient]) -> dict[str, Any]:
    """The bundled data's stats, before the constructed set is added."""
    return (await gql(app_and_client[1], STATS))["data"]["stats"]  # type: ignore[no-any-return]


def _added(after: list[dict[str, Any]], before: list[dict[str, Any]]) -> dict[str, int]:
    old = _buckets(before)
    return {k: n - old.get(k, 0) for k, n in _buckets(after).items() if n != old.get(k, 0)}


@pytest.fixture
async def grown(app_and_client: tuple[Any, httpx.AsyncClient],
                base: dict[str, Any]) -> httpx.AsyncClient:
    """The bundled data plus a constructed set whose counts are known."""
    app, client = app_and_client
    await load(app.state.db, document(
        [place("a", "Stat A", "BR"), place("b", "Stat B", "BR"), place("c", "Stat C", "AR"),
         place("d", "Stat D", "CL"), place("e", "Stat E", "UY")],
        [partnership("a", "c", since="2018-05", sectors=["sports", "trade"]),
         partnership("a", "d", kind="FRIENDSHIP", since="2018", sectors=["sports"]),
         partnership("b", "c", kind="COOPERATION", status="ENDED", since="1999",
                     until="2004"),
         partnership("a", "b", status="SUSPENDED"),
         partnership("d", "e", kind="FRIENDSHIP", status="PROPOSED", since="2024-02-29")]))
    return client


async def test_every_breakdown_adds_up_to_the_partnerships(
        grown: httpx.AsyncClient, app_and_client: tuple[Any, httpx.AsyncClient]) -> None:
    stats = (await gql(grown, STATS))["data"]["stats"]
    totals = (await gql(grown, TOTALS))["data"]
    assert stats["partnerships"] == totals["partnerships"]["totalCount"]
    assert stats["cities"] == totals["cities"]["totalCount"]
    assert stats["countries"] == len(totals["countries"])
    assert sum(_buckets(stats["byKind"]).values()) == stats["partnerships"]
    assert sum(_buckets(stats["byStatus"]).values()) == stats["partnerships"]
    # a partnership counts once in each of its two countries, once if both are one country
    assert sum(_buckets(stats["byCountry"]).values()) == (
        2 * stats["partnerships"] - await _within_one_country(app_and_client[0].state.db))


async def test_known_counts_of_a_constructed_set(grown: httpx.AsyncClient,
                                                 base: dict[str, Any]) -> None:
    stats = (await gql(grown, STATS))["data"]["stats"]
    assert stats["partnerships"] == base["partnerships"] + 5
    assert stats["cities"] == base["cities"] + 5
    assert _added(stats["byKind"], base["byKind"]) == {
        "SISTER_CITY": 2, "FRIENDSHIP": 2, "COOPERATION": 1}
    assert _added(stats["byStatus"], base["byStatus"]) == {
        "ACTIVE": 2, "PROPOSED": 1, "SUSPENDED": 1, "ENDED": 1}
    assert _added(stats["bySector"], base["bySector"]) == {"sports": 2, "trade": 1}
    assert _added(stats["byCountry"], base["byCountry"]) == {
        "BR": 4, "AR": 2, "CL": 2, "UY": 1}
    assert _added(stats["byYear"], base["byYear"]) == {"1999": 1, "2018": 2, "2024": 1}


async def test_buckets_are_ordered_for_reading(grown: httpx.AsyncClient) -> None:
    stats = (await gql(grown, STATS))["data"]["stats"]
    years = [b["key"] for b in stats["byYear"]]
    assert years == sorted(years)
    for name in ("bySector", "byCountry"):
        rows = [(-b["count"], b["key"]) for b in stats[name]]
        assert rows == sorted(rows), name


async def test_every_bucket_matches_the_total_count_of_its_filtered_list(
        grown: httpx.AsyncClient) -> None:
    stats = (await gql(grown, STATS))["data"]["stats"]
    for kind, count in _buckets(stats["byKind"]).items():
        body = await gql(grown, BY_KIND, {"kind": kind})
        assert body["data"]["partnerships"]["totalCount"] == count, kind
    for status, count in _buckets(stats["byStatus"]).items():
        body = await gql(grown, BY_STATUS, {"status": status})
        assert body["data"]["partnerships"]["totalCount"] == count, status
    for slug, count in _buckets(stats["bySector"]).items():
        data = (await gql(grown, BY_SECTOR, {"slug": slug}))["data"]
        assert data["partnerships"]["totalCount"] == count, slug
        assert data["sector"]["partnershipCount"] == count, slug
        assert data["sector"]["partnerships"]["totalCount"] == count, slug
    for code, count in _buckets(stats["byCountry"]).items():
        data = (await gql(grown, BY_COUNTRY, {"code": code}))["data"]
        assert data["partnerships"]["totalCount"] == count, code
        assert data["country"]["partnershipCount"] == count, code
    for year, count in _buckets(stats["byYear"]).items():
        body = await gql(grown, BY_YEAR, {"year": year})
        assert body["data"]["partnerships"]["totalCount"] == count, year


async def test_by_country_first_keeps_the_leading_countries(grown: httpx.AsyncClient) -> None:
    every = (await gql(grown, TOP_COUNTRIES, {"first": None}))["data"]["stats"]["byCountry"]
    top = (await gql(grown, TOP_COUNTRIES, {"first": 3}))["data"]["stats"]["byCountry"]
    assert top == every[:3]
    leader = (await gql(grown, BY_COUNTRY, {"code": every[0]["key"]}))["data"]
    assert leader["country"]["partnershipCount"] == every[0]["count"]
    assert every[0]["count"] >= max(b["count"] for b in every)


async def test_stats_follow_a_new_import(grown: httpx.AsyncClient,
                                         app_and_client: tuple[Any, httpx.AsyncClient]) -> None:
    before = (await gql(grown, STATS))["data"]["stats"]
    await load(app_and_client[0].state.db, document(
        [place("x", "Stat X", "TO"), place("a", "Stat A", "BR")],
        [partnership("x", "a", since="2018-07")]))
    after = (await gql(grown, STATS))["data"]["stats"]
    assert after["partnerships"] == before["partnerships"] + 1
    assert after["countries"] == before["countries"] + 1
    assert _buckets(after["byYear"])["2018"] == _buckets(before["byYear"])["2018"] + 1


@pytest.mark.parametrize("first", [-1, 101, 1_000_000_000])
async def test_by_country_first_outside_0_to_100_is_bad_user_input(
        client: httpx.AsyncClient, first: int) -> None:
    body = await gql(client, TOP_COUNTRIES, {"first": first})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "first"
    assert body["data"] is None
