"""Tokens and roles: the `citylinks token` commands, and who may run mutations."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest
from citylinks.auth import create_token, revoke_token
from citylinks.cli import main
from citylinks.db.engine import Database, create_database
from citylinks.db.models import ApiToken, ChangeLogEntry
from sqlalchemy import select

from tests.conftest import LiveServer, gql

CREATE_CITY = """
mutation Create($input: CityInput!) {
  createCity(input: $input) { id name }
}
"""
CITY_INPUT = {"name": "Hoi An", "level": "CITY", "country": "VN"}
SECTORS = "query { sectors { slug } }"
ID = "Q2l0eTox"  # City:1, well formed: the permission check comes before any lookup
EVERY_MUTATION = {
    "createCity": 'createCity(input: {name: "X", level: CITY, country: "VN"}) { id }',
    "updateCity": f'updateCity(id: "{ID}", input: {{name: "Y"}}) {{ id }}',
    "deleteCity": f'deleteCity(id: "{ID}")',
    "createPartnership": (f'createPartnership(input: {{cities: ["{ID}", "{ID}"], '
                          'kind: FRIENDSHIP, status: ACTIVE}) { id }'),
    "updatePartnership": f'updatePartnership(id: "{ID}", input: {{status: ENDED}}) {{ id }}',
    "deletePartnership": f'deletePartnership(id: "{ID}")',
    "addMilestone": f'addMilestone(partnership: "{ID}", input: {{kind: VISIT}}) {{ id }}',
}


@pytest.fixture
async def tokens(database: Database) -> AsyncIterator[dict[str, str]]:
    """One live token per role, and one revoked editor's token."""
    out: dict[str, str] = {}
    async with database.write() as session:
        for role in ("reader", "editor", "admin"):
            _, out[role] = await create_token(session, role, f"test {role}")
        revoked, out["revoked"] = await create_token(session, "editor", "revoked")
        await revoke_token(session, revoked.id)
    yield out


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def error_code(body: dict[str, object]) -> str:
    errors = body["errors"]
    assert isinstance(errors, list)
    return str(errors[0]["extensions"]["code"])


async def test_a_mutation_without_a_token_is_unauthenticated(
        client: httpx.AsyncClient) -> None:
    body = await gql(client, CREATE_CITY, {"input": CITY_INPUT})
    assert body["data"] is None
    assert error_code(body) == "UNAUTHENTICATED"


