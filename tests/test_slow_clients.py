"""Slow and idle clients, over raw sockets against a started server: headers and bodies that
do not arrive in time close the connection, and connections beyond the cap are not kept."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.conftest import LiveServer, fresh_store

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MAX_CONNECTIONS = 50
IDLE_CLIENTS = 300


@pytest.fixture(scope="module")
def server(templates: dict[str, str], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[LiveServer]:
    url, cleanup = fresh_store("sqlite", templates, tmp_path_factory.mktemp("slow"))
    live = LiveServer(url, env={
        "CITYLINKS_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "CITYLINKS_BODY_TIMEOUT": str(BODY_TIMEOUT),
        "CITYLINKS_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "CITYLINKS_WEBHOOK_DELIVERY": "0"}).start()
    yield live
    live.stop()
    cleanup()


def _connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return sock


def _closed_by_server(sock: socket.socket, within: float) -> tuple[bool, bytes]:
    """Whether the server closes the connection within `within` seconds, and what it sent."""
    sock.settimeout(within)
    received = b""
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                return True, received
            received += chunk
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        return True, received
    return False, received


def test_headers_sent_a_byte_at_a_time_are_cut_off(server: LiveServer) -> None:
    # given: a client that sends a request line, then a header a byte every 0.2 s
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        closed = False
        for byte in b"X-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.2)
            if time.monotonic() - started > HEADER_TIMEOUT + 3:
                break
        if not closed:
            closed, _ = _closed_by_server(sock, 0.5)
    # then: the server closed it soon after the header deadline
    assert closed, "a connection trickling its headers was still open"
    assert time.monotonic() - started < HEADER_TIMEOUT + 3


def test_a_body_that_stops_coming_is_answered_408_and_closed(server: LiveServer) -> None:
    # given: a POST announcing 1,000 bytes of body that sends 10
    with _connect(server) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                     b'{"query":')
        started = time.monotonic()
        # then
        closed, answer = _closed_by_server(sock, BODY_TIMEOUT + 4)
    assert closed, "a connection with a stalled body was still open"
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert time.monotonic() - started < BODY_TIMEOUT + 3
    # and the request that never came whole is no internal error
    assert "Traceback" not in server.output()


def test_a_body_that_comes_slowly_but_steadily_is_answered(server: LiveServer) -> None:
    # given: a body sent in four chunks, each well within the deadline of the one before,
    # the whole taking twice the deadline
    body = b'{"query": "{ sectors { slug } }"}'
    chunks = [body[i:i + 9] for i in range(0, len(body), 9)]
    with _connect(server) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n")
        for chunk in chunks:
            time.sleep(2 * BODY_TIMEOUT / len(chunks))
            sock.sendall(chunk)
        # then: it is answered, not cut off
        closed, answer = _closed_by_server(sock, 5)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
    assert b'"slug"' in answer
    assert closed  # as the request asked (Connection: close), once answered


def test_idle_connections_are_capped_and_then_closed(server: LiveServer) -> None:
    # given: 300 connections that never send a byte
    sockets = [_connect(server) for _ in range(IDLE_CLIENTS)]
    try:
        time.sleep(0.3)
        # then: beyond the cap, the server closed them at once
        kept = sum(not _closed_by_server(sock, 0.01)[0] for sock in sockets)
        assert kept <= MAX_CONNECTIONS
        # and after the header deadline, none is left
        time.sleep(HEADER_TIMEOUT + 0.5)
        still_open = sum(not _closed_by_server(sock, 0.01)[0] for sock in sockets)
        assert still_open == 0
    finally:
        for sock in sockets:
            sock.close()
    # and the server still answers
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        _, answer = _closed_by_server(sock, 5)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:80]


def test_a_kept_alive_connection_gets_the_same_deadline_for_its_next_headers(
        server: LiveServer) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # and never the rest
        closed, _ = _closed_by_server(sock, HEADER_TIMEOUT + 3)
    assert closed


