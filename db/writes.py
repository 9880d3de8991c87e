"""Write units: validate, change the rows, log the change; each runs inside one transaction.

The caller owns the transaction (`Database.write()`); any exception raised here
rolls back everything the unit did, so a rejected write leaves no trace.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from citylinks.db.enums import (
    AdminLevel,
    MilestoneKind,
    PartnershipKind,
    PartnershipStatus,
)
from citylinks.db.errors import Conflict, InvalidInput, NotFound
from citylinks.db.geo import distance_between
from citylinks.db.models import (
    ChangeLogEntry,
    Country,
    Milestone,
    Organization,
    Partnership,
    Place,
    PlaceAlias,
    PlaceSearchKey,
    Sector,
    Source,
    StoreState,
    partnership_organizations,
    partnership_sectors,
    partnership_sources,
)
from citylinks.db.partial_dates import PartialDateError, parse_partial_date
from citylinks.db.text import search_key, sort_key
from citylinks.webhooks import outbox
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

MAX_NAME_LENGTH = 300
MAX_TEXT_LENGTH = 10_000
_WIKIDATA_ID = re.compile(r"^Q[1-9]\d{0,11}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)

# Pending change notifications travel with the session until the transaction commits.
EVENTS_KEY = "citylinks_events"


@dataclass(frozen=True)
class ChangeEvent:
    """What a committed write changed, for subscriptions and webhooks."""

    entity_type: str  # "partnership", "city", "milestone"
    action: str  # "created", "updated", "deleted"
    entity_id: int
    place_ids: tuple[int, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceFields:
    title: str
    url: str | None = None
    publisher: str | None = None
    published_on: str | None = None


# ---------------------------------------------------------------- validation


def _text(value: str | None, field_name: str, *, required: bool = False,
          max_length: int = MAX_NAME_LENGTH) -> str | None:
    if value is None:
        if required:
            raise InvalidInput(f"{field_name} is required", field_name)
        return None
    cleaned = " ".join(value.split()) if max_length <= MAX_NAME_LENGTH else value.strip()
    if not cleaned:
        if required:
            raise InvalidInput(f"{field_name} must not be blank", field_name)
        return None
    if len(cleaned) > max_length:
        raise InvalidInput(f"{field_name} is longer than {max_length} characters", field_name)
    return cleaned


def _coordinate(value: float | None, field_name: str, limit: float) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or not -limit <= value <= limit:
        raise InvalidInput(f"{field_name} must be between {-limit:g} and {limit:g}", field_name)
    return float(value)


def _partial_date(value: str | None, field_name: str) -> tuple[str | None, Any, Any]:
    if value is None:
        return None, None, None
    try:
        first, last = parse_partial_date(value)
    except PartialDateError as error:
        raise InvalidInput(str(error), field_name) from None
    return value, first, last


def _enum(value: str, enum: type[Any], field_name: str) -> str:
    try:
        return str(enum(value))
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidInput(f"{field_name} must be one of {allowed}", field_name) from None


async def country_id_for(session: AsyncSession, code: str, field_name: str = "country") -> int:
    country_id = await session.scalar(select(Country.id).where(Country.code == code.upper()))
    if country_id is None:
        raise InvalidInput(f"{code!r} is not a known ISO 3166-1 alpha-2 country code", field_name)
    return country_id


async def sector_ids_for(session: AsyncSession, slugs: Iterable[str]) -> list[int]:
    wanted = list(dict.fromkeys(slugs))
    rows = dict((await session.execute(
        select(Sector.slug, Sector.id).where(Sector.slug.in_(wanted))
    )).all())
    unknown = [slug for slug in wanted if slug not in rows]
    if unknown:
        raise InvalidInput(f"unknown sector slug(s): {', '.join(unknown)}", "sectors")
    return [rows[slug] for slug in wanted]


def source_fields(url: str | None, title: str | None, publisher: str | None,
                  published_on: str | None) -> SourceFields:
    cleaned_title = _text(title, "title", required=True, max_length=500)
    assert cleaned_title is not None
    cleaned_url = _text(url, "url", max_length=2000)
    if cleaned_url is not None and not _URL.match(cleaned_url):
        raise InvalidInput("url must be an http or https address", "url")
    _partial_date(published_on, "publishedOn")
    return SourceFields(cleaned_title, cleaned_url, _text(publisher, "publisher"), published_on)


# ---------------------------------------------------------------- change log


async def record_change(session: AsyncSession, actor: str | None, event: ChangeEvent) -> None:
    """Log the change, bump the data version, write the webhook outbox (in this same
    transaction, so the event is sent if and only if the change commits), and queue
    the event for subscribers after commit."""
    session.add(ChangeLogEntry(
        actor=actor, action=event.action, entity_type=event.entity_type,
        entity_id=event.entity_id, details=event.data or None,
    ))
    await session.execute(
        update(StoreState).where(StoreState.id == 1)
        .values(data_version=StoreState.data_version + 1)
    )
    await outbox.enqueue(session, event)
    session.info.setdefault(EVENTS_KEY, []).append(event)


# ---------------------------------------------------------------- places


async def _replace_names(session: AsyncSession, place: Place, aliases: Sequence[str]) -> None:
    await session.execute(delete(PlaceAlias).where(PlaceAlias.place_id == place.id))
    await session.execute(delete(PlaceSearchKey).where(PlaceSearchKey.place_id == place.id))
    cleaned = [a for a in dict.fromkeys(_text(a, "aliases") for a in aliases) if a]
    session.add_all(
        PlaceAlias(place_id=place.id, alias=alias, position=i) for i, alias in enumerate(cleaned)
    )
    keys: dict[str, int] = {}
    for rank, name in [(0, place.name), (1, place.local_name), *((1, a) for a in cleaned)]:
        key = search_key(name) if name else ""
        if key and key not in keys:
            keys[key] = rank
    session.add_all(PlaceSearchKey(place_id=place.id, key=k, rank=r) for k, r in keys.items())


async def _check_wikidata_id(session: AsyncSession, value: str | None,
                             place_id: int | None) -> str | None:
    value = _text(value, "wikidataId", max_length=20)
    if value is None:
        return None
    if not _WIKIDATA_ID.match(value):
        raise InvalidInput("wikidataId must look like Q25282", "wikidataId")
    holder = await session.scalar(select(Place.id).where(Place.wikidata_id == value))
    if holder is not None and holder != place_id:
        raise Conflict(f"another place already has wikidataId {value}")
    return value


async def _check_parent(session: AsyncSession, parent_id: int | None,
                        place_id: int | None) -> int | None:
    if parent_id is None:
        return None
    if await session.get(Place, parent_id) is None:
        raise NotFound(f"parent place {parent_id} does not exist")
    # Walk up from the new parent: meeting the place itself would close a cycle.
    current: int | None = parent_id
    while current is not None and place_id is not None:
        if current == place_id:
            raise InvalidInput("a place cannot be inside itself", "parent")
        current = await session.scalar(select(Place.parent_id).where(Place.id == current))
    return parent_id


async def create_place(session: AsyncSession, values: dict[str, Any],
                       actor: str | None = None) -> Place:
    """`values` uses the GraphQL input's field names (camelCase)."""
    name = _text(values.get("name"), "name", required=True)
    assert name is not None
    place = Place(
        name=name,
        local_name=_text(values.get("localName"), "localName"),
        level=_enum(values.get("level") or "", AdminLevel, "level"),
        country_id=await country_id_for(session, values.get("country") or ""),
        parent_id=await _check_parent(session, values.get("parent"), None),
        latitude=_coordinate(values.get("latitude"), "latitude", 90),
        longitude=_coordinate(values.get("longitude"), "longitude", 180),
        population=_population(values.get("population")),
        wikidata_id=await _check_wikidata_id(session, values.get("wikidataId"), None),
        sort_key=sort_key(name),
        partner_count=0,
    )
    session.add(place)
    await session.flush()
    await _replace_names(session, place, values.get("aliases") or [])
    await record_change(session, actor, ChangeEvent("city", "created", place.id,
                                                    data=_place_data(place)))
    return place


