"""Writers of the whole store: the citylinks JSON document, the contract's CSV, and GeoJSON."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from citylinks.db.engine import Database
from citylinks.db.importer import FORMAT, VERSION
from citylinks.db.models import (
    Country,
    Milestone,
    MilestoneParticipant,
    Organization,
    Partnership,
    Place,
    PlaceAlias,
    Sector,
    Source,
    partnership_organizations,
    partnership_sectors,
    partnership_sources,
)
from citylinks.schema.ids import encode_id
from citylinks.transfer.formats import CSV_COLUMNS
from sqlalchemy import func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

FORMATS = ("json", "csv", "geojson")
# Milestones without a date sort after dated ones, as the API lists them.
_LAST_DAY = dt.date(9999, 12, 31)


@dataclass
class Snapshot:
    """Every row an export needs, read in one transaction so that they agree."""

    # Rows of several shapes: typed loosely, read by attribute name.
    places: list[Any] = field(default_factory=list)
    aliases: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    organizations: list[Any] = field(default_factory=list)
    partnerships: list[Any] = field(default_factory=list)
    sectors: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    partnership_organizations: dict[int, list[int]] = field(
        default_factory=lambda: defaultdict(list))
    sources: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))
    milestones: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))
    milestone_sources: dict[int, Any] = field(default_factory=dict)
    participants: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))


async def read_snapshot(conn: AsyncConnection) -> Snapshot:
    snap = Snapshot()
    snap.places = list(await conn.execute(
        select(Place.id, Place.name, Place.local_name, Place.level, Country.code.label("country"),
               Place.parent_id, Place.latitude, Place.longitude, Place.population,
               Place.region, Place.wikidata_id, Place.partner_count)
        .join(Country, Country.id == Place.country_id).order_by(Place.id)))
    for place_id, alias in await conn.execute(
            select(PlaceAlias.place_id, PlaceAlias.alias)
            .order_by(PlaceAlias.place_id, PlaceAlias.position, PlaceAlias.id)):
        snap.aliases[place_id].append(alias)
    snap.organizations = list(await conn.execute(
        select(Organization.id, Organization.name, Organization.kind, Organization.place_id,
               Organization.aliases)
        .order_by(Organization.id)))
    snap.partnerships = list(await conn.execute(
        select(Partnership.id, Partnership.place_a_id, Partnership.place_b_id, Partnership.kind,
               Partnership.status, Partnership.since, Partnership.until,
               Partnership.description, Partnership.distance_km)
        .order_by(Partnership.id)))
    for partnership_id, slug in await conn.execute(
            select(partnership_sectors.c.partnership_id, Sector.slug)
            .join(Sector, Sector.id == partnership_sectors.c.sector_id)
            .order_by(partnership_sectors.c.partnership_id, Sector.slug)):
        snap.sectors[partnership_id].append(slug)
    for partnership_id, organization_id in await conn.execute(
            select(partnership_organizations.c.partnership_id,
                   partnership_organizations.c.organization_id)
            .order_by(partnership_organizations.c.partnership_id,
                      partnership_organizations.c.organization_id)):
        snap.partnership_organizations[partnership_id].append(organization_id)
    for row in await conn.execute(
            select(partnership_sources.c.partnership_id, Source.url, Source.title,
                   Source.publisher, Source.published_on, Source.withdrawn_on,
                   Source.license)
            .join(Source, Source.id == partnership_sources.c.source_id)
            .order_by(partnership_sources.c.partnership_id, partnership_sources.c.position)):
        snap.sources[row.partnership_id].append(row)
    for row in await conn.execute(
            select(Milestone.id, Milestone.partnership_id, Milestone.date, Milestone.kind,
                   Milestone.description, Milestone.source_id)
            .order_by(Milestone.partnership_id,
                      func.coalesce(Milestone.date_first, _LAST_DAY), Milestone.id)):
        snap.milestones[row.partnership_id].append(row)
    snap.milestone_sources = {row.id: row for row in await conn.execute(
        select(Source.id, Source.url, Source.title, Source.publisher, Source.published_on,
               Source.withdrawn_on, Source.license)
        .where(Source.id.in_(select(Milestone.source_id).where(
            Milestone.source_id.is_not(None)))))}
    for row in await conn.execute(
            select(MilestoneParticipant.milestone_id, MilestoneParticipant.name,
                   MilestoneParticipant.role, MilestoneParticipant.organization_id)
            .order_by(MilestoneParticipant.milestone_id, MilestoneParticipant.position)):
        snap.participants[row.milestone_id].append(row)
    return snap


def _place_ref(place_id: int) -> str:
    return f"p{place_id}"


def _organization_ref(organization_id: int) -> str:
    return f"o{organization_id}"


def _source(row: Row[Any]) -> dict[str, Any]:
    return {"url": row.url, "title": row.title, "publisher": row.publisher,
            "publishedOn": row.published_on, "withdrawnOn": row.withdrawn_on,
            "license": row.license}


def to_document(snap: Snapshot) -> dict[str, Any]:
    """The import format: everything a store holds except what it derives (partner counts,
    distances, search keys), so that importing it into an empty store recreates the same."""
    places = [{
        "ref": _place_ref(p.id), "name": p.name, "localName": p.local_name,
        "aliases": snap.aliases.get(p.id, []), "level": p.level, "country": p.country,
        "parent": _place_ref(p.parent_id) if p.parent_id is not None else None,
        "latitude": p.latitude, "longitude": p.longitude, "population": p.population,
        "region": p.region, "wikidataId": p.wikidata_id,
    } for p in snap.places]
    organizations = [{
        "ref": _organization_ref(o.id), "name": o.name, "kind": o.kind,
        "place": _place_ref(o.place_id) if o.place_id is not None else None,
        "aliases": list(o.aliases or []),
    } for o in snap.organizations]
    partnerships = []
    for p in snap.partnerships:
        milestones = []
        for m in snap.milestones.get(p.id, []):
            source = snap.milestone_sources.get(m.source_id) if m.source_id else None
            milestones.append({
                "date": m.date, "kind": m.kind, "description": m.description,
                "source": _source(source) if source is not None else None,
                "participants": [{
                    "name": person.name, "role": person.role,
                    "organization": (_organization_ref(person.organization_id)
                                     if person.organization_id is not None else None),
                } for person in snap.participants.get(m.id, [])]})
        partnerships.append({
            "places": [_place_ref(p.place_a_id), _place_ref(p.place_b_id)],
            "kind": p.kind, "status": p.status, "since": p.since, "until": p.until,
            "description": p.description, "sectors": snap.sectors.get(p.id, []),
            "organizations": [_organization_ref(o)
                              for o in snap.partnership_organizations.get(p.id, [])],
            "sources": [_source(s) for s in snap.sources.get(p.id, [])],
            "milestones": milestones,
        })
    return {"format": FORMAT, "version": VERSION, "places": places,
            "organizations": organizations, "partnerships": partnerships}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def to_csv(snap: Snapshot) -> str:
    """The contract's layout, one partnership a row; places without one have no row."""
    places = {p.id: p for p in snap.places}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in snap.partnerships:
        ends = []
        for place_id in (p.place_a_id, p.place_b_id):
            place = places[place_id]
            ends += [place.name, place.country, place.wikidata_id, place.latitude,
                     place.longitude]
        sources = snap.sources.get(p.id, [])
        first = sources[0] if sources else None
        writer.writerow([_cell(v) for v in (
            *ends, p.kind, p.status, p.since, p.until, ";".join(snap.sectors.get(p.id, [])),
            first.url if first else None, first.title if first else None)])
    return out.getvalue()