async def test_reader_token_cannot_create_a_city(
        client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    body = await gql(client, CREATE_CITY, {"input": CITY_INPUT}, bearer(tokens["reader"]))
    assert error_code(body) == "FORBIDDEN"


@pytest.mark.parametrize("role", ["editor", "admin"])
async def test_editor_and_admin_tokens_may_create_a_city(
        client: httpx.AsyncClient, tokens: dict[str, str], role: str) -> None:
    body = await gql(client, CREATE_CITY, {"input": CITY_INPUT}, bearer(tokens[role]))
    assert "errors" not in body, body
    assert body["data"]["createCity"]["name"] == "Hoi An"


@pytest.mark.parametrize("authorization", [
    "Bearer cl_not-a-token-anyone-was-given",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "cl_token-without-a-scheme",
])
async def test_an_unknown_or_malformed_token_is_unauthenticated(
        client: httpx.AsyncClient, tokens: dict[str, str], authorization: str) -> None:
    body = await gql(client, CREATE_CITY, {"input": CITY_INPUT},
                     {"authorization": authorization})
    assert error_code(body) == "UNAUTHENTICATED"


async def test_a_revoked_token_is_unauthenticated(
        client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    body = await gql(client, CREATE_CITY, {"input": CITY_INPUT}, bearer(tokens["revoked"]))
    assert error_code(body) == "UNAUTHENTICATED"


async def test_a_token_stops_working_as_soon_as_it_is_revoked(
        client: httpx.AsyncClient, database: Database) -> None:
    async with database.write() as session:
        info, token = await create_token(session, "editor")
    assert "errors" not in await gql(client, CREATE_CITY, {"input": CITY_INPUT}, bearer(token))
    async with database.write() as session:
        await revoke_token(session, info.id)
    body = await gql(client, CREATE_CITY, {"input": {**CITY_INPUT, "name": "Hue 2"}},
                     bearer(token))
    assert error_code(body) == "UNAUTHENTICATED"


async def test_a_token_stops_working_when_it_expires(
        client: httpx.AsyncClient, database: Database) -> None:
    async with database.write() as session:
        _, lasting = await create_token(session, "editor", "a day",
                                        dt.timedelta(days=1))
        info, brief = await create_token(session, "editor", "a moment",
                                         dt.timedelta(milliseconds=300))
    assert info.expires_at is not None
    # (the server's clock is this clock)
    await asyncio.sleep(max(0.0, (info.expires_at - dt.datetime.now(dt.UTC)).total_seconds()))
    body = await gql(client, CREATE_CITY, {"input": CITY_INPUT}, bearer(brief))
    assert error_code(body) == "UNAUTHENTICATED"
    assert "errors" not in await gql(client, CREATE_CITY, {"input": CITY_INPUT},
                                     bearer(lasting))


@pytest.mark.parametrize("mutation", sorted(EVERY_MUTATION))
async def test_every_mutation_refuses_anonymous_and_reader_requests(
        client: httpx.AsyncClient, tokens: dict[str, str], mutation: str) -> None:
    document = f"mutation {{ {EVERY_MUTATION[mutation]} }}"
    assert error_code(await gql(client, document)) == "UNAUTHENTICATED"
    assert error_code(await gql(client, document, None, bearer(tokens["reader"]))) == "FORBIDDEN"


@pytest.mark.parametrize("authorization", [None, "Bearer cl_unknown", "reader"])
async def test_queries_need_no_token_and_ignore_a_bad_one(
        client: httpx.AsyncClient, tokens: dict[str, str], authorization: str | None) -> None:
    headers = {}
    if authorization == "reader":
        headers = bearer(tokens["reader"])
    elif authorization is not None:
        headers = {"authorization": authorization}
    body = await gql(client, SECTORS, None, headers)
    assert "errors" not in body
    assert body["data"]["sectors"]


async def test_the_change_log_names_the_token_that_wrote(
        client: httpx.AsyncClient, database: Database, tokens: dict[str, str]) -> None:
    await gql(client, CREATE_CITY, {"input": CITY_INPUT}, bearer(tokens["editor"]))
    async with database.write() as session:
        editor_id = await session.scalar(select(ApiToken.id).where(ApiToken.label == "test editor"))
        entry = (await session.scalars(
            select(ChangeLogEntry).order_by(ChangeLogEntry.id.desc()).limit(1))).one()
    assert (entry.entity_type, entry.action) == ("city", "created")
    assert entry.actor == f"token:{editor_id}"


# ---------------------------------------------------------------- the command line


def _stored_tokens(db_url: str) -> list[ApiToken]:
    async def read() -> list[ApiToken]:
        database = create_database(db_url)
        try:
            async with database.write() as session:
                return list((await session.scalars(select(ApiToken).order_by(ApiToken.id))).all())
        finally:
            await database.dispose()

    return asyncio.run(read())


def test_token_create_prints_the_token_alone_on_the_last_line_and_stores_only_its_hash(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", "--role", "editor", "--label", "ci", "--db", db_url]) == 0
    token = capsys.readouterr().out.rstrip("\n").splitlines()[-1]
    assert token.startswith("cl_") and " " not in token and len(token) > 40
    stored = _stored_tokens(db_url)
    assert [(t.role, t.label) for t in stored] == [("editor", "ci")]
    assert stored[0].token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr([vars(t) for t in stored])


def test_token_list_shows_tokens_without_revealing_them_and_revoke_marks_one(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["token", "create", "--role", "reader", "--label", "dashboard", "--db", db_url])
    token = capsys.readouterr().out.splitlines()[-1]
    assert main(["token", "list", "--db", db_url]) == 0
    listing = capsys.readouterr().out
    assert "dashboard" in listing and "reader" in listing and token not in listing
    token_id = _stored_tokens(db_url)[0].id
    assert main(["token", "revoke", str(token_id), "--db", db_url]) == 0
    assert _stored_tokens(db_url)[0].revoked_at is not None
    assert main(["token", "revoke", "999", "--db", db_url]) == 1


def test_token_create_with_a_lifetime_stores_and_shows_its_expiry(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = dt.datetime.now(dt.UTC)
    assert main(["token", "create", "--role", "editor", "--expires-in", "30d",
                 "--db", db_url]) == 0
    created = capsys.readouterr().out
    [stored] = _stored_tokens(db_url)
    assert stored.expires_at is not None
    expires_at = stored.expires_at.replace(tzinfo=stored.expires_at.tzinfo or dt.UTC)
    assert dt.timedelta(days=30) <= expires_at - before < dt.timedelta(days=30, minutes=1)
    shown = expires_at.strftime("%Y-%m-%d %H:%M:%S")
    assert f"until {shown} UTC" in created
    assert main(["token", "list", "--db", db_url]) == 0
    assert shown in capsys.readouterr().out


@pytest.mark.parametrize("lifetime", ["soon", "30", "0d", "1y", "99999999999w"])
def test_token_create_refuses_a_lifetime_it_cannot_read(
        db_url: str, capsys: pytest.CaptureFixture[str], lifetime: str) -> None:
    assert main(["token", "create", "--role", "editor", "--expires-in", lifetime,
                 "--db", db_url]) == 2
    assert "--expires-in" in capsys.readouterr().err
    assert _stored_tokens(db_url) == []


def test_token_create_refuses_an_unknown_role(db_url: str) -> None:
    with pytest.raises(SystemExit):
        main(["token", "create", "--role", "owner", "--db", db_url])


def test_a_token_from_the_command_line_works_against_a_running_server(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["token", "create", "--role", "editor", "--db", db_url])
    token = capsys.readouterr().out.splitlines()[-1]
    server = LiveServer(db_url).start()
    try:
        ok = httpx.post(f"{server.url}/graphql", headers=bearer(token), timeout=30,
                        json={"query": CREATE_CITY, "variables": {"input": CITY_INPUT}}).json()
        refused = httpx.post(f"{server.url}/graphql", timeout=30,
                             json={"query": CREATE_CITY, "variables": {"input": CITY_INPUT}}
                             ).json()
    finally:
        server.stop()
    assert ok["data"]["createCity"]["name"] == "Hoi An"
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