def _population(value: int | None) -> int | None:
    if value is not None and value < 0:
        raise InvalidInput("population must be zero or more", "population")
    return value


def _place_data(place: Place) -> dict[str, Any]:
    return {
        "name": place.name, "localName": place.local_name, "level": place.level,
        "latitude": place.latitude, "longitude": place.longitude,
        "population": place.population, "wikidataId": place.wikidata_id,
    }


async def get_place(session: AsyncSession, place_id: int) -> Place:
    place = await session.get(Place, place_id)
    if place is None:
        raise NotFound(f"city {place_id} does not exist")
    return place


async def update_place(session: AsyncSession, place_id: int, patch: dict[str, Any],
                       actor: str | None = None) -> Place:
    """Only the keys present in `patch` change; a key set to None clears that field."""
    place = await get_place(session, place_id)
    if "name" in patch:
        name = _text(patch["name"], "name", required=True)
        assert name is not None
        place.name, place.sort_key = name, sort_key(name)
    if "localName" in patch:
        place.local_name = _text(patch["localName"], "localName")
    if "level" in patch:
        place.level = _enum(patch["level"] or "", AdminLevel, "level")
    if "country" in patch:
        place.country_id = await country_id_for(session, patch["country"] or "")
    if "parent" in patch:
        place.parent_id = await _check_parent(session, patch["parent"], place.id)
    if "latitude" in patch:
        place.latitude = _coordinate(patch["latitude"], "latitude", 90)
    if "longitude" in patch:
        place.longitude = _coordinate(patch["longitude"], "longitude", 180)
    if "population" in patch:
        place.population = _population(patch["population"])
    if "wikidataId" in patch:
        place.wikidata_id = await _check_wikidata_id(session, patch["wikidataId"], place.id)
    if {"name", "localName", "aliases"} & patch.keys():
        aliases = patch["aliases"] if "aliases" in patch else (await session.scalars(
            select(PlaceAlias.alias).where(PlaceAlias.place_id == place.id)
            .order_by(PlaceAlias.position))).all()
        await session.flush()
        await _replace_names(session, place, aliases or [])
    await session.flush()
    if {"latitude", "longitude"} & patch.keys():
        await refresh_distances(session, [place.id])
    await record_change(session, actor, ChangeEvent("city", "updated", place.id,
                                                    data=_place_data(place)))
    return place