def to_geojson(snap: Snapshot) -> dict[str, Any]:
    """A Point per place and a LineString per partnership, both ends' coordinates known;
    what lacks coordinates has no geometry and is left out."""
    places = {p.id: p for p in snap.places}
    features: list[dict[str, Any]] = []
    for p in snap.places:
        if p.latitude is None or p.longitude is None:
            continue
        features.append({"type": "Feature", "id": encode_id("City", p.id),
                         "geometry": {"type": "Point", "coordinates": [p.longitude, p.latitude]},
                         "properties": {
                             "feature": "city", "name": p.name, "localName": p.local_name,
                             "level": p.level, "country": p.country, "region": p.region,
                             "wikidataId": p.wikidata_id, "population": p.population,
                             "partnerCount": p.partner_count}})
    for link in snap.partnerships:
        a, b = places[link.place_a_id], places[link.place_b_id]
        if None in (a.latitude, a.longitude, b.latitude, b.longitude):
            continue
        features.append({"type": "Feature", "id": encode_id("Partnership", link.id),
                         "geometry": {"type": "LineString", "coordinates": [
                             [a.longitude, a.latitude], [b.longitude, b.latitude]]},
                         "properties": {
                             "feature": "partnership", "kind": link.kind,
                             "status": link.status, "since": link.since, "until": link.until,
                             "sectors": snap.sectors.get(link.id, []),
                             "cities": [a.name, b.name],
                             "cityIds": [encode_id("City", a.id), encode_id("City", b.id)],
                             "distanceKm": link.distance_km}})
    return {"type": "FeatureCollection", "features": features}


async def export_document(database: Database, fmt: str) -> str:
    """The whole store as text in `fmt`: json, csv or geojson."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    async with database.read() as conn:
        if database.dialect == "postgresql":
            # One snapshot for all the statements: a write committed halfway through
            # the export must not leave a partnership naming a place it lacks.
            await conn.execution_options(isolation_level="REPEATABLE READ")
        snap = await read_snapshot(conn)
    if fmt == "csv":
        return to_csv(snap)
    if fmt == "geojson":
        # Map tools read it; compact keeps the world's twinnings a few megabytes.
        return json.dumps(to_geojson(snap), ensure_ascii=False, separators=(",", ":")) + "\n"
    # Indented, so that two exports can be compared line by line.
    return json.dumps(to_document(snap), ensure_ascii=False, indent=1) + "\n"
