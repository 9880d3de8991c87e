"""The benchmark's synthetic world: countries, places and a heavy-tailed partnership graph.

Deterministic for a given seed, written in citylinks' own import format, so that
it goes into each database through `citylinks import` like any user's file.

    python benchmarks/world.py -o world.json [--seed 20240601] [--stats]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pycountry

SEED = 20240601
COUNTRIES = 200
PLACES = 20_000
PARTNERSHIPS = 30_000
# Hubs: the few places with 80-150 partners (capitals, big ports).
HUBS = 40
HUB_DEGREE = (80, 150)
# A middle band between the hubs and the long tail, its degrees drawn from a power law.
MIDDLE = 900
MIDDLE_DEGREE = (6, 60)
# Everyone else has 0-5 partners; weights of 0, 1, ..., 5.
TAIL_WEIGHTS = (14, 22, 22, 18, 14, 10)

SECTORS = (
    "education", "culture", "tourism", "trade", "investment", "ports-logistics", "maritime",
    "information-technology", "semiconductors", "electronics", "agriculture", "healthcare",
    "environment", "water", "urban-planning", "infrastructure", "human-resources", "transport",
    "science-research", "sports",
)
# Education, culture and tourism appear in most real agreements; chips in few.
SECTOR_WEIGHTS = (20, 20, 14, 12, 9, 5, 4, 6, 2, 3, 6, 6, 6, 3, 4, 5, 4, 4, 4, 5)
KINDS = (("SISTER_CITY", 55), ("FRIENDSHIP", 30), ("COOPERATION", 15))
STATUSES = (("ACTIVE", 82), ("ENDED", 7), ("SUSPENDED", 3), ("NEGOTIATING", 5),
            ("PROPOSED", 3))

_ONSETS = ("b", "br", "c", "ch", "d", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "pr",
           "r", "s", "st", "t", "tr", "v", "w", "z", "")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou", "ia", "y")
_CODAS = ("", "", "n", "r", "s", "l", "m", "ng", "t", "k")
_SUFFIXES = ("", "", "", "", "burg", "ville", "port", "ford", "grad", "abad", "pur", "stad",
             "heim", "polis", "ton", "shan", "jing")
_ACCENTED = {"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü", "c": "č", "s": "š", "z": "ž",
             "n": "ñ"}


@dataclass
class Place:
    ref: str
    name: str
    local_name: str | None
    level: str
    country: str
    parent: str | None
    latitude: float
    longitude: float
    population: int


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _name(rng: random.Random) -> str:
    syllables = rng.choices((1, 2, 3), weights=(2, 6, 3))[0]
    word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                   for _ in range(syllables))
    word += rng.choice(_SUFFIXES)
    name = word.capitalize()
    if rng.random() < 0.12:
        name = rng.choice(("San ", "New ", "Port ", "Saint-", "Al ", "Nova ")) + name
    if rng.random() < 0.06:
        name += rng.choice((" City", " Town", "-on-Sea", " Bay"))
    return name


def _accented(rng: random.Random, name: str) -> str:
    return "".join(_ACCENTED[ch] if ch in _ACCENTED and rng.random() < 0.35 else ch
                   for ch in name)


def _degrees(rng: random.Random, count: int) -> list[int]:
    """Target partner counts: a few hubs, a power-law middle, a 0-5 tail; in random order."""
    hubs = [rng.randint(*HUB_DEGREE) for _ in range(HUBS)]
    low, high = MIDDLE_DEGREE
    # Inverse-CDF sampling of a discrete power law with exponent 2.2 on [low, high].
    middle = [min(high, int(low * (1 - rng.random()) ** (-1 / 1.2))) for _ in range(MIDDLE)]
    tail = rng.choices(range(len(TAIL_WEIGHTS)), weights=TAIL_WEIGHTS,
                       k=count - HUBS - MIDDLE)
    degrees = hubs + middle + tail
    # Trim or pad the tail so that the stubs make exactly PARTNERSHIPS pairs.
    surplus = sum(degrees) - 2 * PARTNERSHIPS
    tail_positions = list(range(HUBS + MIDDLE, count))
    rng.shuffle(tail_positions)
    for i in tail_positions:
        if surplus == 0:
            break
        if surplus > 0 and degrees[i] > 0:
            degrees[i] -= 1
            surplus -= 1
        elif surplus < 0 and degrees[i] < len(TAIL_WEIGHTS) - 1:
            degrees[i] += 1
            surplus += 1
    rng.shuffle(degrees)
    return degrees


def _pairs(rng: random.Random, degrees: list[int], countries: list[str]) -> list[tuple[int, int]]:
    """A configuration-model graph: pair partner stubs at random, no self, same-country
    or repeated pairs (cross-border partnerships only, one kind per pair here)."""
    stubs = [i for i, d in enumerate(degrees) for _ in range(d)]
    pairs: set[tuple[int, int]] = set()
    for _attempt in range(50):
        rng.shuffle(stubs)
        left: list[int] = []
        for a, b in zip(stubs[0::2], stubs[1::2], strict=True):
            pair = (min(a, b), max(a, b))
            if a == b or countries[a] == countries[b] or pair in pairs:
                left += (a, b)
            else:
                pairs.add(pair)
        stubs = left
        if len(stubs) < 2:
            break
    # The few stubs left (two ends of one country, or a pair already taken) are
    # paired with random tail places instead; then random tail pairs fill any gap.
    tail = [i for i, d in enumerate(degrees) if d <= 3]
    wanted = list(stubs)
    for _attempt in range(100 * PARTNERSHIPS):
        if len(pairs) >= PARTNERSHIPS:
            break
        a = wanted.pop() if wanted else rng.choice(tail)
        b = rng.choice(tail)
        pair = (min(a, b), max(a, b))
        if a != b and countries[a] != countries[b] and pair not in pairs:
            pairs.add(pair)
    return sorted(pairs)


def _since(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.1:
        return None
    year = min(2025, int(1950 + 75 * rng.random() ** 0.6))
    if roll < 0.55:
        return str(year)
    return f"{year}-{rng.randint(1, 12):02d}"


def build(seed: int = SEED) -> dict[str, Any]:
    rng = random.Random(seed)
    codes = sorted(c.alpha_2 for c in pycountry.countries)
    chosen = sorted(rng.sample(codes, COUNTRIES))
    # Country sizes follow a Zipf law: a few countries hold many of the places.
    sizes = [1 / (rank + 1) ** 0.9 for rank in range(COUNTRIES)]
    rng.shuffle(sizes)
    centres = {code: (rng.uniform(-50, 60), rng.uniform(-170, 170)) for code in chosen}
    place_countries = rng.choices(chosen, weights=sizes, k=PLACES)
    # Every country gets at least one place.
    for i, code in enumerate(chosen):
        place_countries[i] = code

    places: list[Place] = []
    provinces: dict[str, list[str]] = {}
    seen_names: Counter[tuple[str, str]] = Counter()
    for i, code in enumerate(place_countries):
        name = _name(rng)
        seen_names[(name, code)] += 1
        if seen_names[(name, code)] > 1:
            name = f"{name} {seen_names[(name, code)]}"
        level = _weighted(rng, (("CITY", 86), ("TOWN", 8), ("PROVINCE", 4), ("DISTRICT", 2)))
        parent = None
        if level != "PROVINCE" and provinces.get(code) and rng.random() < 0.3:
            parent = rng.choice(provinces[code])
        lat, lon = centres[code]
        place = Place(
            ref=f"p{i + 1}", name=name,
            local_name=_accented(rng, name) if rng.random() < 0.2 else None,
            level=level, country=code, parent=parent,
            latitude=round(max(-89.0, min(89.0, lat + rng.gauss(0, 3))), 4),
            longitude=round(max(-179.0, min(179.0, lon + rng.gauss(0, 4))), 4),
            population=int(rng.lognormvariate(11, 1.3)),
        )
        if level == "PROVINCE":
            provinces.setdefault(code, []).append(place.ref)
        places.append(place)

    degrees = _degrees(rng, PLACES)
    pairs = _pairs(rng, degrees, place_countries)
    partnerships = []
    for a, b in pairs:
        status = _weighted(rng, STATUSES)
        since = _since(rng)
        until = None
        if status == "ENDED" and since is not None and int(since[:4]) < 2024:
            until = str(rng.randint(int(since[:4]) + 1, 2025))
        sectors = sorted(set(rng.choices(SECTORS, weights=SECTOR_WEIGHTS,
                                         k=rng.randint(1, 4))))
        partnerships.append({
            "places": [places[a].ref, places[b].ref],
            "kind": _weighted(rng, KINDS), "status": status, "since": since, "until": until,
            "description": None, "sectors": sectors, "organizations": [], "sources": [],
            "milestones": [],
        })
    # File order is not id order by accident: shuffle, as a real export of merged data is.
    rng.shuffle(partnerships)

    return {
        "format": "citylinks", "version": 1,
        "places": [{
            "ref": p.ref, "name": p.name, "localName": p.local_name, "aliases": [],
            "level": p.level, "country": p.country, "parent": p.parent,
            "latitude": p.latitude, "longitude": p.longitude, "population": p.population,
            "wikidataId": None,
        } for p in places],
        "organizations": [],
        "partnerships": partnerships,
    }


def degree_stats(document: dict[str, Any]) -> dict[str, Any]:
    """The shape of the graph, to check that it is what the benchmark claims."""
    degree: Counter[str] = Counter()
    for p in document["partnerships"]:
        degree.update(p["places"])
    degrees = sorted((degree.get(p["ref"], 0) for p in document["places"]), reverse=True)
    sectors = Counter(len(p["sectors"]) for p in document["partnerships"])
    return {
        "countries": len({p["country"] for p in document["places"]}),
        "places": len(degrees),
        "partnerships": len(document["partnerships"]),
        "hubs (80-150 partners)": sum(80 <= d <= 150 for d in degrees),
        "max degree": degrees[0],
        "places with 0-5 partners": sum(d <= 5 for d in degrees),
        "places with 6-79 partners": sum(6 <= d < 80 for d in degrees),
        "places with no partner": sum(d == 0 for d in degrees),
        "sectors per partnership": dict(sorted(sectors.items())),
        "since null": sum(p["since"] is None for p in document["partnerships"]),
    }


def write(path: Path, seed: int = SEED) -> dict[str, Any]:
    document = build(seed)
    path.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")),
                    encoding="utf-8")
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--stats", action="store_true", help="print the degree distribution")
    args = parser.parse_args(argv)
    document = write(args.output, args.seed)
    if args.stats:
        json.dump(degree_stats(document), sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
