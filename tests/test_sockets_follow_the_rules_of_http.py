"""Operations over an open WebSocket go through the same front door as HTTP requests: the
viewer is looked up for each operation (a token revoked with `citylinks token revoke`
stops working on a socket opened before, and so does one that expires), each operation
counts against the rate limit (mutations included), and limits, syntax and validation
errors answer with their codes.
Over a real socket to a started server."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
from collections.abc import Iterator

import pytest
from citylinks.auth import create_token
from citylinks.db.engine import create_database
from websockets.exceptions import ConnectionClosed

from tests.conftest import LiveServer
from tests.graphql_ws import error_codes, graphql_socket, operate

CREATE_CITY = """
mutation Create($name: String!) {
  createCity(input: {name: $name, level: CITY, country: "VN"}) { name }
}
"""
SECTORS = "{ sectors { slug } }"
SYNTAX_ERROR = "{ sectors { slug }"
UNKNOWN_FIELD = "{ sectors { colour } }"
OVER_COST = ("{ cities(first: 100) { nodes { partners(first: 100) { nodes { city { "
             "partners(first: 100) { nodes { kind } } } } } } } }")
FLOAT_PAGE = ("query ($n: Int) { cities(first: $n) { nodes { partners(first: $n) { nodes { "
              "city { partners(first: $n) { nodes { kind } } } } } } } }")
REPEATED = "{" + " ".join(["stats { cities }"] * 300) + "}"
SUBSCRIPTION = "subscription { partnershipChanged { action } }"


async def _token(db_url: str, role: str,
                 expires_in: dt.timedelta | None = None) -> tuple[int, str]:
    database = create_database(db_url)
    try:
        async with database.write() as session:
            info, token = await create_token(session, role, "socket tests", expires_in)
        return info.id, token
    finally:
        await database.dispose()


@pytest.fixture
def server(db_url: str) -> Iterator[LiveServer]:
    live = LiveServer(db_url, env={"CITYLINKS_WEBHOOK_DELIVERY": "0",
                                   "CITYLINKS_RATE_LIMIT": "1000"}).start()
    yield live
    live.stop()


async def test_a_token_revoked_on_the_command_line_stops_working_on_an_open_socket(
        server: LiveServer, db_url: str) -> None:
    token_id, token = await _token(db_url, "editor")
    async with graphql_socket(server.url, {"authorization": f"Bearer {token}"}) as ws:
        before = await operate(ws, "1", {"query": CREATE_CITY, "variables": {"name": "Rev A"}})
        assert before[0]["payload"]["data"]["createCity"]["name"] == "Rev A"
        # when
        revoked = subprocess.run(
            [sys.executable, "-m", "citylinks", "token", "revoke", str(token_id), "--db",
             db_url], capture_output=True, text=True, timeout=60)
        assert revoked.returncode == 0, revoked.stderr
        await asyncio.sleep(1.0)
        after = await operate(ws, "2", {"query": CREATE_CITY, "variables": {"name": "Rev B"}})
    # then
    assert error_codes(after) == ["UNAUTHENTICATED"]


async def test_a_token_that_expires_stops_working_on_an_open_socket_at_once(
        server: LiveServer, db_url: str) -> None:
    lifetime = dt.timedelta(seconds=4)
    _, token = await _token(db_url, "editor", lifetime)
    expires_at = dt.datetime.now(dt.UTC) + lifetime  # a moment after the stored expiry
    async with graphql_socket(server.url, {"authorization": f"Bearer {token}"}) as ws:
        before = await operate(ws, "1", {"query": CREATE_CITY, "variables": {"name": "Exp A"}})
        assert dt.datetime.now(dt.UTC) < expires_at - dt.timedelta(seconds=1), \
            "the first operation took too long for the test to mean anything"
        # when: the token's time is up, and not a second more
        await asyncio.sleep((expires_at - dt.datetime.now(dt.UTC)).total_seconds())
        after = await operate(ws, "2", {"query": CREATE_CITY, "variables": {"name": "Exp B"}})
        answered_at = dt.datetime.now(dt.UTC)
    # then
    assert before[0]["payload"]["data"]["createCity"]["name"] == "Exp A"
    assert error_codes(after) == ["UNAUTHENTICATED"]
    assert answered_at - expires_at < dt.timedelta(seconds=1)


async def test_each_operation_on_a_socket_counts_against_the_rate_limit(db_url: str) -> None:
    _, token = await _token(db_url, "editor")
    live = LiveServer(db_url, env={"CITYLINKS_WEBHOOK_DELIVERY": "0",
                                   "CITYLINKS_RATE_LIMIT": "4"}).start()
    try:
        async with graphql_socket(live.url, {"authorization": f"Bearer {token}"}) as ws:
            answers = [await operate(ws, str(i), {"query": CREATE_CITY,
                                                  "variables": {"name": f"Rate {i}"}})
                       for i in range(6)]
    finally:
        live.stop()
    codes = [error_codes(answer) for answer in answers]
    assert codes[:4] == [[], [], [], []], codes
    assert codes[4:] == [["RATE_LIMITED"], ["RATE_LIMITED"]]


@pytest.mark.parametrize(("document", "variables", "code"), [
    (SYNTAX_ERROR, None, "GRAPHQL_PARSE_FAILED"),
    (UNKNOWN_FIELD, None, "GRAPHQL_VALIDATION_FAILED"),
    (OVER_COST, None, "QUERY_TOO_COMPLEX"),
    (FLOAT_PAGE, {"n": 100.0}, "QUERY_TOO_COMPLEX"),
    (REPEATED, None, "QUERY_TOO_COMPLEX"),
], ids=["syntax", "validation", "cost", "float page size", "validation budget"])
async def test_a_refused_operation_on_a_socket_answers_a_coded_error_and_the_socket_stays(
        server: LiveServer, document: str, variables: dict[str, float] | None,
        code: str) -> None:
    async with graphql_socket(server.url) as ws:
        refused = await operate(ws, "1", {"query": document, "variables": variables})
        after = await operate(ws, "2", {"query": SECTORS})
    assert [m["type"] for m in refused] == ["error"]
    assert error_codes(refused) == [code]
    assert after[0]["payload"]["data"]["sectors"], "the socket still serves"


async def test_a_lone_surrogate_in_a_socket_variable_is_the_clients_mistake(
        server: LiveServer) -> None:
    raw = ('{"id": "1", "type": "subscribe", "payload": {"query": '
           '"query ($n: String!) { city(name: $n) { name } }", '
           '"variables": {"n": "\\ud800"}}}')
    async with graphql_socket(server.url) as ws:
        await ws.send(raw)
        with pytest.raises(ConnectionClosed) as closed:
            await operate(ws, "2", {"query": SECTORS})
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    assert "Traceback" not in server.output()
