"""Slow and idle clients: a deadline for a request's headers, one between two chunks of its
body, and a cap on open connections per worker.

uvicorn closes an idle keep-alive connection after `timeout_keep_alive`, but a new
connection that sends nothing, or sends its headers or body a byte at a time, is kept
as long as the client likes: a few hundred such connections hold a worker's sockets
and memory. Its `limit_concurrency` answers 503 to requests beyond the limit but keeps
every connection open. The header deadline and the cap live in the HTTP protocol (the
only place that sees a connection before its request); the body deadline is ASGI
middleware, on `receive`.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from citylinks.settings import Settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# What `citylinks serve` gives uvicorn as its HTTP protocol.
HTTP_PROTOCOL = "citylinks.connections:GuardedHttpProtocol"


@functools.cache
def _settings() -> Settings:
    """The worker's settings: uvicorn makes the protocol, so it reads them as the app
    does, from the environment."""
    return Settings.from_env()


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request headers are not
    all there within `header_timeout` of its opening (or of the previous response), and
    any connection beyond `max_connections`."""

    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > _settings().max_connections:
            self.transport.close()
            return
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request on a kept-alive connection has the same time for its headers.
        if not self.transport.is_closing() and self.cycle.response_complete:
            self._arm_header_deadline()

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(_settings().header_timeout,
                                                     self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


class _BodyTooSlow(Exception):
    pass


class BodyDeadline:
    """ASGI middleware: while a request's body is incomplete, each chunk must arrive within
    `timeout` seconds of the previous one (or of the app asking for it); else the answer
    is 408 and the connection is closed."""

    def __init__(self, app: Any, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False
        started = False

        async def receive_in_time() -> Any:
            nonlocal body_done
            if body_done:  # after the body, the app may wait for a disconnect at leisure
                return await receive()
            # asyncio.timeout, not wait_for: wait_for runs the receive in a task of its
            # own, a cost on every request's body.
            try:
                async with asyncio.timeout(self.timeout):
                    message = await receive()
            except TimeoutError:
                raise _BodyTooSlow from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def send_tracked(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_in_time, send_tracked)
        except _BodyTooSlow:
            if started:
                raise
            body = b"The request body was not sent in time."
            await send({"type": "http.response.start", "status": 408, "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
