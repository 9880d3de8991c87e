"""Bulk loading of a citylinks document (the JSON export format) in one transaction.

Every import format is first turned into that document; the whole document is
validated before the first row is written, so a bad file writes nothing. Places
are matched by Wikidata id, then by folded name + country, never duplicated;
a partnership that already exists (same pair, same kind) is left as it is, so
importing the same file twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from citylinks.db.enums import (
    AdminLevel,
    MilestoneKind,
    OrganizationKind,
    PartnershipKind,
    PartnershipStatus,
)
from citylinks.db.geo import distance_between
from citylinks.db.models import (
    Country,
    Milestone,
    MilestoneParticipant,
    Organization,
    Partnership,
    Place,
    PlaceAlias,
    PlaceSearchKey,
    Sector,
    Source,
    partnership_organizations,
    partnership_sectors,
    partnership_sources,
)
from citylinks.db.partial_dates import PartialDateError, parse_partial_date
from citylinks.db.text import search_key, sort_key
from citylinks.db.writes import ChangeEvent, record_change, refresh_partner_counts
from sqlalchemy import bindparam, func, insert, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

FORMAT = "citylinks"
VERSION = 1
Progress = Callable[[str, int, int], None]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ImportFailed(Exception):
    """The document is invalid; `problems` lists each as 'where: what'."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:20]
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__("\n".join(shown) + more)
        self.problems = problems


@dataclass
class ImportReport:
    places_created: int = 0
    places_matched: int = 0
    partnerships_created: int = 0
    partnerships_existing: int = 0
    organizations_created: int = 0
    milestones_created: int = 0

    def summary(self) -> str:
        return (f"places: {self.places_created} new, {self.places_matched} matched; "
                f"partnerships: {self.partnerships_created} new, "
                f"{self.partnerships_existing} already present; "
                f"organizations: {self.organizations_created} new; "
                f"milestones: {self.milestones_created} new")


