"""Data builders: small constructed worlds loaded through the product's own import path."""

from __future__ import annotations

import random
from typing import Any

from citylinks.db.engine import Database
from citylinks.db.importer import ImportReport, load_document

SECTOR_SLUGS = ["education", "culture", "tourism", "trade", "ports-logistics", "water"]
COUNTRIES = ["FR", "JP", "US", "DE", "BR"]


def place(ref: str, name: str, country: str, **extra: Any) -> dict[str, Any]:
    return {"ref": ref, "name": name, "country": country, "level": "CITY", **extra}


def partnership(a: str, b: str, kind: str = "SISTER_CITY", status: str = "ACTIVE",
                **extra: Any) -> dict[str, Any]:
    return {"places": [a, b], "kind": kind, "status": status, **extra}


def document(places: list[dict[str, Any]], partnerships: list[dict[str, Any]],
             organizations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"format": "citylinks", "version": 1, "places": places,
            "organizations": organizations or [], "partnerships": partnerships}


def star_world(cities: int, partners_each: int, country: str = "ZA",
               seed: int = 7) -> dict[str, Any]:
    """`cities` places in `country`, each twinned with `partners_each` places abroad."""
    rng = random.Random(seed)
    places = [place(f"home{i}", f"Home {i:03d}", country, latitude=-30 + i * 0.01,
                    longitude=25.0) for i in range(cities)]
    abroad = [place(f"far{j}", f"Far {j:03d}", COUNTRIES[j % len(COUNTRIES)],
                    latitude=40.0 + j * 0.01, longitude=2.0) for j in range(partners_each * 2)]
    links = []
    for i in range(cities):
        for j in rng.sample(range(len(abroad)), partners_each):
            links.append(partnership(
                f"home{i}", f"far{j}", since=f"{2000 + (i + j) % 20}",
                sectors=rng.sample(SECTOR_SLUGS, rng.randint(1, 3))))
    return document(places + abroad, links)


async def load(database: Database, doc: dict[str, Any]) -> ImportReport:
    async with database.write() as session:
        return await load_document(session, doc, actor="tests")
