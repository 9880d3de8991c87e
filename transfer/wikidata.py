"""Reader of Wikidata query service results for the twinning query (docs/wikidata.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from citylinks.db.importer import FORMAT, VERSION, ImportFailed
from citylinks.db.partial_dates import PartialDateError, parse_partial_date

# The variables of the query in docs/wikidata-twinnings.rq; the first four are required
# (`statement` came later: answers saved without it still load, without statement links).
REQUIRED_VARIABLES = ("place", "placeLabel", "placeCountry", "twin")
OPTIONAL_VARIABLES = ("statement", "twinLabel", "twinCountry", "placeCoord", "twinCoord",
                      "start", "startPrecision", "end", "endPrecision")
PUBLISHER = "Wikidata"
LICENSE = "CC0 1.0"
# The property's page: the source of a twinning from an answer without statement ids.
SOURCE = {"title": "Wikidata: twinned administrative body (P190)",
          "url": "https://www.wikidata.org/wiki/Property:P190"}

_ENTITY = re.compile(r"^https?://www\.wikidata\.org/entity/(Q[1-9]\d*)$")
# The RDF writes a statement id "Q90$5D4E…" as ".../entity/statement/Q90-5D4E…".
_STATEMENT = re.compile(r"^https?://www\.wikidata\.org/entity/statement/(Q[1-9]\d*)-"
                        r"([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                        r"[0-9A-Fa-f]{12})$")
_POINT = re.compile(r"^\s*Point\(\s*(\S+)\s+(\S+)\s*\)\s*$", re.IGNORECASE)
_DATE_TIME = re.compile(r"^\+?(\d{4})-(\d{2})-(\d{2})T")
# Wikidata time precisions: 9 year, 10 month, 11 day (and finer, never used here).
_YEAR, _MONTH, _DAY = 9, 10, 11


@dataclass
class WikidataPlace:
    """An item on either side of a P190 statement, as the first rows that name it tell."""
    qid: str
    name: str
    country: str | None
    latitude: float | None
    longitude: float | None
    where: str


@dataclass
class WikidataPair:
    """One unordered pair of items: P190 is often stated on both, each a statement."""
    qids: tuple[str, str]
    since: str | None = None
    until: str | None = None
    # Statement ids as Wikidata writes them: "Q90$5D4E…", the item it is on first.
    statements: list[str] = field(default_factory=list)
    where: str = ""
    # Why it cannot be imported though Wikidata states it ("ends before it starts").
    problem: str | None = None

    @property
    def status(self) -> str:
        return "ENDED" if self.until else "ACTIVE"


@dataclass
class WikidataAnswer:
    places: dict[str, WikidataPlace]
    pairs: dict[tuple[str, str], WikidataPair]
    # "result 9: twinned with an unknown value": rows that say nothing to import.
    skipped: list[str]


def statement_url(statement: str) -> str:
    """The statement on its item's page: "https://www.wikidata.org/wiki/Q90#Q90$5D4E…"."""
    return f"https://www.wikidata.org/wiki/{statement.split('$', 1)[0]}#{statement}"


def statement_source(statement: str, labels: dict[str, str], twin: str) -> dict[str, Any]:
    subject = statement.split("$", 1)[0]
    return {"title": f"Wikidata: {labels.get(subject, subject)} ({subject}), twinned "
                     f"administrative body (P190): {labels.get(twin, twin)} ({twin})",
            "url": statement_url(statement), "publisher": PUBLISHER, "license": LICENSE}


def _value(binding: dict[str, Any], name: str) -> str | None:
    cell = binding.get(name)
    if not isinstance(cell, dict):
        return None
    value = cell.get("value")
    return value if isinstance(value, str) and value.strip() else None


def _entity(binding: dict[str, Any], name: str) -> str | None:
    """The Q-id of an item; None for "unknown value" (a blank node) and non-items."""
    value = _value(binding, name)
    match = _ENTITY.match(value) if value else None
    return match[1] if match else None


