"""Slow and idle clients: a deadline for a request's headers, one between two chunks of its
body, and a cap on open connections per worker.

uvicorn closes an idle keep-alive connection after `timeout_keep_alive`, but a new
connection that sends nothing, or sends its headers or body a byte at a time, is kept
as long as the client likes: a few hundred such connections hold a worker's sockets
and memory. Its `limit_concurrency` answers 503 to requests beyond the limit but keeps
every connection open. All three live in the HTTP protocol, the only place that sees a
connection before its request and each chunk of a body as it arrives: a request whose
body comes whole with its headers (nearly every GraphQL request) arms no timer for it.
They hold where `citylinks serve` runs the app (uvicorn's httptools protocol).
"""

from __future__ import annotations

import asyncio
import functools

from citylinks.settings import Settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# What `citylinks serve` gives uvicorn as its HTTP protocol.
HTTP_PROTOCOL = "citylinks.connections:GuardedHttpProtocol"


@functools.cache
def _settings() -> Settings:
    """The worker's settings: uvicorn makes the protocol, so it reads them as the app
    does, from the environment."""
    return Settings.from_env()


_BODY_TOO_SLOW = b"The request body was not sent in time."
_REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\n"
                    b"content-type: text/plain; charset=utf-8\r\n"
                    b"content-length: " + str(len(_BODY_TOO_SLOW)).encode() + b"\r\n"
                    b"connection: close\r\n\r\n" + _BODY_TOO_SLOW)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request headers are not
    all there within `header_timeout` of its opening (or of the previous response),
    answering 408 and closing one whose request body stops coming for `body_timeout`,
    and closing any connection beyond `max_connections`."""

    _header_deadline: asyncio.TimerHandle | None = None
    _body_deadline: asyncio.TimerHandle | None = None
    # When the incomplete body last grew (the event loop's clock).
    _body_seen = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > _settings().max_connections:
            self.transport.close()
            return
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        self._disarm_body_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # After the whole chunk is parsed: a body that came with its headers is complete.
        cycle = self.cycle
        if (cycle is not None and cycle.more_body and not cycle.response_complete
                and not cycle.disconnected and not self.transport.is_closing()):
            self._body_seen = self.loop.time()
            if self._body_deadline is None:
                self._body_deadline = self.loop.call_later(_settings().body_timeout,
                                                           self._body_too_slow)
        else:
            self._disarm_body_deadline()

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

    def _disarm_body_deadline(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _body_too_slow(self) -> None:
        self._body_deadline = None
        cycle = self.cycle
        if (cycle is None or not cycle.more_body or cycle.response_complete
                or self.transport.is_closing()):
            return
        timeout = _settings().body_timeout
        waited = self.loop.time() - self._body_seen
        # A chunk came since the timer was set, or the app has not read what came (uvicorn
        # stops reading past its buffer): the client is not late, look again later.
        if waited < timeout or self.flow.read_paused:
            later = timeout - waited if waited < timeout else timeout
            self._body_deadline = self.loop.call_later(max(later, 0.01), self._body_too_slow)
            return
        if not cycle.response_started:
            self.transport.write(_REQUEST_TIMEOUT)
        # The app's pending read then ends in a disconnect (the front door stops there).
        self.transport.close()
