"""`citylinks import --format wikidata`: the answer fetched from a SPARQL endpoint (here a local
HTTP server replaying recorded answers) and reconciled with the store.

tests/data/wikidata-replay/: `answer-1.json` is an answer in the query service's format for
the query of docs/wikidata-twinnings.rq (real items and pairs; statement ids and qualifiers
made for the test); `answer-2.json` is the same answer a while later, edited by hand: Incheon -
Kitakyushu added, Dalian - Kitakyushu given an end (P582), Haiphong - Seattle gone.
`curated.json` is a curated story (Hai Phong - Kitakyushu, with a news source).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from citylinks.db.engine import create_database
from citylinks.db.models import StoreState
from citylinks.transfer.wikidata_fetch import twinning_query
from sqlalchemy import select

from tests.conftest import free_port
from tests.stores import POSTGRES_COPIES, fresh_store, pg_database_url, pg_execute
from tests.test_import_export import cli, query, row_counts

REPLAY = Path(__file__).parent / "data" / "wikidata-replay"
ANSWER_1 = (REPLAY / "answer-1.json").read_bytes()
ANSWER_2 = (REPLAY / "answer-2.json").read_bytes()
CURATED = REPLAY / "curated.json"

PARTNERSHIPS = """
query Partnerships($name: String!) {
  city(name: $name) {
    partnerships(first: 50) {
      nodes {
        cities { wikidataId }
        kind status since until description
        sectors { slug }
        milestones { date kind description source { title } }
        sources { title url publisher license withdrawnOn }
      }
    }
  }
}
"""
CITY = """
query City($name: String!) {
  city(name: $name) { name wikidataId latitude longitude country { code } }
}
"""


# ---------------------------------------------------------------- the replay server


@dataclass
class Reply:
    status: int = 200
    body: bytes = ANSWER_1
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    at: float


class Replay:
    """An HTTP server on a free loopback port answering each request with the next reply
    (the last one again once they run out), recording what it received."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.received: list[Received] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                replay.received.append(Received(parts.path, parse_qs(parts.query),
                                                dict(self.headers), time.monotonic()))
                reply = replay.replies.pop(0) if len(replay.replies) > 1 else replay.replies[0]
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/sparql-results+json")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args: Any) -> None:
                """Quiet: the test reads `received` instead."""

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/sparql"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, *replies: Reply) -> Replay:
        self.replies, self.received = list(replies), []
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def replay_server() -> Iterator[Replay]:
    server = Replay()
    yield server
    server.close()


@pytest.fixture
def replay(replay_server: Replay) -> Replay:
    return replay_server.serve(Reply())


@pytest.fixture(scope="module")
def curated_templates(tmp_path_factory: pytest.TempPathFactory,
                      pg_available: bool) -> Iterator[dict[str, str]]:
    """Per backend, a store holding only the curated story, to copy for each test (not the
    bundled data: an update that holds every statement speaks for the whole store)."""
    out = {"sqlite": str(tmp_path_factory.mktemp("curated") / "curated.db")}
    assert cli("import", str(CURATED), "--db", f"sqlite+aiosqlite:///{out['sqlite']}") == 0
    if pg_available:
        out["postgresql"] = f"citylinks_wd_tpl_{uuid.uuid4().hex[:8]}"
        asyncio.run(pg_execute(f'CREATE DATABASE "{out["postgresql"]}"'))
        assert cli("import", str(CURATED), "--db", pg_database_url(out["postgresql"])) == 0
    yield out
    if "postgresql" in out:
        POSTGRES_COPIES.retire(out["postgresql"])


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, curated_templates: dict[str, str],
          tmp_path: Path) -> Iterator[str]:
    """A fresh copy of the curated store, on each backend in turn."""
    url, cleanup = fresh_store(request.param, curated_templates, tmp_path)
    yield url
    cleanup()


@pytest.fixture
def sqlite_store(curated_templates: dict[str, str], tmp_path: Path) -> str:
    """The curated store on SQLite alone: for answers refused before the store is opened."""
    url, _ = fresh_store("sqlite", curated_templates, tmp_path)
    return url


def update(url: str, endpoint: str, *extra: str) -> int:
    return cli("import", "--format", "wikidata", "--endpoint", endpoint, "--db", url, *extra)