def _point(value: str | None) -> tuple[float | None, float | None]:
    """WKT "Point(lon lat)" on Earth; coordinates on another globe start with its IRI."""
    match = _POINT.match(value) if value else None
    if match is None:
        return None, None
    try:
        return float(match[2]), float(match[1])
    except ValueError:
        return None, None


def _partial_date(value: str | None, precision: str | None, where: str,
                  problems: list[str]) -> str | None:
    """The date at the precision Wikidata records: "1956" for a year, never a made-up day."""
    if value is None:
        return None
    match = _DATE_TIME.match(value)
    if match is None:
        problems.append(f"{where}: {value!r} is not a date")
        return None
    year, month, day = match.groups()
    try:
        level = int(precision) if precision is not None else None
    except ValueError:
        problems.append(f"{where}: precision {precision!r} is not a number")
        return None
    if level is None:
        # Without a precision, the service's padding ("-01-01") is all there is to go on.
        level = _YEAR if (month, day) == ("01", "01") else _MONTH if day == "01" else _DAY
    if level < _YEAR:
        return None  # a decade or a century: no partial date says that
    date = year if level == _YEAR else f"{year}-{month}" if level == _MONTH else \
        f"{year}-{month}-{day}"
    try:
        parse_partial_date(date)
    except PartialDateError as error:
        problems.append(f"{where}: {error}")
        return None
    return date


def _merge(kept: str | None, new: str | None, *, earliest: bool) -> str | None:
    """Two statements of one pair: a date inside the other's period is the same date told
    more precisely ("1960-02-29" in "1960"); otherwise the earliest start, the latest end."""
    if kept is None or new is None:
        return kept or new
    (kept_first, kept_last), (new_first, new_last) = (parse_partial_date(kept),
                                                      parse_partial_date(new))
    if kept_first <= new_first and new_last <= kept_last:
        return new
    if new_first <= kept_first and kept_last <= new_last:
        return kept
    if earliest:
        return new if new_first < kept_first else kept
    return new if new_last > kept_last else kept


def _statement(binding: dict[str, Any], subject: str, where: str,
               problems: list[str]) -> str | None:
    value = _value(binding, "statement")
    if value is None:
        return None
    match = _STATEMENT.match(value)
    if match is None or match[1] != subject:
        problems.append(f"{where}.statement: {value!r} is not a statement of {subject}")
        return None
    return f"{match[1]}${match[2]}"