async def delete_place(session: AsyncSession, place_id: int, actor: str | None = None) -> None:
    place = await get_place(session, place_id)
    named_by = await session.scalar(select(func.count()).select_from(Partnership).where(
        or_(Partnership.place_a_id == place_id, Partnership.place_b_id == place_id)))
    if named_by:
        raise Conflict(f"{place.name} is named by {named_by} partnership(s); delete those first")
    children = await session.scalar(select(func.count()).where(Place.parent_id == place_id))
    if children:
        raise Conflict(f"{place.name} contains {children} place(s); move or delete those first")
    organizations = await session.scalar(
        select(func.count()).where(Organization.place_id == place_id))
    if organizations:
        raise Conflict(f"{organizations} organization(s) are located in {place.name}")
    data = _place_data(place)
    await session.delete(place)
    await session.flush()
    await record_change(session, actor, ChangeEvent("city", "deleted", place_id, data=data))


# ---------------------------------------------------------------- partnerships


async def refresh_partner_counts(session: AsyncSession, place_ids: Iterable[int]) -> None:
    ids = sorted(set(place_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        count = (
            select(func.count()).select_from(Partnership)
            .where(or_(Partnership.place_a_id == Place.id, Partnership.place_b_id == Place.id))
            .scalar_subquery()
        )
        await session.execute(
            update(Place).where(Place.id.in_(chunk)).values(partner_count=count)
            .execution_options(synchronize_session=False)
        )


async def refresh_distances(session: AsyncSession, place_ids: Iterable[int]) -> None:
    """Recompute distance_km of every partnership touching these places."""
    ids = list(set(place_ids))
    rows = (await session.execute(
        select(Partnership.id, Partnership.place_a_id, Partnership.place_b_id)
        .where(or_(Partnership.place_a_id.in_(ids), Partnership.place_b_id.in_(ids)))
    )).all()
    if not rows:
        return
    coordinates = await _coordinates(session, {p for r in rows for p in (r[1], r[2])})
    for partnership_id, a, b in rows:
        await session.execute(
            update(Partnership).where(Partnership.id == partnership_id)
            .values(distance_km=distance_between(coordinates[a], coordinates[b]))
            .execution_options(synchronize_session=False)
        )


async def _coordinates(session: AsyncSession,
                       ids: Iterable[int]) -> dict[int, tuple[float | None, float | None]]:
    rows = await session.execute(
        select(Place.id, Place.latitude, Place.longitude).where(Place.id.in_(list(ids))))
    return {pid: (lat, lon) for pid, lat, lon in rows}


async def get_partnership(session: AsyncSession, partnership_id: int) -> Partnership:
    partnership = await session.get(Partnership, partnership_id)
    if partnership is None:
        raise NotFound(f"partnership {partnership_id} does not exist")
    return partnership


async def _ordered_pair(session: AsyncSession, place_ids: Sequence[int]) -> tuple[int, int]:
    if len(place_ids) != 2 or place_ids[0] == place_ids[1]:
        raise InvalidInput("a partnership names exactly two distinct cities", "cities")
    found = set((await session.scalars(select(Place.id).where(Place.id.in_(place_ids)))).all())
    missing = [pid for pid in place_ids if pid not in found]
    if missing:
        raise NotFound(f"city {missing[0]} does not exist")
    a, b = sorted(place_ids)
    return a, b


async def _check_unique_kind(session: AsyncSession, a: int, b: int, kind: str,
                             partnership_id: int | None) -> None:
    existing = await session.scalar(select(Partnership.id).where(
        Partnership.place_a_id == a, Partnership.place_b_id == b, Partnership.kind == kind))
    if existing is not None and existing != partnership_id:
        raise Conflict(f"these two cities already have a {kind} partnership")


def _check_period(since_first: Any, until_last: Any) -> None:
    if since_first is not None and until_last is not None and until_last < since_first:
        raise InvalidInput("until must not be before since", "until")


async def _organization_ids(session: AsyncSession, ids: Sequence[int]) -> list[int]:
    wanted = list(dict.fromkeys(ids))
    found = set((await session.scalars(
        select(Organization.id).where(Organization.id.in_(wanted)))).all())
    missing = [oid for oid in wanted if oid not in found]
    if missing:
        raise NotFound(f"organization {missing[0]} does not exist")
    return wanted


async def source_id_for(session: AsyncSession, source: SourceFields) -> int:
    """The same title and url name the same source: reuse its row."""
    existing = await session.scalar(select(Source.id).where(
        Source.title == source.title,
        Source.url.is_(None) if source.url is None else Source.url == source.url,
    ).order_by(Source.id).limit(1))
    if existing is not None:
        row = await session.get(Source, existing)
        assert row is not None
        row.publisher = row.publisher or source.publisher
        row.published_on = row.published_on or source.published_on
        return existing
    row = Source(title=source.title, url=source.url, publisher=source.publisher,
                 published_on=source.published_on)
    session.add(row)
    await session.flush()
    return row.id


async def _link_all(session: AsyncSession, partnership_id: int, *, sector_ids: list[int] | None,
                    organization_ids: list[int] | None, source_ids: list[int] | None) -> None:
    if sector_ids is not None:
        await session.execute(delete(partnership_sectors)
                              .where(partnership_sectors.c.partnership_id == partnership_id))
        if sector_ids:
            await session.execute(insert(partnership_sectors), [
                {"partnership_id": partnership_id, "sector_id": s} for s in sector_ids])
    if organization_ids is not None:
        await session.execute(delete(partnership_organizations)
                              .where(partnership_organizations.c.partnership_id == partnership_id))
        if organization_ids:
            await session.execute(insert(partnership_organizations), [
                {"partnership_id": partnership_id, "organization_id": o}
                for o in organization_ids])
    if source_ids is not None:
        await session.execute(delete(partnership_sources)
                              .where(partnership_sources.c.partnership_id == partnership_id))
        if source_ids:
            await session.execute(insert(partnership_sources), [
                {"partnership_id": partnership_id, "source_id": s, "position": i}
                for i, s in enumerate(dict.fromkeys(source_ids))])


def partnership_data(p: Partnership) -> dict[str, Any]:
    return {"kind": p.kind, "status": p.status, "since": p.since, "until": p.until,
            "description": p.description, "distanceKm": p.distance_km}


async def create_partnership(session: AsyncSession, values: dict[str, Any],
                             actor: str | None = None) -> Partnership:
    """`values`: cities (two place ids), kind, status, since, until, description,
    sectors (slugs), organizations (ids), sources (SourceFields)."""
    a, b = await _ordered_pair(session, values.get("cities") or [])
    kind = _enum(values.get("kind") or "", PartnershipKind, "kind")
    status = _enum(values.get("status") or "", PartnershipStatus, "status")
    since, since_first, since_last = _partial_date(values.get("since"), "since")
    until, until_first, until_last = _partial_date(values.get("until"), "until")
    _check_period(since_first, until_last)
    sector_ids = await sector_ids_for(session, values.get("sectors") or [])
    organization_ids = await _organization_ids(session, values.get("organizations") or [])
    await _check_unique_kind(session, a, b, kind, None)
    coordinates = await _coordinates(session, (a, b))
    partnership = Partnership(
        place_a_id=a, place_b_id=b, kind=kind, status=status,
        since=since, since_first=since_first, since_last=since_last,
        until=until, until_first=until_first, until_last=until_last,
        description=_text(values.get("description"), "description", max_length=MAX_TEXT_LENGTH),
        distance_km=distance_between(coordinates[a], coordinates[b]),
    )
    session.add(partnership)
    await session.flush()
    source_ids = [await source_id_for(session, s) for s in values.get("sources") or []]
    await _link_all(session, partnership.id, sector_ids=sector_ids,
                    organization_ids=organization_ids, source_ids=source_ids)
    await refresh_partner_counts(session, (a, b))
    await record_change(session, actor, ChangeEvent(
        "partnership", "created", partnership.id, (a, b), partnership_data(partnership)))
    return partnership


async def update_partnership(session: AsyncSession, partnership_id: int, patch: dict[str, Any],
                             actor: str | None = None) -> Partnership:
    partnership = await get_partnership(session, partnership_id)
    old_pair = (partnership.place_a_id, partnership.place_b_id)
    if "cities" in patch:
        partnership.place_a_id, partnership.place_b_id = await _ordered_pair(
            session, patch["cities"] or [])
    if "kind" in patch:
        partnership.kind = _enum(patch["kind"] or "", PartnershipKind, "kind")
    if "status" in patch:
        partnership.status = _enum(patch["status"] or "", PartnershipStatus, "status")
    if "since" in patch:
        partnership.since, partnership.since_first, partnership.since_last = _partial_date(
            patch["since"], "since")
    if "until" in patch:
        partnership.until, partnership.until_first, partnership.until_last = _partial_date(
            patch["until"], "until")
    _check_period(partnership.since_first, partnership.until_last)
    if "description" in patch:
        partnership.description = _text(patch["description"], "description",
                                         max_length=MAX_TEXT_LENGTH)
    sector_ids = (await sector_ids_for(session, patch["sectors"] or [])
                  if "sectors" in patch else None)
    organization_ids = (await _organization_ids(session, patch["organizations"] or [])
                        if "organizations" in patch else None)
    await _check_unique_kind(session, partnership.place_a_id, partnership.place_b_id,
                             partnership.kind, partnership.id)
    source_ids = ([await source_id_for(session, s) for s in patch["sources"] or []]
                  if "sources" in patch else None)
    await session.flush()
    await _link_all(session, partnership.id, sector_ids=sector_ids,
                    organization_ids=organization_ids, source_ids=source_ids)
    new_pair = (partnership.place_a_id, partnership.place_b_id)
    if new_pair != old_pair:
        await refresh_partner_counts(session, (*old_pair, *new_pair))
        await refresh_distances(session, new_pair)
    await record_change(session, actor, ChangeEvent(
        "partnership", "updated", partnership.id, tuple(sorted({*old_pair, *new_pair})),
        partnership_data(partnership)))
    return partnership


async def delete_partnership(session: AsyncSession, partnership_id: int,
                             actor: str | None = None) -> None:
    partnership = await get_partnership(session, partnership_id)
    pair = (partnership.place_a_id, partnership.place_b_id)
    data = partnership_data(partnership)
    await session.execute(delete(Milestone).where(Milestone.partnership_id == partnership_id))
    await session.delete(partnership)
    await session.flush()
    await refresh_partner_counts(session, pair)
    await record_change(session, actor, ChangeEvent(
        "partnership", "deleted", partnership_id, pair, data))


async def add_milestone(session: AsyncSession, partnership_id: int, values: dict[str, Any],
                        actor: str | None = None) -> Partnership:
    """`values`: date, kind, description, source (SourceFields or None)."""
    partnership = await get_partnership(session, partnership_id)
    date, date_first, _ = _partial_date(values.get("date"), "date")
    source: SourceFields | None = values.get("source")
    milestone = Milestone(
        partnership_id=partnership_id, date=date, date_first=date_first,
        kind=_enum(values.get("kind") or "", MilestoneKind, "kind"),
        description=_text(values.get("description"), "description", max_length=MAX_TEXT_LENGTH),
        source_id=await source_id_for(session, source) if source else None,
    )
    session.add(milestone)
    await session.flush()
    pair = (partnership.place_a_id, partnership.place_b_id)
    await record_change(session, actor, ChangeEvent(
        "milestone", "created", milestone.id, pair,
        {"partnershipId": partnership_id, "date": date, "kind": milestone.kind,
         "description": milestone.description}))
    return partnership
