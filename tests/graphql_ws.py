"""A small graphql-transport-ws client for the tests: text frames only (as graphql-ws and
gql insist), one operation at a time, its messages until `complete` or `error`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

TIMEOUT = 15.0


@asynccontextmanager
async def graphql_socket(base_url: str, headers: dict[str, str] | None = None
                         ) -> AsyncIterator[ClientConnection]:
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                       additional_headers=headers or {}) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert (await next_message(ws))["type"] == "connection_ack"
        yield ws


async def next_message(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(frame, str), f"a binary frame: {frame!r}"
    message: dict[str, Any] = json.loads(frame)
    return message


async def operate(ws: ClientConnection, operation_id: str, payload: dict[str, Any] | str
                  ) -> list[dict[str, Any]]:
    """Sends one subscribe message (a payload, or raw text) and returns the messages of
    that operation up to its `complete` or `error`."""
    if isinstance(payload, str):
        await ws.send(payload)
    else:
        await ws.send(json.dumps({"id": operation_id, "type": "subscribe",
                                  "payload": payload}))
    messages = []
    while True:
        message = await next_message(ws)
        if message.get("id") != operation_id:
            continue
        messages.append(message)
        if message["type"] in ("complete", "error"):
            return messages


def error_codes(messages: list[dict[str, Any]]) -> list[str]:
    """The codes of an operation's errors, from an `error` message or a `next` payload."""
    codes = []
    for message in messages:
        if message["type"] == "error":
            codes += [e["extensions"]["code"] for e in message["payload"]]
        elif message["type"] == "next":
            codes += [e["extensions"]["code"] for e in message["payload"].get("errors", ())]
    return codes