def parse_answer(data: Any) -> WikidataAnswer:
    """The places and pairs of SPARQL JSON results; ImportFailed lists every malformed cell
    (a row that is well formed but has nothing to import is skipped, with its reason)."""
    if (not isinstance(data, dict) or not isinstance(data.get("results"), dict)
            or not isinstance(data["results"].get("bindings"), list)):
        raise ImportFailed(["not a Wikidata query service result "
                            "(expected SPARQL JSON: {\"head\": ..., \"results\": {\"bindings\": "
                            "[...]}})"])
    head = data.get("head")
    variables = (head.get("vars") if isinstance(head, dict) else None) or []
    missing = [v for v in REQUIRED_VARIABLES if v not in variables]
    if missing:
        raise ImportFailed([f"head: missing variable(s): {', '.join(missing)} "
                            "(use the query in docs/wikidata-twinnings.rq)"])
    places: dict[str, WikidataPlace] = {}
    pairs: dict[tuple[str, str], WikidataPair] = {}
    problems: list[str] = []
    skipped: list[str] = []
    for number, binding in enumerate(data["results"]["bindings"], start=1):
        where = f"result {number}"
        if not isinstance(binding, dict):
            problems.append(f"{where}: not an object")
            continue
        ends = []
        for side in ("place", "twin"):
            qid = _entity(binding, side)
            if qid is None:
                break
            ends.append(qid)
            country = _value(binding, f"{side}Country")
            latitude, longitude = _point(_value(binding, f"{side}Coord"))
            known = places.get(qid)
            if known is None:
                places[qid] = WikidataPlace(
                    qid, _value(binding, f"{side}Label") or qid,
                    country.strip().upper() if country else None, latitude, longitude,
                    f"{where} ({qid})")
                continue
            # A place with several countries or coordinates appears in several rows: the
            # first row that tells decides; the twin's label may come from another row.
            if known.country is None and country:
                known.country, known.where = country.strip().upper(), f"{where} ({qid})"
            if known.latitude is None and latitude is not None:
                known.latitude, known.longitude = latitude, longitude
            if known.name == qid and _value(binding, f"{side}Label"):
                known.name = _value(binding, f"{side}Label") or qid
        if len(ends) != 2:
            if ends:
                skipped.append(f"{where} ({ends[0]}): twinned with an unknown value")
            continue
        if ends[0] == ends[1]:
            skipped.append(f"{where} ({ends[0]}): twinned with itself")
            continue
        key = (min(ends), max(ends))
        since = _partial_date(_value(binding, "start"), _value(binding, "startPrecision"),
                              f"{where}.start", problems)
        until = _partial_date(_value(binding, "end"), _value(binding, "endPrecision"),
                              f"{where}.end", problems)
        statement = _statement(binding, ends[0], where, problems)
        pair = pairs.setdefault(key, WikidataPair(key, where=where))
        pair.since = _merge(pair.since, since, earliest=True)
        pair.until = _merge(pair.until, until, earliest=False)
        if statement is not None and statement not in pair.statements:
            pair.statements.append(statement)
    for pair in pairs.values():
        if pair.since and pair.until and \
                parse_partial_date(pair.until)[1] < parse_partial_date(pair.since)[0]:
            pair.problem = f"ends ({pair.until}) before it starts ({pair.since})"
    if problems:
        raise ImportFailed(problems)
    return WikidataAnswer(places, pairs, skipped)


def pair_sources(pair: WikidataPair, labels: dict[str, str]) -> list[dict[str, Any]]:
    """A source per statement, linking to it; the property's page when the answer has none."""
    if not pair.statements:
        return [{**SOURCE, "publisher": PUBLISHER, "license": LICENSE}]
    return [statement_source(s, labels, pair.qids[1] if s.startswith(f"{pair.qids[0]}$")
                             else pair.qids[0]) for s in pair.statements]


def document_from_answer(answer: WikidataAnswer, qids: set[str] | None = None,
                         pairs: list[WikidataPair] | None = None) -> dict[str, Any]:
    """A citylinks document of the answer's places (those in `qids`, default all) and pairs
    (default all), every pair a SISTER_CITY with its statements as sources."""
    labels = {qid: place.name for qid, place in answer.places.items()}
    chosen = answer.places if qids is None else {q: answer.places[q] for q in qids}
    return {
        "format": FORMAT, "version": VERSION,
        "places": [{"ref": p.qid, "name": p.name, "country": p.country, "level": "CITY",
                    "wikidataId": p.qid, "aliases": [], "latitude": p.latitude,
                    "longitude": p.longitude, "_where": p.where} for p in chosen.values()],
        "organizations": [],
        "partnerships": [{"_where": p.where, "places": list(p.qids), "kind": "SISTER_CITY",
                          "status": p.status, "since": p.since, "until": p.until,
                          "description": None, "sectors": [], "organizations": [],
                          "milestones": [], "sources": pair_sources(p, labels)}
                         for p in (answer.pairs.values() if pairs is None else pairs)],
    }


def document_from_wikidata(data: Any) -> dict[str, Any]:
    """A citylinks document from SPARQL JSON results: one place per Q-id, one partnership per
    unordered pair (P190 is often stated on both sides), earliest start, latest end."""
    answer = parse_answer(data)
    problems = [f"{place.where}: no country code" for place in answer.places.values()
                if place.country is None]
    if problems:
        raise ImportFailed(problems)
    return document_from_answer(answer)
