"""The outbox: an event's deliveries, written inside the transaction of the change itself.

One INSERT ... SELECT per change: a row for each webhook subscribed to the
event's type, none when no webhook is. The change and its deliveries commit or
roll back together, so an accepted write is never lost to a crash before its
delivery, and a rejected write is never announced.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from citylinks.db.models import Webhook, WebhookDelivery
from citylinks.webhooks.events import body, event_data, event_type, new_message_id
from sqlalchemy import DateTime, Integer, String, Text, insert, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from citylinks.db.writes import ChangeEvent

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


def subscribed(type_name: str) -> object:
    """The SQL condition "this webhook receives `type_name`"."""
    return or_(Webhook.event_types.is_(None), Webhook.event_types.like(f"%,{type_name},%"))


async def enqueue(session: AsyncSession, event: ChangeEvent) -> None:
    type_name = event_type(event)
    if type_name is None:
        return
    now = dt.datetime.now(dt.UTC)
    payload = body(type_name, event_data(event), now)
    when = literal(now, DateTime(timezone=True))
    await session.execute(insert(WebhookDelivery).from_select(
        ["webhook_id", "message_id", "event_type", "payload", "created_at", "status",
         "attempts", "next_attempt_at", "queued_at"],
        select(Webhook.id, literal(new_message_id(), String()), literal(type_name, String()),
               literal(payload, Text()), when, literal(PENDING, String()),
               literal(0, Integer()), when, when)
        .where(subscribed(type_name)),
    ))
