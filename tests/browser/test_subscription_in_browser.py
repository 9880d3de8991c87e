"""A subscription from a page in Chromium, through the browser's own WebSocket: the page
speaks graphql-transport-ws and receives, in text frames, a change written over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import LiveServer, fresh_store
from tests.test_clients import World, _prepare

SUBSCRIBE = """async ([url, city]) => {
  window.messages = [];
  window.frameTypes = [];
  const socket = new WebSocket(url, "graphql-transport-ws");
  window.socket = socket;
  socket.onmessage = (event) => {
    window.frameTypes.push(typeof event.data);
    window.messages.push(JSON.parse(event.data));
  };
  socket.onclose = (event) => { window.closed = [event.code, event.reason]; };
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = () => reject(new Error("the WebSocket did not open"));
  });
  socket.send(JSON.stringify({ type: "connection_init" }));
  for (let i = 0; i < 100 && !window.messages.some((m) => m.type === "connection_ack"); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  socket.send(JSON.stringify({ id: "changes", type: "subscribe", payload: {
    query: "subscription ($city: ID) { partnershipChanged(city: $city) { "
      + "action partnershipId partnership { description } } }",
    variables: { city } } }));
}"""
UPDATE = ("mutation ($id: ID!, $t: String) { updatePartnership(id: $id, input: {description: $t})"
          " { id } }")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, templates: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # In a thread of its own: while Playwright's sync API is alive, this one counts as
    # running an event loop, and the set-up runs asyncio.
    with ThreadPoolExecutor(1) as thread:
        url, cleanup = thread.submit(fresh_store, request.param, templates,
                                     tmp_path_factory.mktemp("browser-ws")).result()
        token = thread.submit(asyncio.run, _prepare(url)).result()
        server = LiveServer(url, env={"CITYLINKS_WEBHOOK_DELIVERY": "0"}).start()
        try:
            yield World(server, token)
        finally:
            server.stop()
            thread.submit(cleanup).result()


def _events(page: Any) -> list[dict[str, Any]]:
    messages = page.evaluate("window.messages")
    return [m["payload"]["data"]["partnershipChanged"] for m in messages if m["type"] == "next"]


@pytest.mark.browser
def test_a_page_subscribes_through_the_browsers_websocket(world: World, chromium: Any) -> None:
    place = world.place("Qwerty Town 3")
    probe = world.query("query ($id: ID!) { city(id: $id) { partnerships(first: 1) { nodes { id "
                        "} } } }", {"id": place})["city"]["partnerships"]["nodes"][0]["id"]
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(f"{world.server.url}/healthz")
        ws_url = world.url.replace("http", "ws", 1)
        page.evaluate(SUBSCRIBE, [ws_url, place])
        # the protocol has no "subscribed" answer: probe until the page sees an event
        for n in range(100):
            world.query(UPDATE, {"id": probe, "t": f"probe {n}"})
            time.sleep(0.1)
            if _events(page):
                break
        world.query(UPDATE, {"id": probe, "t": "seen in Chromium"})
        page.wait_for_function(
            "window.messages.some(m => m.type === 'next' && "
            "m.payload.data.partnershipChanged.partnership.description === 'seen in Chromium')",
            timeout=15_000)
        events = _events(page)
        frame_types = set(page.evaluate("window.frameTypes"))
        closed = page.evaluate("window.closed || null")
        page.evaluate("window.socket.close(1000)")
    finally:
        context.close()
    assert closed is None, closed
    assert events[-1] == {"action": "UPDATED", "partnershipId": probe,
                          "partnership": {"description": "seen in Chromium"}}
    assert {e["partnershipId"] for e in events} == {probe}
    assert frame_types == {"string"}, "every graphql-transport-ws message is a text frame"