@dataclass
class _Checker:
    countries: dict[str, int]
    sectors: dict[str, int]
    problems: list[str] = field(default_factory=list)

    def fail(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def enum(self, where: str, value: Any, enum: type[Any], required: bool = True) -> None:
        if value is None and not required:
            return
        try:
            enum(value)
        except ValueError:
            self.fail(where, f"{value!r} is not one of {', '.join(m.value for m in enum)}")

    def date(self, where: str, value: Any) -> None:
        if value is None:
            return
        try:
            parse_partial_date(value)
        except PartialDateError as error:
            self.fail(where, str(error))

    def text(self, where: str, value: Any, required: bool = False) -> None:
        if value is None and not required:
            return
        if not isinstance(value, str) or not value.strip():
            self.fail(where, "must be a non-empty string")

    def number(self, where: str, value: Any, limit: float) -> None:
        if value is None:
            return
        if (not isinstance(value, int | float) or isinstance(value, bool)
                or not math.isfinite(value) or not -limit <= value <= limit):
            self.fail(where, f"must be a number between {-limit:g} and {limit:g}")


def _where(item: dict[str, Any], fallback: str) -> str:
    return str(item.get("_where") or fallback)


def validate_document(doc: Any, countries: dict[str, int], sectors: dict[str, int]) -> None:
    """Raise ImportFailed listing every problem; nothing has been written yet."""
    check = _Checker(countries, sectors)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ImportFailed([f"not a citylinks document (expected \"format\": \"{FORMAT}\")"])
    if doc.get("version") != VERSION:
        raise ImportFailed([f"unsupported version {doc.get('version')!r} (expected {VERSION})"])
    refs: set[str] = set()
    for i, place in enumerate(doc.get("places") or []):
        where = _where(place, f"places[{i}]")
        ref = place.get("ref")
        if not isinstance(ref, str) or not ref:
            check.fail(where, "ref is required")
        elif ref in refs:
            check.fail(where, f"ref {ref!r} appears twice")
        refs.add(ref)
        check.text(f"{where}.name", place.get("name"), required=True)
        check.enum(f"{where}.level", place.get("level") or "CITY", AdminLevel)
        if str(place.get("country") or "").upper() not in countries:
            check.fail(f"{where}.country", f"unknown country code {place.get('country')!r}")
        check.number(f"{where}.latitude", place.get("latitude"), 90)
        check.number(f"{where}.longitude", place.get("longitude"), 180)
        population = place.get("population")
        if population is not None and (not isinstance(population, int) or population < 0):
            check.fail(f"{where}.population", "must be a whole number >= 0")
        check.text(f"{where}.region", place.get("region"))
    for i, place in enumerate(doc.get("places") or []):
        parent = place.get("parent")
        if parent is not None and parent not in refs:
            check.fail(_where(place, f"places[{i}]") + ".parent", f"unknown place ref {parent!r}")
    org_refs: set[str] = set()
    for i, org in enumerate(doc.get("organizations") or []):
        where = _where(org, f"organizations[{i}]")
        org_refs.add(org.get("ref"))
        check.text(f"{where}.name", org.get("name"), required=True)
        check.enum(f"{where}.kind", org.get("kind"), OrganizationKind)
        for j, alias in enumerate(org.get("aliases") or []):
            check.text(f"{where}.aliases[{j}]", alias, required=True)
        if org.get("place") is not None and org.get("place") not in refs:
            check.fail(f"{where}.place", f"unknown place ref {org.get('place')!r}")
    for i, p in enumerate(doc.get("partnerships") or []):
        where = _where(p, f"partnerships[{i}]")
        pair = p.get("places") or []
        if len(pair) != 2 or pair[0] == pair[1]:
            check.fail(f"{where}.places", "a partnership names exactly two distinct places")
        for ref in pair:
            if ref not in refs:
                check.fail(f"{where}.places", f"unknown place ref {ref!r}")
        check.enum(f"{where}.kind", p.get("kind"), PartnershipKind)
        check.enum(f"{where}.status", p.get("status"), PartnershipStatus)
        check.date(f"{where}.since", p.get("since"))
        check.date(f"{where}.until", p.get("until"))
        if p.get("since") and p.get("until"):
            try:
                if parse_partial_date(p["until"])[1] < parse_partial_date(p["since"])[0]:
                    check.fail(f"{where}.until", "must not be before since")
            except PartialDateError:
                pass
        for slug in p.get("sectors") or []:
            if slug not in sectors:
                check.fail(f"{where}.sectors", f"unknown sector slug {slug!r}")
        for ref in p.get("organizations") or []:
            if ref not in org_refs:
                check.fail(f"{where}.organizations", f"unknown organization ref {ref!r}")
        for j, source in enumerate(p.get("sources") or []):
            check.text(f"{where}.sources[{j}].title", source.get("title"), required=True)
            check.date(f"{where}.sources[{j}].publishedOn", source.get("publishedOn"))
            check.date(f"{where}.sources[{j}].withdrawnOn", source.get("withdrawnOn"))
            check.text(f"{where}.sources[{j}].license", source.get("license"))
        for j, milestone in enumerate(p.get("milestones") or []):
            check.enum(f"{where}.milestones[{j}].kind", milestone.get("kind"), MilestoneKind)
            check.date(f"{where}.milestones[{j}].date", milestone.get("date"))
            if milestone.get("source"):
                check.text(f"{where}.milestones[{j}].source.title",
                           milestone["source"].get("title"), required=True)
                check.text(f"{where}.milestones[{j}].source.license",
                           milestone["source"].get("license"))
            for k, person in enumerate(milestone.get("participants") or []):
                at = f"{where}.milestones[{j}].participants[{k}]"
                check.text(f"{at}.name", person.get("name"), required=True)
                check.text(f"{at}.role", person.get("role"))
                organization = person.get("organization")
                if organization is not None and organization not in org_refs:
                    check.fail(f"{at}.organization", f"unknown organization ref {organization!r}")
    if check.problems:
        raise ImportFailed(check.problems)


def _source_key(item: dict[str, Any]) -> tuple[str, str | None]:
    return (" ".join(item["title"].split()), item.get("url"))


class _Loader:
    """Holds the lookups of one import and writes each kind of row in bulk statements,
    so that the world's 10,000 partnerships load in seconds on a first start."""

    def __init__(self, session: AsyncSession, report: ImportReport,
                 progress: Progress | None) -> None:
        self.session = session
        self.report = report
        self.progress = progress or (lambda stage, done, total: None)
        self.place_ids: dict[str, int] = {}
        self.coordinates: dict[int, tuple[float | None, float | None]] = {}
        self.source_ids: dict[tuple[str, str | None], int] = {}

    async def sources(self, items: list[dict[str, Any]]) -> None:
        """Find or create every source the document cites, in a few statements."""
        wanted: dict[tuple[str, str | None], dict[str, Any]] = {}
        for item in items:
            wanted.setdefault(_source_key(item), item)
        if not wanted:
            return
        for sid, title, url in await self.session.execute(
                select(Source.id, Source.title, Source.url).order_by(Source.id.desc())):
            if (title, url) in wanted:
                self.source_ids[(title, url)] = sid  # the oldest row wins, as before
        missing = [key for key in wanted if key not in self.source_ids]
        rows = [{"title": key[0], "url": key[1], "publisher": wanted[key].get("publisher"),
                 "published_on": wanted[key].get("publishedOn"),
                 "withdrawn_on": wanted[key].get("withdrawnOn"),
                 "license": wanted[key].get("license")} for key in missing]
        for start in range(0, len(rows), 5000):
            ids = (await self.session.scalars(
                insert(Source.__table__).returning(
                    Source.__table__.c.id, sort_by_parameter_order=True),
                rows[start:start + 5000])).all()
            self.source_ids.update(zip(missing[start:start + 5000], ids, strict=True))

    async def places(self, items: list[dict[str, Any]], countries: dict[str, int]) -> None:
        session = self.session
        by_wikidata = dict((await session.execute(
            select(Place.wikidata_id, Place.id).where(Place.wikidata_id.is_not(None))
        )).all())
        by_name: dict[tuple[str, int], list[int]] = {}
        without_wikidata: set[int] = set()
        for pid, key, country_id, stored_wikidata in await session.execute(
            select(Place.id, PlaceSearchKey.key, Place.country_id, Place.wikidata_id)
            .join(PlaceSearchKey, PlaceSearchKey.place_id == Place.id)
            .where(PlaceSearchKey.rank == 0)
        ):
            by_name.setdefault((key, country_id), []).append(pid)
            if stored_wikidata is None:
                without_wikidata.add(pid)
        # How many of the file's places with a Wikidata id share each name: only a
        # name that one of them has may be matched to a stored place without one.
        wikidata_names = Counter(
            (search_key(item["name"]), countries[str(item["country"]).upper()])
            for item in items if item.get("wikidataId"))
        adopted: dict[int, str] = {}
        new_places: list[tuple[dict[str, Any], dict[str, Any]]] = []
        # Within one file, distinct refs are distinct places, unless they share a
        # Wikidata id; name matching is only against places already stored.
        new_by_wikidata: dict[str, str] = {}
        aliases_of: dict[str, str] = {}
        for item in items:
            country_id = countries[str(item["country"]).upper()]
            wikidata = item.get("wikidataId")
            if wikidata and wikidata in new_by_wikidata:
                aliases_of[item["ref"]] = new_by_wikidata[wikidata]
                continue
            matched = by_wikidata.get(wikidata) if wikidata else None
            if matched is None:
                name_key = (search_key(item["name"]), country_id)
                candidates = by_name.get(name_key, [])
                # Only an unambiguous name match is the same place; same-name
                # places (three Springfields) are never merged.
                if len(candidates) == 1 and not wikidata:
                    matched = candidates[0]
                elif (len(candidates) == 1 and candidates[0] in without_wikidata
                      and candidates[0] not in adopted and wikidata_names[name_key] == 1):
                    # A place entered without its Wikidata id (by hand, say) is the
                    # same place as the file's: it takes the id instead of a twin.
                    matched = candidates[0]
                    adopted[matched] = wikidata
                    by_wikidata[wikidata] = matched
            if matched is not None:
                self.place_ids[item["ref"]] = matched
                self.report.places_matched += 1
                continue
            name = " ".join(item["name"].split())
            now = _now()
            new_places.append((item, {
                "name": name, "local_name": item.get("localName"),
                "level": item.get("level") or "CITY", "country_id": country_id,
                "parent_id": None, "latitude": item.get("latitude"),
                "longitude": item.get("longitude"), "population": item.get("population"),
                "region": item.get("region"), "wikidata_id": wikidata,
                "sort_key": sort_key(name), "partner_count": 0,
                "created_at": now, "updated_at": now}))
            if wikidata:
                new_by_wikidata[wikidata] = item["ref"]
        for place_id, wikidata in adopted.items():
            await session.execute(update(Place).where(Place.id == place_id)
                                  .values(wikidata_id=wikidata)
                                  .execution_options(synchronize_session=False))
        for start in range(0, len(new_places), 5000):
            batch = new_places[start:start + 5000]
            ids = (await session.scalars(
                insert(Place.__table__).returning(
                    Place.__table__.c.id, sort_by_parameter_order=True),
                [row for _, row in batch])).all()
            for (item, row), pid in zip(batch, ids, strict=True):
                row["id"] = pid
                self.place_ids[item["ref"]] = pid
            self.progress("places", start + len(batch), len(new_places))
        for ref, same in aliases_of.items():
            self.place_ids[ref] = self.place_ids[same]
        aliases: list[dict[str, Any]] = []
        keys: list[dict[str, Any]] = []
        for item, row in new_places:
            names = [a for a in dict.fromkeys(item.get("aliases") or []) if a and a.strip()]
            aliases.extend({"place_id": row["id"], "alias": a, "position": i}
                           for i, a in enumerate(names))
            seen: set[str] = set()
            for rank, text in [(0, row["name"]), (1, row["local_name"]),
                               *((1, a) for a in names)]:
                key = search_key(text) if text else ""
                if key and key not in seen:
                    seen.add(key)
                    keys.append({"place_id": row["id"], "key": key, "rank": rank})
        for table, rows in ((PlaceAlias.__table__, aliases), (PlaceSearchKey.__table__, keys)):
            for start in range(0, len(rows), 10000):
                await session.execute(insert(table), rows[start:start + 10000])
        # Parents are set once every place of the file has its id.
        parents = [{"pid": row["id"], "parent": self.place_ids[item["parent"]]}
                   for item, row in new_places if item.get("parent")]
        if parents:
            await session.execute(
                update(Place.__table__).where(Place.__table__.c.id == bindparam("pid"))
                .values(parent_id=bindparam("parent")), parents)
        self.report.places_created += len(new_places)
        for _, row in new_places:
            self.coordinates[row["id"]] = (row["latitude"], row["longitude"])
        known = set(self.coordinates)
        stored = [pid for pid in set(self.place_ids.values()) if pid not in known]
        for start in range(0, len(stored), 5000):
            for pid, lat, lon in await session.execute(
                select(Place.id, Place.latitude, Place.longitude)
                .where(Place.id.in_(stored[start:start + 5000]))
            ):
                self.coordinates[pid] = (lat, lon)

    async def organizations(self, items: list[dict[str, Any]]) -> dict[str, int]:
        existing = {(key, place): oid for oid, key, place in await self.session.execute(
            select(Organization.id, Organization.sort_key, Organization.place_id))}
        ids: dict[str, int] = {}
        for item in items:
            place_id = self.place_ids.get(item["place"]) if item.get("place") else None
            key = (sort_key(item["name"]), place_id)
            if key not in existing:
                aliases = [" ".join(a.split()) for a in item.get("aliases") or []]
                org = Organization(name=" ".join(item["name"].split()), kind=item["kind"],
                                   place_id=place_id, sort_key=key[0], aliases=aliases or None)
                self.session.add(org)
                await self.session.flush()
                existing[key] = org.id
                self.report.organizations_created += 1
            ids[item["ref"]] = existing[key]
        return ids

    async def partnerships(self, items: list[dict[str, Any]], sectors: dict[str, int],
                           organizations: dict[str, int]) -> set[int]:
        session = self.session
        existing = {(a, b, kind) for a, b, kind in await session.execute(
            select(Partnership.place_a_id, Partnership.place_b_id, Partnership.kind))}
        touched: set[int] = set()
        pending: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for item in items:
            a, b = sorted(self.place_ids[ref] for ref in item["places"])
            if (a, b, item["kind"]) in existing:
                self.report.partnerships_existing += 1
                continue
            existing.add((a, b, item["kind"]))
            since_first, since_last = (parse_partial_date(item["since"]) if item.get("since")
                                       else (None, None))
            until_first, until_last = (parse_partial_date(item["until"]) if item.get("until")
                                       else (None, None))
            now = _now()
            pending.append((item, {
                "place_a_id": a, "place_b_id": b, "kind": item["kind"],
                "status": item["status"], "since": item.get("since"),
                "since_first": since_first, "since_last": since_last,
                "until": item.get("until"), "until_first": until_first,
                "until_last": until_last, "description": item.get("description"),
                "distance_km": distance_between(self.coordinates[a], self.coordinates[b]),
                "created_at": now, "updated_at": now}))
            touched.update((a, b))
        await self.sources([source for item, _ in pending for source in (
            *(item.get("sources") or []),
            *(m["source"] for m in item.get("milestones") or [] if m.get("source")))])
        total = len(pending)
        for start in range(0, total, 5000):
            batch = pending[start:start + 5000]
            ids = (await session.scalars(
                insert(Partnership.__table__).returning(
                    Partnership.__table__.c.id, sort_by_parameter_order=True),
                [row for _, row in batch])).all()
            sector_rows, org_rows, source_rows = [], [], []
            milestones: list[tuple[dict[str, Any], dict[str, Any]]] = []
            for (item, _), pid in zip(batch, ids, strict=True):
                sector_rows.extend({"partnership_id": pid, "sector_id": sectors[s]}
                                   for s in dict.fromkeys(item.get("sectors") or []))
                org_rows.extend({"partnership_id": pid, "organization_id": organizations[o]}
                                for o in dict.fromkeys(item.get("organizations") or []))
                source_ids = [self.source_ids[_source_key(s)] for s in item.get("sources") or []]
                source_rows.extend({"partnership_id": pid, "source_id": s, "position": i}
                                   for i, s in enumerate(dict.fromkeys(source_ids)))
                for milestone in item.get("milestones") or []:
                    source = milestone.get("source")
                    milestones.append((milestone, {
                        "partnership_id": pid, "date": milestone.get("date"),
                        "date_first": (parse_partial_date(milestone["date"])[0]
                                       if milestone.get("date") else None),
                        "kind": milestone["kind"], "description": milestone.get("description"),
                        "source_id": self.source_ids[_source_key(source)] if source else None}))
            for table, rows in ((partnership_sectors, sector_rows),
                                (partnership_organizations, org_rows),
                                (partnership_sources, source_rows)):
                for chunk in range(0, len(rows), 10000):
                    await session.execute(insert(table), rows[chunk:chunk + 10000])
            await self.milestones(milestones, organizations)
            self.report.partnerships_created += len(batch)
            self.progress("partnerships", start + len(batch), total)
        return touched

    async def milestones(self, items: list[tuple[dict[str, Any], dict[str, Any]]],
                         organizations: dict[str, int]) -> None:
        if not items:
            return
        ids = (await self.session.scalars(
            insert(Milestone.__table__).returning(
                    Milestone.__table__.c.id, sort_by_parameter_order=True),
            [row for _, row in items])).all()
        people = [
            {"milestone_id": mid, "position": i, "name": " ".join(person["name"].split()),
             "role": person.get("role"),
             "organization_id": (organizations[person["organization"]]
                                 if person.get("organization") else None)}
            for (milestone, _), mid in zip(items, ids, strict=True)
            for i, person in enumerate(milestone.get("participants") or [])]
        if people:
            await self.session.execute(insert(MilestoneParticipant.__table__), people)
        self.report.milestones_created += len(items)


async def refresh_partner_counts_in_bulk(session: AsyncSession, place_ids: set[int]) -> None:
    """The partner counts of many places at once: one grouped count, one batched update."""
    if len(place_ids) < 500:
        await refresh_partner_counts(session, place_ids)
        return
    ends = union_all(select(Partnership.place_a_id.label("pid")),
                     select(Partnership.place_b_id.label("pid"))).subquery()
    counts = dict((await session.execute(
        select(ends.c.pid, func.count()).group_by(ends.c.pid))).all())
    rows = [{"pid": pid, "n": counts.get(pid, 0)} for pid in sorted(place_ids)]
    places = Place.__table__
    await session.execute(update(places).where(places.c.id == bindparam("pid"))
                          .values(partner_count=bindparam("n")), rows)


async def reference_maps(session: AsyncSession) -> tuple[dict[str, int], dict[str, int]]:
    countries = dict((await session.execute(select(Country.code, Country.id))).all())
    sectors = dict((await session.execute(select(Sector.slug, Sector.id))).all())
    return countries, sectors


async def load_document(session: AsyncSession, doc: dict[str, Any], *,
                        actor: str | None = None,
                        progress: Progress | None = None) -> ImportReport:
    """Validate then write the whole document inside the caller's transaction."""
    countries, sectors = await reference_maps(session)
    validate_document(doc, countries, sectors)
    report = ImportReport()
    loader = _Loader(session, report, progress)
    await loader.places(doc.get("places") or [], countries)
    organizations = await loader.organizations(doc.get("organizations") or [])
    touched = await loader.partnerships(doc.get("partnerships") or [], sectors, organizations)
    await refresh_partner_counts_in_bulk(session, touched)
    if report.places_created or report.partnerships_created or report.milestones_created:
        await record_change(session, actor, ChangeEvent(
            "import", "created", 0, data={"summary": report.summary()}))
    return report
