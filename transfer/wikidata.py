"""Reader of Wikidata query service results for the twinning query (docs/wikidata.md)."""

from __future__ import annotations

import re
from typing import Any

from citylinks.db.importer import FORMAT, VERSION, ImportFailed
from citylinks.db.partial_dates import PartialDateError, parse_partial_date

# The variables of the query in docs/wikidata.md; the first four are required.
REQUIRED_VARIABLES = ("place", "placeLabel", "placeCountry", "twin")
OPTIONAL_VARIABLES = ("twinLabel", "twinCountry", "placeCoord", "twinCoord",
                      "start", "startPrecision", "end", "endPrecision")
SOURCE = {"title": "Wikidata: twinned administrative body (P190)",
          "url": "https://www.wikidata.org/wiki/Property:P190"}

_ENTITY = re.compile(r"^https?://www\.wikidata\.org/entity/(Q[1-9]\d*)$")
_POINT = re.compile(r"^\s*Point\(\s*(\S+)\s+(\S+)\s*\)\s*$", re.IGNORECASE)
_DATE_TIME = re.compile(r"^\+?(\d{4})-(\d{2})-(\d{2})T")
# Wikidata time precisions: 9 year, 10 month, 11 day (and finer, never used here).
_YEAR, _MONTH, _DAY = 9, 10, 11


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


def document_from_wikidata(data: Any) -> dict[str, Any]:
    """A citylinks document from SPARQL JSON results: one place per Q-id, one partnership per
    unordered pair (P190 is often stated on both sides), earliest start, latest end."""
    if (not isinstance(data, dict) or not isinstance(data.get("results"), dict)
            or not isinstance(data["results"].get("bindings"), list)):
        raise ImportFailed(["not a Wikidata query service result "
                            "(expected SPARQL JSON: {\"head\": ..., \"results\": {\"bindings\": "
                            "[...]}})"])
    variables = (data.get("head") or {}).get("vars") or []
    missing = [v for v in REQUIRED_VARIABLES if v not in variables]
    if missing:
        raise ImportFailed([f"head: missing variable(s): {', '.join(missing)} "
                            "(use the query in docs/wikidata.md)"])
    places: dict[str, dict[str, Any]] = {}
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    problems: list[str] = []
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
            if qid in places:
                continue
            country = _value(binding, f"{side}Country")
            if country is None:
                # The twin's details may come from another row (where it is `place`).
                if side == "twin":
                    continue
                problems.append(f"{where} ({qid}): no country code")
                continue
            latitude, longitude = _point(_value(binding, f"{side}Coord"))
            places[qid] = {
                "ref": qid, "name": _value(binding, f"{side}Label") or qid,
                "country": country.strip().upper(), "level": "CITY", "wikidataId": qid,
                "aliases": [], "latitude": latitude, "longitude": longitude,
                "_where": f"{where} ({qid})",
            }
        if len(ends) != 2 or ends[0] == ends[1]:
            continue  # "unknown value", a non-item, or a place twinned with itself
        key = (min(ends), max(ends))
        since = _partial_date(_value(binding, "start"), _value(binding, "startPrecision"),
                              f"{where}.start", problems)
        until = _partial_date(_value(binding, "end"), _value(binding, "endPrecision"),
                              f"{where}.end", problems)
        pair = pairs.setdefault(key, {
            "_where": where, "places": list(key), "kind": "SISTER_CITY",
            "since": None, "until": None, "description": None, "sectors": [],
            "organizations": [], "milestones": [], "sources": [dict(SOURCE)]})
        pair["since"] = _merge(pair["since"], since, earliest=True)
        pair["until"] = _merge(pair["until"], until, earliest=False)
    for pair in pairs.values():
        pair["status"] = "ENDED" if pair["until"] else "ACTIVE"
        for qid in pair["places"]:
            if qid not in places:
                problems.append(f"{pair['_where']}: no country code for {qid}")
    if problems:
        raise ImportFailed(problems)
    return {"format": FORMAT, "version": VERSION, "places": list(places.values()),
            "organizations": [], "partnerships": list(pairs.values())}