def partnerships(url: str, name: str) -> dict[frozenset[str], dict[str, Any]]:
    nodes = query(url, PARTNERSHIPS, name=name)["city"]["partnerships"]["nodes"]
    return {frozenset(c["wikidataId"] for c in p["cities"]): p for p in nodes}


def data_version(url: str) -> int:
    async def run() -> int:
        database = create_database(url)
        try:
            async with database.read() as conn:
                return int((await conn.execute(select(StoreState.data_version))).scalar_one())
        finally:
            await database.dispose()

    return asyncio.run(run())


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


HP_KK = frozenset({"Q72818", "Q188806"})


# ---------------------------------------------------------------- fetching


def test_an_update_asks_the_endpoint_the_documented_query_naming_the_product(
        store: str, replay: Replay, tmp_path: Path) -> None:
    saved = tmp_path / "answer.json"
    assert update(store, replay.endpoint, "--save", str(saved)) == 0
    assert json.loads(saved.read_text("utf-8")) == json.loads(ANSWER_1)
    [request] = replay.received
    assert request.path == "/sparql"
    assert request.query["query"] == [twinning_query()]
    assert "?statement" in twinning_query() and "pqv:P582" in twinning_query()
    assert request.headers["Accept"] == "application/sparql-results+json"
    version = metadata.version("citylinks")
    assert request.headers["User-Agent"].startswith(
        f"citylinks/{version} (https://github.com/citylinks/citylinks")


