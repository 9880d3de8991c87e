"""Cross-origin requests: Starlette's CORS middleware, its simple responses made cheaper.

Where every origin is allowed without credentials (`CITYLINKS_CORS_ORIGINS=*`, the
default), a response that is not a preflight's gains the same headers as Starlette's
would give it, without its per-request header objects: they cost a small query (Q1 of
the benchmark) about a sixteenth of its server CPU. Preflight requests, and any other
configuration (a list of origins), take Starlette's way. A test compares both on the
same requests and responses.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware.cors import CORSMiddleware


def _set(headers: list[tuple[bytes, bytes]], key: bytes, value: bytes) -> None:
    """`MutableHeaders.__setitem__`: the first entry of `key` takes the value, later
    ones go; none, and it is appended."""
    found = [i for i, (name, _) in enumerate(headers) if name == key]
    for i in reversed(found[1:]):
        del headers[i]
    if found:
        headers[found[0]] = (key, value)
    else:
        headers.append((key, value))


class CORS(CORSMiddleware):
    def __init__(self, app: Any, **options: Any) -> None:
        super().__init__(app, **options)
        self._simple_only = self.allow_all_origins and not self.allow_credentials
        self._simple_headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                                for name, value in self.simple_headers.items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not self._simple_only or scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        has_origin = asks_method = False
        for name, _ in scope["headers"]:
            if name == b"origin":
                has_origin = True
            elif name == b"access-control-request-method":
                asks_method = True
        if has_origin and asks_method and scope["method"] == "OPTIONS":
            await super().__call__(scope, receive, send)  # a preflight
            return
        added = self._simple_headers if has_origin else ()

        async def send_with_cors(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = message["headers"] = list(message.get("headers", ()))
                for name, value in added:
                    _set(headers, name, value)
                # Every origin gets the same answer, but a cache must not give one
                # without these headers to a request with an Origin: Vary, as Starlette.
                vary = [value.decode("latin-1") for name, value in headers if name == b"vary"]
                _set(headers, b"vary", ", ".join([*vary, "Origin"]).encode("latin-1"))
            await send(message)

        await self.app(scope, receive, send_with_cors)
