"""Readers that turn a CSV file or a Wikidata query result into a citylinks document."""

from __future__ import annotations

import csv
import io
from typing import Any

from citylinks.db.importer import FORMAT, VERSION, ImportFailed

CSV_COLUMNS = [
    "a_name", "a_country", "a_wikidata", "a_latitude", "a_longitude",
    "b_name", "b_country", "b_wikidata", "b_latitude", "b_longitude",
    "kind", "status", "since", "until", "sectors", "source_url", "source_title",
]


def _float(value: str, where: str, problems: list[str]) -> float | None:
    if value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        problems.append(f"{where}: {value!r} is not a number")
        return None


def _place_ref(name: str, country: str, wikidata: str) -> str:
    return wikidata or f"{country.upper()}|{name}"


def document_from_csv(text: str) -> dict[str, Any]:
    """One partnership per row; places keyed by Wikidata id, else by name + country."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportFailed([f"line 1: missing column(s): {', '.join(missing)}"])
    places: dict[str, dict[str, Any]] = {}
    partnerships: list[dict[str, Any]] = []
    problems: list[str] = []
    for row in reader:
        where = f"line {reader.line_num}"
        refs = []
        for side in ("a", "b"):
            name = (row[f"{side}_name"] or "").strip()
            country = (row[f"{side}_country"] or "").strip()
            wikidata = (row[f"{side}_wikidata"] or "").strip()
            if not name:
                problems.append(f"{where}: {side}_name is empty")
            ref = _place_ref(name, country, wikidata)
            refs.append(ref)
            # Checked on every row, not only where the place first appears: a bad
            # cell is a bad file wherever it is.
            latitude = _float(row[f"{side}_latitude"] or "", f"{where}, {side}_latitude",
                              problems)
            longitude = _float(row[f"{side}_longitude"] or "", f"{where}, {side}_longitude",
                               problems)
            if ref in places and places[ref]["country"].upper() != country.upper():
                problems.append(f"{where}, {side}_country: {wikidata} is in "
                                f"{places[ref]['country']!r} on {places[ref]['_where']}, "
                                f"here in {country!r}")
            if ref not in places:
                places[ref] = {
                    "ref": ref, "name": name, "country": country, "level": "CITY",
                    "wikidataId": wikidata or None, "aliases": [],
                    "latitude": latitude, "longitude": longitude,
                    "_where": f"{where} ({side})",
                }
        source_title = (row["source_title"] or "").strip()
        source_url = (row["source_url"] or "").strip() or None
        partnerships.append({
            "_where": where, "places": refs,
            "kind": (row["kind"] or "").strip(), "status": (row["status"] or "").strip(),
            "since": (row["since"] or "").strip() or None,
            "until": (row["until"] or "").strip() or None,
            "sectors": [s.strip() for s in (row["sectors"] or "").split(";") if s.strip()],
            "sources": ([{"title": source_title or source_url, "url": source_url}]
                        if source_title or source_url else []),
            "organizations": [], "milestones": [], "description": None,
        })
    if problems:
        raise ImportFailed(problems)
    return {"format": FORMAT, "version": VERSION, "places": list(places.values()),
            "organizations": [], "partnerships": partnerships}
