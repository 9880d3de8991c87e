"""Bulk loading of a citylinks document (the JSON export format) in one transaction.

Every import format is first turned into that document; the whole document is
validated before the first row is written, so a bad file writes nothing. Places
are matched by Wikidata id, then by folded name + country, never duplicated;
a partnership that already exists (same pair, same kind) is left as it is, so
importing the same file twice changes nothing.
"""

from __future__ import annotations

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
from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

FORMAT = "citylinks"
VERSION = 1
Progress = Callable[[str, int, int], None]


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
        for j, milestone in enumerate(p.get("milestones") or []):
            check.enum(f"{where}.milestones[{j}].kind", milestone.get("kind"), MilestoneKind)
            check.date(f"{where}.milestones[{j}].date", milestone.get("date"))
            if milestone.get("source"):
                check.text(f"{where}.milestones[{j}].source.title",
                           milestone["source"].get("title"), required=True)
    if check.problems:
        raise ImportFailed(check.problems)


class _Loader:
    """Holds the lookups of one import so that each row costs no extra query."""

    def __init__(self, session: AsyncSession, report: ImportReport,
                 progress: Progress | None) -> None:
        self.session = session
        self.report = report
        self.progress = progress or (lambda stage, done, total: None)
        self.place_ids: dict[str, int] = {}
        self.coordinates: dict[int, tuple[float | None, float | None]] = {}
        self.source_ids: dict[tuple[str, str | None], int] = {}

    async def prefetch_sources(self, items: list[dict[str, Any]]) -> None:
        """Find or create every source the items name, a few statements in all: one
        statement per source (what `sources` does alone) costs minutes for the world's
        twinnings, each with its own Wikidata statement."""
        wanted: dict[tuple[str, str | None], dict[str, Any]] = {}
        for item in items:
            named = [*(item.get("sources") or []),
                     *(m["source"] for m in item.get("milestones") or [] if m.get("source"))]
            for source in named:
                key = (" ".join(source["title"].split()), source.get("url"))
                if key not in self.source_ids:
                    wanted.setdefault(key, source)
        await self._find_sources(list(wanted))
        missing = [key for key in wanted if key not in self.source_ids]
        if missing:
            # One executemany, then the ids read back: the ORM would insert row by row.
            await self.session.execute(insert(Source), [
                {"title": title, "url": url, "publisher": wanted[title, url].get("publisher"),
                 "published_on": wanted[title, url].get("publishedOn"),
                 "withdrawn_on": wanted[title, url].get("withdrawnOn")}
                for title, url in missing])
            await self._find_sources(missing)

    async def _find_sources(self, keys: list[tuple[str, str | None]]) -> None:
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            urls = {url for _, url in chunk if url is not None}
            titles = {title for title, url in chunk if url is None}
            found = await self.session.execute(
                select(Source.id, Source.title, Source.url).where(or_(
                    Source.url.in_(urls), Source.url.is_(None) & Source.title.in_(titles)))
                .order_by(Source.id))
            for sid, title, url in found:
                self.source_ids.setdefault((title, url), sid)

    async def sources(self, items: list[dict[str, Any]]) -> list[int]:
        ids = []
        for item in items:
            key = (" ".join(item["title"].split()), item.get("url"))
            if key not in self.source_ids:
                existing = await self.session.scalar(select(Source.id).where(
                    Source.title == key[0],
                    Source.url.is_(None) if key[1] is None else Source.url == key[1],
                ).order_by(Source.id).limit(1))
                if existing is None:
                    row = Source(title=key[0], url=key[1], publisher=item.get("publisher"),
                                 published_on=item.get("publishedOn"),
                                 withdrawn_on=item.get("withdrawnOn"))
                    self.session.add(row)
                    await self.session.flush()
                    existing = row.id
                self.source_ids[key] = existing
            ids.append(self.source_ids[key])
        return ids

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
        new_places: list[tuple[dict[str, Any], Place]] = []
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
            place = Place(
                name=name, local_name=item.get("localName"), level=item.get("level") or "CITY",
                country_id=country_id, latitude=item.get("latitude"),
                longitude=item.get("longitude"), population=item.get("population"),
                wikidata_id=wikidata, sort_key=sort_key(name), partner_count=0)
            new_places.append((item, place))
            if wikidata:
                new_by_wikidata[wikidata] = item["ref"]
        for place_id, wikidata in adopted.items():
            await session.execute(update(Place).where(Place.id == place_id)
                                  .values(wikidata_id=wikidata)
                                  .execution_options(synchronize_session=False))
        session.add_all(place for _, place in new_places)
        await session.flush()
        aliases: list[dict[str, Any]] = []
        keys: list[dict[str, Any]] = []
        for item, place in new_places:
            self.place_ids[item["ref"]] = place.id
        for ref, same in aliases_of.items():
            self.place_ids[ref] = self.place_ids[same]
        for item, place in new_places:
            names = [a for a in dict.fromkeys(item.get("aliases") or []) if a and a.strip()]
            aliases.extend({"place_id": place.id, "alias": a, "position": i}
                           for i, a in enumerate(names))
            seen: set[str] = set()
            for rank, text in [(0, place.name), (1, place.local_name), *((1, a) for a in names)]:
                key = search_key(text) if text else ""
                if key and key not in seen:
                    seen.add(key)
                    keys.append({"place_id": place.id, "key": key, "rank": rank})
        for table, rows in ((PlaceAlias, aliases), (PlaceSearchKey, keys)):
            for start in range(0, len(rows), 5000):
                await session.execute(insert(table), rows[start:start + 5000])
        # Parents are set once every place of the file has its id.
        for item, place in new_places:
            if item.get("parent"):
                place.parent_id = self.place_ids[item["parent"]]
        await session.flush()
        self.report.places_created += len(new_places)
        for pid, lat, lon in await session.execute(
            select(Place.id, Place.latitude, Place.longitude)
            .where(Place.id.in_(list(set(self.place_ids.values()))))
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
                org = Organization(name=" ".join(item["name"].split()), kind=item["kind"],
                                   place_id=place_id, sort_key=key[0])
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
        pending: list[tuple[dict[str, Any], Partnership]] = []
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
            pending.append((item, Partnership(
                place_a_id=a, place_b_id=b, kind=item["kind"], status=item["status"],
                since=item.get("since"), since_first=since_first, since_last=since_last,
                until=item.get("until"), until_first=until_first, until_last=until_last,
                description=item.get("description"),
                distance_km=distance_between(self.coordinates[a], self.coordinates[b]),
            )))
            touched.update((a, b))
        total = len(pending)
        await self.prefetch_sources([item for item, _ in pending])
        for start in range(0, total, 2000):
            batch = pending[start:start + 2000]
            session.add_all(p for _, p in batch)
            await session.flush()
            sector_rows, org_rows, source_rows = [], [], []
            for item, p in batch:
                sector_rows.extend({"partnership_id": p.id, "sector_id": sectors[s]}
                                   for s in dict.fromkeys(item.get("sectors") or []))
                org_rows.extend({"partnership_id": p.id, "organization_id": organizations[o]}
                                for o in dict.fromkeys(item.get("organizations") or []))
                source_ids = await self.sources(item.get("sources") or [])
                source_rows.extend({"partnership_id": p.id, "source_id": s, "position": i}
                                   for i, s in enumerate(dict.fromkeys(source_ids)))
                for milestone in item.get("milestones") or []:
                    source = milestone.get("source")
                    session.add(Milestone(
                        partnership_id=p.id, date=milestone.get("date"),
                        date_first=(parse_partial_date(milestone["date"])[0]
                                    if milestone.get("date") else None),
                        kind=milestone["kind"], description=milestone.get("description"),
                        source_id=(await self.sources([source]))[0] if source else None))
                    self.report.milestones_created += 1
            for table, rows in ((partnership_sectors, sector_rows),
                                (partnership_organizations, org_rows),
                                (partnership_sources, source_rows)):
                if rows:
                    await session.execute(insert(table), rows)
            self.report.partnerships_created += len(batch)
            self.progress("partnerships", min(start + len(batch), total), total)
        await session.flush()
        return touched


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
    await refresh_partner_counts(session, touched)
    if report.places_created or report.partnerships_created or report.milestones_created:
        await record_change(session, actor, ChangeEvent(
            "import", "created", 0, data={"summary": report.summary()}))
    return report
