"""citylinks' CORS middleware sends exactly what Starlette's would: the same messages for the
same requests and responses, in every configuration a deployment can set."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from citylinks.cors import CORS
from starlette.middleware.cors import CORSMiddleware

REQUEST_HEADERS = [
    [],
    [(b"origin", b"https://example.org")],
    [(b"origin", b"https://example.org"), (b"access-control-request-method", b"POST")],
    [(b"origin", b"https://example.org"), (b"access-control-request-method", b"POST"),
     (b"access-control-request-headers", b"content-type, authorization")],
    [(b"access-control-request-method", b"POST")],
    [(b"origin", b"https://other.example"), (b"origin", b"https://example.org")],
]
RESPONSE_HEADERS = [
    None,  # no headers key at all
    [],
    [(b"content-type", b"application/json")],
    [(b"vary", b"Accept"), (b"content-type", b"application/json")],
    [(b"vary", b"Accept"), (b"access-control-allow-origin", b"x"), (b"vary", b"Cookie")],
]
CONFIGURATIONS = [
    {"allow_origins": ["*"]},
    {"allow_origins": ["*"], "expose_headers": ["x-request-id", "etag"]},
    {"allow_origins": ["https://example.org"]},
    {"allow_origins": ["*"], "allow_credentials": True},
]


async def _sent(middleware: type[Any], options: dict[str, Any], method: str,
                request_headers: list[tuple[bytes, bytes]],
                response_headers: list[tuple[bytes, bytes]] | None) -> list[dict[str, Any]]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        start: dict[str, Any] = {"type": "http.response.start", "status": 200}
        if response_headers is not None:
            start["headers"] = list(response_headers)
        await send(start)
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append({**message, "headers": list(message.get("headers", ()))}
                    if "headers" in message else dict(message))

    scope = {"type": "http", "method": method, "path": "/graphql",
             "headers": list(request_headers)}
    await middleware(app, allow_methods=["GET", "POST"], allow_headers=["*"], max_age=600,
                     **options)(scope, receive, send)
    return sent


@pytest.mark.parametrize("options", CONFIGURATIONS, ids=lambda o: repr(o))
async def test_every_request_gets_the_headers_starlette_would_send(
        options: dict[str, Any]) -> None:
    cases = itertools.product(["GET", "POST", "OPTIONS"], REQUEST_HEADERS, RESPONSE_HEADERS)
    checked = 0
    for method, request_headers, response_headers in cases:
        ours = await _sent(CORS, options, method, request_headers, response_headers)
        starlettes = await _sent(CORSMiddleware, options, method, request_headers,
                                 response_headers)
        assert ours == starlettes, (options, method, request_headers, response_headers)
        checked += 1
    assert checked == 3 * len(REQUEST_HEADERS) * len(RESPONSE_HEADERS)


async def test_a_simple_answer_to_another_origin_allows_it_and_varies_on_origin() -> None:
    # what the comparison above holds equal, stated: the default configuration's headers
    (start, _) = await _sent(CORS, {"allow_origins": ["*"]}, "POST",
                             [(b"origin", b"https://example.org")],
                             [(b"vary", b"Accept")])
    assert start["headers"] == [(b"vary", b"Accept, Origin"),
                                (b"access-control-allow-origin", b"*")]
