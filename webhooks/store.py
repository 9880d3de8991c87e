"""Managing webhooks and their delivery log: what `citylinks webhook ...` runs."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from citylinks.db.errors import InvalidInput, NotFound
from citylinks.db.models import Webhook, WebhookDelivery
from citylinks.webhooks.events import EVENT_TYPES
from citylinks.webhooks.outbox import FAILED, PENDING
from citylinks.webhooks.urls import RefusedTarget, check_resolved, redact
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

SECRET_PREFIX = "whsec_"
# Standard Webhooks asks for secrets of 24 to 64 bytes.
SECRET_BYTES = 32


@dataclass(frozen=True)
class WebhookInfo:
    id: int
    url: str  # without its credentials: this is what is shown
    event_types: tuple[str, ...] | None  # None: every event type
    created_at: dt.datetime
    pending: int = 0
    failed: int = 0


@dataclass(frozen=True)
class DeliveryInfo:
    id: int
    webhook_id: int
    message_id: str
    event_type: str
    status: str  # pending, retrying, delivered or failed
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("a webhook URL is an http:// or https:// address", "url")
    if len(url) > 2000:
        raise InvalidInput("a webhook URL is at most 2000 characters", "url")
    return url


def check_event_types(types: Sequence[str] | None) -> tuple[str, ...] | None:
    if not types:
        return None
    wanted = tuple(dict.fromkeys(t.strip() for t in types if t.strip()))
    unknown = [t for t in wanted if t not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(f"unknown event type(s): {', '.join(unknown)}; "
                           f"known: {', '.join(EVENT_TYPES)}", "events")
    return wanted or None


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; every time here is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


async def add_webhook(session: AsyncSession, url: str,
                      event_types: Sequence[str] | None = None, *,
                      allow_private: bool = False) -> tuple[WebhookInfo, str]:
    """Subscribe `url` to `event_types` (all when empty); returns it and its secret. A
    target on a non-public address is refused unless `allow_private` (webhooks/urls.py)."""
    types = check_event_types(event_types)
    url = check_url(url)
    if not allow_private:
        try:
            await check_resolved(url)
        except RefusedTarget as refusal:
            raise InvalidInput(str(refusal), "url") from None
    secret = new_secret()
    row = Webhook(url=url, secret=secret,
                  event_types=f",{','.join(types)}," if types else None)
    session.add(row)
    await session.flush()
    return WebhookInfo(row.id, redact(row.url), types, row.created_at), secret


def _types(stored: str | None) -> tuple[str, ...] | None:
    return tuple(t for t in stored.split(",") if t) if stored else None


async def list_webhooks(session: AsyncSession) -> list[WebhookInfo]:
    def count(status: str) -> object:
        return (select(func.count()).where(WebhookDelivery.webhook_id == Webhook.id,
                                           WebhookDelivery.status == status)
                .scalar_subquery())

    rows = await session.execute(
        select(Webhook, count(PENDING), count(FAILED)).order_by(Webhook.id))
    return [WebhookInfo(w.id, redact(w.url), _types(w.event_types),
                        utc(w.created_at) or w.created_at,
                        pending, failed) for w, pending, failed in rows]


async def remove_webhook(session: AsyncSession, webhook_id: int) -> WebhookInfo:
    """Stop sending to it; its undelivered events and delivery log go with it."""
    row = await session.get(Webhook, webhook_id)
    if row is None:
        raise NotFound(f"webhook {webhook_id} does not exist")
    info = WebhookInfo(row.id, redact(row.url), _types(row.event_types),
                       utc(row.created_at) or row.created_at)
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == row.id))
    await session.execute(delete(Webhook).where(Webhook.id == row.id))
    return info


def _failing() -> object:
    """Given up, or retrying after a failed attempt."""
    return or_(WebhookDelivery.status == FAILED,
               and_(WebhookDelivery.status == PENDING, WebhookDelivery.attempts > 0))


async def list_deliveries(session: AsyncSession, webhook_id: int | None = None, *,
                          failed: bool = False, limit: int = 100) -> list[DeliveryInfo]:
    """The newest deliveries first."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if webhook_id is not None:
        query = query.where(WebhookDelivery.webhook_id == webhook_id)
    if failed:
        query = query.where(_failing())
    rows = await session.scalars(query)
    return [_delivery(d) for d in rows]


def _delivery(d: WebhookDelivery) -> DeliveryInfo:
    status = "retrying" if d.status == PENDING and d.attempts else d.status
    return DeliveryInfo(
        d.id, d.webhook_id, d.message_id, d.event_type, status, d.attempts, d.last_status_code,
        d.last_error, utc(d.created_at) or d.created_at, utc(d.last_attempt_at),
        utc(d.next_attempt_at) if d.status == PENDING else None)


async def redeliver(session: AsyncSession, delivery_ids: Sequence[int] = (), *,
                    failed: bool = False, webhook_id: int | None = None) -> int:
    """Queue deliveries to be sent again now, under the same `webhook-id` (receivers
    deduplicate on it): the ones named, or with `failed` every failing one (of
    `webhook_id`). The give-up age counts afresh. Returns how many were queued."""
    if not delivery_ids and not failed:
        raise InvalidInput("name deliveries to send again, or ask for the failed ones", "ids")
    condition = WebhookDelivery.id.in_(list(delivery_ids)) if delivery_ids else _failing()
    if webhook_id is not None:
        condition = and_(condition, WebhookDelivery.webhook_id == webhook_id)
    if delivery_ids:
        found = set((await session.scalars(
            select(WebhookDelivery.id).where(condition))).all())
        missing = [i for i in delivery_ids if i not in found]
        if missing:
            raise NotFound(f"delivery {missing[0]} does not exist")
    now = dt.datetime.now(dt.UTC)
    result = await session.execute(
        update(WebhookDelivery).where(condition)
        .values(status=PENDING, next_attempt_at=now, queued_at=now, delivered_at=None)
        .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]