def test_without_a_file_only_the_wikidata_format_can_fetch(
        sqlite_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("import", "--format", "csv", "--db", sqlite_store) == 2
    assert "give a FILE, or --format wikidata" in capsys.readouterr().err


def test_the_documentation_shows_the_query_the_command_sends() -> None:
    shown = (Path(__file__).parent.parent / "docs" / "wikidata.md").read_text("utf-8")
    sent = "".join(line for line in twinning_query().splitlines(keepends=True)
                   if not line.startswith("#"))
    assert f"```sparql\n{sent}```" in shown


def test_the_contact_setting_goes_into_the_user_agent(
        sqlite_store: str, replay: Replay, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYLINKS_WIKIDATA_CONTACT", "ops@example.org")
    monkeypatch.setenv("CITYLINKS_WIKIDATA_ENDPOINT", replay.endpoint)
    assert cli("import", "--format", "wikidata", "--db", sqlite_store) == 0
    [request] = replay.received
    assert "; ops@example.org)" in request.headers["User-Agent"]


# ---------------------------------------------------------------- reconciling


def test_a_first_update_adds_the_pairs_and_places_and_keeps_the_curated_record(
        store: str, replay: Replay, capsys: pytest.CaptureFixture[str]) -> None:
    # given
    curated_before = partnerships(store, "Hai Phong")[HP_KK]
    capsys.readouterr()
    # when
    assert update(store, replay.endpoint) == 0
    # then
    out = capsys.readouterr().out
    assert "6 pairs in the answer: 4 added, 0 ended, 0 no longer on Wikidata, 1 updated, " \
        "0 unchanged, 2 skipped; 5 new places" in out
    assert "Dalian (CN) - Kitakyushu (JP), since 1979" in out
    assert "result 7 (Q74881): twinned with an unknown value" in out
    assert "Q168652 (Hargeisa) has no ISO 3166-1 country code on Wikidata" in out
    seattle = query(store, CITY, name="Seattle")["city"]
    assert seattle == {"name": "Seattle", "wikidataId": "Q5083", "latitude": 47.605,
                       "longitude": -122.33, "country": {"code": "US"}}
    kitakyushu = partnerships(store, "Kitakyushu")
    tacoma = kitakyushu[frozenset({"Q188806", "Q199797"})]
    assert (tacoma["kind"], tacoma["status"], tacoma["since"]) == ("SISTER_CITY", "ACTIVE",
                                                                   "1959")
    [source] = tacoma["sources"]
    assert source["url"].startswith("https://www.wikidata.org/wiki/Q188806#Q188806$")
    assert (source["publisher"], source["license"], source["withdrawnOn"]) == \
        ("Wikidata", "CC0 1.0", None)
    curated = kitakyushu[HP_KK]
    # The curated record keeps every fact; both statements join its sources.
    assert {k: v for k, v in curated.items() if k != "sources"} == \
        {k: v for k, v in curated_before.items() if k != "sources"}
    assert curated["sources"][0] == curated_before["sources"][0]
    assert sorted(s["url"].split("#")[1].split("$")[0] for s in curated["sources"][1:]) == \
        ["Q188806", "Q72818"]


def test_a_later_answer_adds_ends_and_marks_the_pairs_wikidata_no_longer_has(
        store: str, replay: Replay, capsys: pytest.CaptureFixture[str]) -> None:
    # given
    assert update(store, replay.serve(Reply(body=ANSWER_1)).endpoint) == 0
    curated_before = partnerships(store, "Hai Phong")[HP_KK]
    capsys.readouterr()
    # when
    assert update(store, replay.serve(Reply(body=ANSWER_2)).endpoint) == 0
    # then
    out = capsys.readouterr().out
    assert "6 pairs in the answer: 1 added, 1 ended, 1 no longer on Wikidata, 0 updated, " \
        "3 unchanged, 2 skipped; 1 new places" in out
    assert "added:\n  Incheon (KR) - Kitakyushu (JP)\n" in out
    assert "ended:\n  Dalian (CN) - Kitakyushu (JP): until 2025\n" in out
    assert f"  Hai Phong (VN) - Seattle (US): withdrawn on {today()}\n" in out
    kitakyushu = partnerships(store, "Kitakyushu")
    dalian = kitakyushu[frozenset({"Q188806", "Q74881"})]
    assert (dalian["status"], dalian["since"], dalian["until"]) == ("ENDED", "1979", "2025")
    assert kitakyushu[frozenset({"Q188806", "Q20934"})]["status"] == "ACTIVE"
    hai_phong = partnerships(store, "Hai Phong")
    seattle = hai_phong[frozenset({"Q72818", "Q5083"})]
    assert seattle["status"] == "ACTIVE"  # kept, and marked through its source
    assert [s["withdrawnOn"] for s in seattle["sources"]] == [today()]
    assert hai_phong[HP_KK] == curated_before


def test_pairs_sourced_by_the_p190_claim_get_statements_or_their_own_withdrawn_source(
        store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # given two pairs sourced, as the bundled world is, by one shared claim source (an
    # item's P190 section, without statement ids)
    claim = {"title": "Wikidata: Kitakyushu (Q188806), twinned administrative body (P190)",
             "url": "https://www.wikidata.org/wiki/Q188806#P190", "publisher": "Wikidata"}
    world = {"format": "citylinks", "version": 1, "organizations": [], "places": [
        {"ref": "k", "name": "Kitakyushu", "country": "JP", "wikidataId": "Q188806"},
        {"ref": "t", "name": "Tacoma", "country": "US", "wikidataId": "Q199797"},
        {"ref": "n", "name": "Norfolk", "country": "US", "wikidataId": "Q49231"}],
        "partnerships": [{"places": ["k", other], "kind": "SISTER_CITY", "status": "ACTIVE",
                          "sources": [claim]} for other in ("t", "n")]}
    path = tmp_path / "world.json"
    path.write_text(json.dumps(world), encoding="utf-8")
    assert cli("import", str(path), "--db", store) == 0
    capsys.readouterr()
    # when the whole answer has Kitakyushu - Tacoma and not Kitakyushu - Norfolk
    assert cli("import", str(REPLAY / "answer-1.json"), "--complete", "--db", store) == 0
    # then Tacoma's claim gives way to its statement, and Norfolk is marked on a source of
    # its own (the shared claim source is not the pair's to mark)
    assert f"  Kitakyushu (JP) - Norfolk (US): withdrawn on {today()}\n" in \
        capsys.readouterr().out
    kitakyushu = partnerships(store, "Kitakyushu")
    [tacoma] = kitakyushu[frozenset({"Q188806", "Q199797"})]["sources"]
    assert "#Q188806$" in tacoma["url"] and tacoma["withdrawnOn"] is None
    assert kitakyushu[frozenset({"Q188806", "Q199797"})]["since"] == "1959"
    [norfolk] = kitakyushu[frozenset({"Q188806", "Q49231"})]["sources"]
    assert norfolk == {"title": f"{claim['title']}: Norfolk (Q49231)", "url": claim["url"],
                       "publisher": "Wikidata", "license": "CC0 1.0", "withdrawnOn": today()}


def test_the_mark_survives_a_json_export_and_import(
        sqlite_store: str, replay: Replay, tmp_path: Path) -> None:
    assert update(sqlite_store, replay.serve(Reply(body=ANSWER_1)).endpoint) == 0
    assert update(sqlite_store, replay.serve(Reply(body=ANSWER_2)).endpoint) == 0
    exported = tmp_path / "export.json"
    assert cli("export", "-o", str(exported), "--db", sqlite_store) == 0
    copy = f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}"
    assert cli("import", str(exported), "--db", copy) == 0
    seattle = partnerships(copy, "Seattle")[frozenset({"Q72818", "Q5083"})]
    assert [s["withdrawnOn"] for s in seattle["sources"]] == [today()]


def test_the_same_answer_again_changes_nothing_and_says_so(
        store: str, replay: Replay, capsys: pytest.CaptureFixture[str]) -> None:
    assert update(store, replay.serve(Reply(body=ANSWER_1)).endpoint) == 0
    assert update(store, replay.serve(Reply(body=ANSWER_2)).endpoint) == 0
    before, version = row_counts(store), data_version(store)
    capsys.readouterr()
    assert update(store, replay.serve(Reply(body=ANSWER_2)).endpoint) == 0
    out = capsys.readouterr().out
    assert "0 added, 0 ended, 0 no longer on Wikidata, 0 updated, 5 unchanged" in out
    assert "1 pair stays marked as no longer on Wikidata" in out
    assert "no changes: nothing was written" in out
    assert row_counts(store) == before
    assert data_version(store) == version


def test_a_pair_back_on_wikidata_loses_its_mark_and_follows_the_answer_again(
        store: str, replay: Replay, capsys: pytest.CaptureFixture[str]) -> None:
    assert update(store, replay.serve(Reply(body=ANSWER_1)).endpoint) == 0
    assert update(store, replay.serve(Reply(body=ANSWER_2)).endpoint) == 0
    capsys.readouterr()
    assert update(store, replay.serve(Reply(body=ANSWER_1)).endpoint) == 0
    out = capsys.readouterr().out
    assert "0 added, 0 ended, 1 no longer on Wikidata, 2 updated" in out
    hai_phong = partnerships(store, "Hai Phong")
    assert [s["withdrawnOn"] for s in hai_phong[frozenset({"Q72818", "Q5083"})]["sources"]] \
        == [None]
    dalian = partnerships(store, "Kitakyushu")[frozenset({"Q188806", "Q74881"})]
    assert (dalian["status"], dalian["until"]) == ("ACTIVE", None)


def test_the_bundled_story_keeps_its_facts_and_gains_the_statements_from_a_file(
        db_url: str) -> None:
    # A file may be one slice of the query: without --complete nothing else is marked.
    before = partnerships(db_url, "Hai Phong")[HP_KK]
    assert cli("import", str(REPLAY / "answer-1.json"), "--format", "wikidata",
               "--db", db_url) == 0
    after = partnerships(db_url, "Hai Phong")[HP_KK]
    assert {k: v for k, v in after.items() if k != "sources"} == \
        {k: v for k, v in before.items() if k != "sources"}
    kept = [s for s in before["sources"] if not (s["url"] or "").startswith(
        "https://www.wikidata.org/")]
    assert kept and all(s in after["sources"] for s in kept)
    statements = [s["url"] for s in after["sources"] if "$" in (s["url"] or "")]
    assert len(statements) == 2


# ---------------------------------------------------------------- failures write nothing


def test_an_unreachable_endpoint_is_a_clear_error_and_writes_nothing(
        store: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = row_counts(store)
    endpoint = f"http://127.0.0.1:{free_port()}/sparql"
    assert update(store, endpoint) == 1
    err = capsys.readouterr().err
    assert "import failed, nothing was written" in err
    assert f"cannot reach {endpoint}" in err
    assert row_counts(store) == before


def test_a_429_is_waited_for_once_as_retry_after_asks(
        sqlite_store: str, replay: Replay, capsys: pytest.CaptureFixture[str]) -> None:
    replay.serve(Reply(429, b"Too Many Requests", {"Retry-After": "1"}), Reply())
    assert update(sqlite_store, replay.endpoint) == 0
    first, second = replay.received
    assert second.at - first.at >= 1.0
    assert "asks to wait 1 s (HTTP 429, Retry-After)" in capsys.readouterr().err
    assert frozenset({"Q188806", "Q199797"}) in partnerships(sqlite_store, "Kitakyushu")


@pytest.mark.parametrize(("replies", "requests", "reason"), [
    ([Reply(429, b"Too Many Requests", {"Retry-After": "1"})], 2,
     "is rate limiting this client (HTTP 429 Too Many Requests, again); it asks to retry "
     "after 1 s"),
    ([Reply(429, b"", {"Retry-After": "3600"})], 1, "it asks to retry after 3600 s"),
    ([Reply(500, b"java.util.concurrent.TimeoutException\n\tat java.util.concurrent")], 1,
     "answered HTTP 500 Internal Server Error: java.util.concurrent.TimeoutException"),
    ([Reply(200, ANSWER_2[: len(ANSWER_2) // 2])], 1, "answer is not valid JSON (cut short?)"),
    ([Reply(200, ANSWER_2.replace(b'"1959-01-01T00:00:00Z"', b'"long ago"'))], 1,
     "result 4.start: 'long ago' is not a date"),
], ids=["429-twice", "429-too-long", "500-timeout", "cut-short", "malformed-date"])
def test_a_refusal_or_a_bad_answer_is_a_clear_error_and_writes_nothing(
        sqlite_store: str, replay: Replay, capsys: pytest.CaptureFixture[str],
        replies: list[Reply], requests: int, reason: str) -> None:
    # Each is refused before the store is opened: one backend says as much as two.
    store = sqlite_store
    assert update(store, replay.serve(Reply(body=ANSWER_1)).endpoint) == 0
    before, version = row_counts(store), data_version(store)
    capsys.readouterr()
    assert update(store, replay.serve(*replies).endpoint) == 1
    err = capsys.readouterr().err
    assert "import failed, nothing was written" in err
    assert reason in err
    assert len(replay.received) == requests
    assert row_counts(store) == before
    assert data_version(store) == version


def _answer(pairs: list[tuple[int, int]]) -> str:
    """An answer in the service's format for made-up items (ids far above any real one)."""
    def side(name: str, number: int) -> dict[str, Any]:
        return {name: {"type": "uri", "value": f"http://www.wikidata.org/entity/Q{number}"},
                f"{name}Label": {"xml:lang": "en", "type": "literal", "value": f"Town {number}"},
                f"{name}Country": {"type": "literal", "value": "FR"}}

    return json.dumps({"head": {"vars": ["statement", "place", "placeLabel", "placeCountry",
                                         "twin", "twinLabel", "twinCountry"]},
                       "results": {"bindings": [
                           {"statement": {"type": "uri", "value": (
                               f"http://www.wikidata.org/entity/statement/Q{a}-"
                               f"{uuid.uuid5(uuid.NAMESPACE_URL, f'{a} {b}')}")},
                            **side("place", a), **side("twin", b)} for a, b in pairs]}})


def test_an_answer_lacking_many_stored_pairs_is_refused_unless_accepted(
        sqlite_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # given 60 pairs stored from Wikidata
    pairs = [(990_000_000 + 2 * i, 990_000_001 + 2 * i) for i in range(60)]
    whole, cut = tmp_path / "whole.json", tmp_path / "cut.json"
    whole.write_text(_answer(pairs), encoding="utf-8")
    cut.write_text(_answer(pairs[:5]), encoding="utf-8")
    assert cli("import", str(whole), "--complete", "--db", sqlite_store) == 0
    before = row_counts(sqlite_store)
    capsys.readouterr()
    # when an answer holding 5 of them comes, then it is refused and nothing is marked
    assert cli("import", str(cut), "--complete", "--db", sqlite_store) == 1
    assert "the answer lacks 55 of the 60 pairs stored from Wikidata (92%)" in \
        capsys.readouterr().err
    assert row_counts(sqlite_store) == before
    # unless the operator says Wikidata did lose them
    assert cli("import", str(cut), "--complete", "--accept-missing", "--db",
               sqlite_store) == 0
    assert "55 no longer on Wikidata" in capsys.readouterr().out
