"""The event types a webhook can receive, and the signed JSON body of each."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from citylinks.db.writes import ChangeEvent


EVENT_TYPES = (
    "partnership.created",
    "partnership.updated",
    "partnership.deleted",
    "city.created",
    "city.updated",
    "city.deleted",
    "milestone.created",
)

# The GraphQL type whose global id names each entity (schema/ids.py builds the same ids).
_NODE_TYPE = {"city": "City", "partnership": "Partnership"}


def global_id(type_name: str, pk: int) -> str:
    """Relay's global id, base64 of "City:12": the id the GraphQL API hands out."""
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def event_type(event: ChangeEvent) -> str | None:
    """`city.created` and the like; None for changes no webhook receives (an import's summary)."""
    name = f"{event.entity_type}.{event.action}"
    return name if name in EVENT_TYPES else None


def event_data(event: ChangeEvent) -> dict[str, Any]:
    """The object's global id and its scalar fields, named as in the GraphQL API."""
    if event.entity_type == "milestone":
        # A milestone has no id of its own: it is a step of its partnership, which
        # `id` (and `partnershipId`) name.
        data = dict(event.data)
        partnership = global_id("Partnership", int(data.pop("partnershipId")))
        return {"id": partnership, "partnershipId": partnership, **data}
    return {"id": global_id(_NODE_TYPE[event.entity_type], event.entity_id), **event.data}


def new_message_id() -> str:
    """The `webhook-id`: unique per event, the same on every attempt to deliver it."""
    return f"msg_{uuid.uuid4().hex}"


def body(type_name: str, data: dict[str, Any], at: dt.datetime) -> str:
    """The exact text that is signed and sent: {"type", "timestamp", "data"}."""
    timestamp = at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({"type": type_name, "timestamp": timestamp, "data": data},
                      separators=(",", ":"), ensure_ascii=False, default=str)
