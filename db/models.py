"""Typed SQLAlchemy models: places, partnerships and everything a partnership cites."""

from __future__ import annotations

import datetime as dt
from typing import Any

from citylinks.db.base import Base, SortKey
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Country(Base):
    """An ISO 3166-1 country (plus the few user-assigned codes real data needs, such as XK)."""

    __tablename__ = "countries"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(2), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Place(Base):
    """A city, province, prefecture or any other administrative body (GraphQL `City`)."""

    __tablename__ = "places"
    __table_args__ = (
        CheckConstraint(
            "latitude IS NULL OR (latitude >= -90 AND latitude <= 90)", name="latitude"
        ),
        CheckConstraint(
            "longitude IS NULL OR (longitude >= -180 AND longitude <= 180)", name="longitude"
        ),
        CheckConstraint("population IS NULL OR population >= 0", name="population"),
        Index("ix_places_country_sort", "country_id", "sort_key", "id"),
        Index("ix_places_sort", "sort_key", "id"),
        Index("ix_places_lat_lon", "latitude", "longitude"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    local_name: Mapped[str | None] = mapped_column(String(300))
    level: Mapped[str] = mapped_column(String(20))
    country_id: Mapped[int] = mapped_column(ForeignKey("countries.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"), index=True)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    population: Mapped[int | None] = mapped_column(Integer)
    # The first-level region it lies in ("Massachusetts"), which tells same-name places apart.
    region: Mapped[str | None] = mapped_column(String(200))
    wikidata_id: Mapped[str | None] = mapped_column(String(20), unique=True)
    # The folded name that orders places the same way on every database.
    sort_key: Mapped[str] = mapped_column(SortKey)
    # Kept by db.writes in the transaction that changes partnerships, so that
    # ordering and filtering by partner count need no aggregate at read time.
    partner_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, onupdate=_now
    )

    aliases: Mapped[list[PlaceAlias]] = relationship(
        lazy="raise", order_by="PlaceAlias.position", cascade="all, delete-orphan"
    )
    search_keys: Mapped[list[PlaceSearchKey]] = relationship(
        lazy="raise", cascade="all, delete-orphan"
    )


class PlaceAlias(Base):
    __tablename__ = "place_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("places.id", ondelete="CASCADE"), index=True)
    alias: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(Integer)


class PlaceSearchKey(Base):
    """One folded name of a place (its name, local name or an alias), for lookups."""

    __tablename__ = "place_search_keys"
    __table_args__ = (Index("ix_place_search_keys_key", "key", "place_id"),)

    place_id: Mapped[int] = mapped_column(
        ForeignKey("places.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(SortKey, primary_key=True)
    # 0 for the place's own name, 1 for its local name and aliases: a name
    # match outranks an alias match in search and in city(name:).
    rank: Mapped[int] = mapped_column(Integer)


class Sector(Base):
    __tablename__ = "sectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(120))


partnership_sectors = Table(
    "partnership_sectors",
    Base.metadata,
    Column("partnership_id", ForeignKey("partnerships.id", ondelete="CASCADE"), primary_key=True),
    Column("sector_id", ForeignKey("sectors.id"), primary_key=True),
    Index("ix_partnership_sectors_sector", "sector_id", "partnership_id"),
)

partnership_sources = Table(
    "partnership_sources",
    Base.metadata,
    Column("partnership_id", ForeignKey("partnerships.id", ondelete="CASCADE"), primary_key=True),
    Column("source_id", ForeignKey("sources.id"), primary_key=True),
    Column("position", Integer, nullable=False, server_default="0"),
)

partnership_organizations = Table(
    "partnership_organizations",
    Base.metadata,
    Column("partnership_id", ForeignKey("partnerships.id", ondelete="CASCADE"), primary_key=True),
    Column("organization_id", ForeignKey("organizations.id"), primary_key=True),
    Index("ix_partnership_organizations_org", "organization_id", "partnership_id"),
)


class Partnership(Base):
    """An unordered pair of places: `place_a_id` is always the smaller id."""

    __tablename__ = "partnerships"
    __table_args__ = (
        UniqueConstraint("place_a_id", "place_b_id", "kind"),
        CheckConstraint("place_a_id < place_b_id", name="ordered_pair"),
        Index("ix_partnerships_place_b", "place_b_id", "id"),
        Index("ix_partnerships_place_a", "place_a_id", "id"),
        Index("ix_partnerships_since", "since_first", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    place_a_id: Mapped[int] = mapped_column(ForeignKey("places.id"))
    place_b_id: Mapped[int] = mapped_column(ForeignKey("places.id"))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    # A partial date as the source gives it ("2009", "2009-04"), with the first
    # and last day it stands for, so that filters compare whole periods.
    since: Mapped[str | None] = mapped_column(String(10))
    since_first: Mapped[dt.date | None] = mapped_column(Date)
    since_last: Mapped[dt.date | None] = mapped_column(Date)
    until: Mapped[str | None] = mapped_column(String(10))
    until_first: Mapped[dt.date | None] = mapped_column(Date)
    until_last: Mapped[dt.date | None] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    # Derived from the two places' coordinates; refreshed when either moves.
    distance_km: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, onupdate=_now
    )


class Source(Base):
    """Where a fact comes from: a news story, an official page, a data set."""

    __tablename__ = "sources"
    __table_args__ = (Index("ix_sources_identity", "title", "url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str] = mapped_column(String(500))
    publisher: Mapped[str | None] = mapped_column(String(300))
    published_on: Mapped[str | None] = mapped_column(String(10))
    # The day an update found that the source no longer states the fact (a Wikidata
    # statement removed): the fact is kept, and readers can tell.
    withdrawn_on: Mapped[str | None] = mapped_column(String(10))
    # The licence the source's content is under ("CC0 1.0" for Wikidata), where it has one.
    license: Mapped[str | None] = mapped_column(String(100))


class Milestone(Base):
    __tablename__ = "milestones"
    __table_args__ = (Index("ix_milestones_partnership", "partnership_id", "date_first", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnerships.id", ondelete="CASCADE"))
    date: Mapped[str | None] = mapped_column(String(10))
    date_first: Mapped[dt.date | None] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))


class MilestoneParticipant(Base):
    """A person the milestone's source names as taking part, with their role and body."""

    __tablename__ = "milestone_participants"
    __table_args__ = (Index("ix_milestone_participants_milestone", "milestone_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestones.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))
    role: Mapped[str | None] = mapped_column(String(300))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (Index("ix_organizations_sort", "sort_key", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"), index=True)
    sort_key: Mapped[str] = mapped_column(SortKey)
    # Other names its sources use ("National Academy of Social sciences").
    aliases: Mapped[list[str] | None] = mapped_column(JSON)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(10))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # None: the token lives until it is revoked.
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ChangeLogEntry(Base):
    """Who changed what and when: one row per accepted write."""

    __tablename__ = "change_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=func.now()
    )
    actor: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class StoreState(Base):
    """A single row: the data version, bumped by every accepted write (HTTP caching keys on it)."""

    __tablename__ = "store_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    data_version: Mapped[int] = mapped_column(Integer, default=0)


class PersistedQuery(Base):
    """An automatic persisted query: a document registered under its SHA-256 (apq.py)."""

    __tablename__ = "persisted_queries"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # Moved forward at most once a minute per process: the registry keeps the most
    # recently used when it is full.
    last_used_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now,
                                                      index=True)


class Webhook(Base):
    """A receiver of change events, signed with its own secret (webhooks/)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Standard Webhooks signs with the secret itself, so it is kept, not hashed.
    secret: Mapped[str] = mapped_column(String(100))
    # ",city.created,partnership.created," (a LIKE finds a type with its commas);
    # NULL for every event type.
    event_types: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class WebhookDelivery(Base):
    """The outbox: one event for one webhook, written in the transaction of its change,
    then claimed, sent and retried by the delivery loop (webhooks/delivery.py)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    # The `webhook-id` header: the same on every attempt, so receivers can deduplicate.
    message_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    # The exact body that is signed and sent.
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # pending (new or retrying), delivered, or failed (given up).
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # The give-up age counts from here: the event's time, or its last redelivery.
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


# Ids are never reused, so a deleted object's id never names another one (a client's
# cache, another subgraph keyed on the id). PostgreSQL's sequences never go back;
# SQLite needs AUTOINCREMENT, else the next row gets the largest id + 1, which is a
# deleted row's id when the newest was deleted (migration 0003).
for _table in Base.metadata.tables.values():
    _key = list(_table.primary_key.columns)
    if len(_key) == 1 and isinstance(_key[0].type, Integer):
        _table.dialect_kwargs["sqlite_autoincrement"] = True

