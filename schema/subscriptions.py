"""Root subscription fields: committed partnership changes, pushed over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from citylinks.db import queries
from citylinks.db.writes import ChangeEvent
from citylinks.events import EventBroadcaster, SubscriberOverflow
from citylinks.schema.enums import ChangeAction
from citylinks.schema.errors import INTERNAL_SERVER_ERROR, ApiError
from citylinks.schema.ids import decode_id, encode_id
from citylinks.schema.loaders import Loaders
from citylinks.schema.types.nodes import Partnership
from strawberry.types import Info

_ACTIONS = {"created": ChangeAction.CREATED, "updated": ChangeAction.UPDATED,
            "deleted": ChangeAction.DELETED}


@strawberry.type(description="A committed change to a partnership.")
class PartnershipEvent:
    action: ChangeAction = strawberry.field(description=(
        "CREATED, UPDATED (a milestone added counts as an update) or DELETED."))
    partnership_id: strawberry.ID = strawberry.field(description=(
        "The partnership's id; still given after it was deleted."))
    partnership: Partnership | None = strawberry.field(description=(
        "The partnership as it is now; null once deleted."))


def partnership_change(event: ChangeEvent) -> tuple[ChangeAction, int] | None:
    """The partnership change an event stands for, if it stands for one."""
    if event.entity_type == "partnership" and event.action in _ACTIONS:
        return _ACTIONS[event.action], event.entity_id
    if event.entity_type == "milestone" and event.data.get("partnershipId") is not None:
        return ChangeAction.UPDATED, int(event.data["partnershipId"])
    return None


@strawberry.type(description=(
    "Live changes, over WebSocket with the graphql-transport-ws protocol on /graphql. "
    "Needs no token."))
class Subscription:
    @strawberry.subscription(description=(
        "Every committed create, update or delete of a partnership, from any worker; with "
        "`city`, only those whose partnership names that place (before or after the change)."))
    async def partnership_changed(
        self, info: Info,
        city: Annotated[strawberry.ID | None, strawberry.argument(
            description="Only changes to this place's partnerships.")] = None,
    ) -> AsyncGenerator[PartnershipEvent, None]:
        city_id = decode_id(city, "City", "city") if city is not None else None
        events: EventBroadcaster = info.context.services.events
        database = info.context.db
        async with events.subscribe() as subscriber:
            while True:
                try:
                    event = await subscriber.get()
                except SubscriberOverflow as error:
                    raise ApiError(str(error), INTERNAL_SERVER_ERROR) from None
                change = partnership_change(event)
                if change is None or (city_id is not None and city_id not in event.place_ids):
                    continue
                action, pk = change
                row = None
                if action is not ChangeAction.DELETED:
                    async with database.read() as conn:
                        row = (await queries.partnerships_by_ids(conn, [pk])).get(pk)
                    # The connection's loaders outlive many events: start each one fresh.
                    info.context.loaders = Loaders(database)
                yield PartnershipEvent(
                    action=action, partnership_id=strawberry.ID(encode_id("Partnership", pk)),
                    partnership=Partnership(row=row) if row is not None else None)
