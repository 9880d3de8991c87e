"""Webhook targets: loopback, private, link-local and other non-public addresses are refused
when a webhook is added and again at delivery, after DNS resolution, unless allowed; the
credentials a webhook URL carries are never printed or logged."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import time

import pytest
from citylinks.db.engine import create_database
from citylinks.db.errors import InvalidInput
from citylinks.settings import Settings
from citylinks.webhooks.store import add_webhook, list_deliveries, list_webhooks

from tests.conftest import LiveServer, free_port, running_app
from tests.test_webhooks import CREATE_CITY, FAST, WAIT, Api, Receiver, editor_token

REFUSED = [
    ("http://127.0.0.1:9000/hook", "loopback"),
    ("http://localhost/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://10.0.0.5/hook", "private"),
    ("http://172.16.3.4/hook", "private"),
    ("http://192.168.1.1/hook", "private"),
    ("http://[fd12:3456::1]/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://0.0.0.0/hook", "not a unicast"),
    ("http://100.64.0.1/hook", "not a public"),
]
SECRET_PASSWORD = "s3cret-pa55"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "citylinks", "webhook", *args],
                          env={**LiveServer("").env, **(env or {})},
                          capture_output=True, text=True, timeout=60)


async def _webhooks(db_url: str) -> list[str]:
    database = create_database(db_url)
    try:
        async with database.write() as session:
            return [w.url for w in await list_webhooks(session)]
    finally:
        await database.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_non_public_targets_are_refused_when_added(db_url: str) -> None:
    database = create_database(db_url)
    try:
        for url, reason in REFUSED:
            with pytest.raises(InvalidInput) as refused:
                async with database.write() as session:
                    await add_webhook(session, url)
            assert reason in str(refused.value), url
            assert "CITYLINKS_WEBHOOK_ALLOW_PRIVATE" in str(refused.value)
        # a name is refused for what it resolves to (this machine's own name: loopback here)
        name = socket.gethostname()
        resolved = {info[4][0] for info in socket.getaddrinfo(name, 80)}
        if resolved & {"127.0.0.1", "::1", "127.0.1.1"}:
            with pytest.raises(InvalidInput, match="loopback"):
                async with database.write() as session:
                    await add_webhook(session, f"http://{name}:8080/hook")
    finally:
        await database.dispose()
    assert await _webhooks(db_url) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_cli_refuses_the_metadata_address_and_allows_it_when_told(db_url: str) -> None:
    refused = _cli("add", "http://169.254.169.254/latest/meta-data/", "--db", db_url)
    assert refused.returncode == 2
    assert "link-local" in refused.stderr and "Traceback" not in refused.stderr
    allowed = _cli("add", "http://127.0.0.1:9/hook", "--db", db_url,
                   env={"CITYLINKS_WEBHOOK_ALLOW_PRIVATE": "1"})
    assert allowed.returncode == 0, allowed.stderr
    assert asyncio.run(_webhooks(db_url)) == ["http://127.0.0.1:9/hook"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_delivery_checks_the_address_again_and_sends_nothing_there(db_url: str) -> None:
    # given: a webhook on loopback, stored while allowed (or a name that resolved
    # elsewhere when it was added), and a server that does not allow it
    receiver = Receiver()
    try:
        database = create_database(db_url)
        async with database.write() as session:
            await add_webhook(session, receiver.url, allow_private=True)
        await database.dispose()
        token = await editor_token(db_url)
        settings = Settings(db_url=db_url, **{**FAST, "webhook_allow_private": False})
        async with running_app(settings) as (app, client):
            # when: an event is to be delivered
            await Api(client, token).run(CREATE_CITY, name="Attapeu")
            deadline = time.monotonic() + WAIT
            log: list = []
            while time.monotonic() < deadline:
                async with app.state.db.write() as session:
                    log = await list_deliveries(session)
                if log and log[0].attempts >= 1:
                    break
                await asyncio.sleep(0.05)
    finally:
        receiver.close()
    # then: the attempt failed with the reason, and nothing reached the receiver
    assert log and log[0].attempts >= 1 and log[0].status != "delivered"
    assert "loopback" in (log[0].last_error or "")
    assert receiver.received == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_credentials_in_a_webhook_url_are_never_printed_nor_logged(
        db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    # given: a webhook whose URL carries a user and password, on a port nobody answers
    url = f"http://hook-user:{SECRET_PASSWORD}@127.0.0.1:{free_port()}/hook"
    allow = {"CITYLINKS_WEBHOOK_ALLOW_PRIVATE": "1"}
    added = await asyncio.to_thread(_cli, "add", url, "--db", db_url, env=allow)
    assert added.returncode == 0, added.stderr
    token = await editor_token(db_url)
    caplog.set_level(logging.INFO, logger="citylinks")
    settings = Settings(db_url=db_url, **{**FAST, "webhook_give_up_after": 0.3})
    async with running_app(settings) as (app, client):
        await Api(client, token).run(CREATE_CITY, name="Sekong")
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            async with app.state.db.write() as session:
                log = await list_deliveries(session)
            if log and log[0].status == "failed":
                break
            await asyncio.sleep(0.05)
    # when: the webhook and its deliveries are listed
    listing = await asyncio.to_thread(_cli, "list", "--db", db_url)
    deliveries = await asyncio.to_thread(_cli, "deliveries", "--db", db_url)
    # then
    assert log[0].status == "failed"
    assert "127.0.0.1" in listing.stdout and "failed" in deliveries.stdout
    for shown in (added.stdout, listing.stdout, deliveries.stdout, caplog.text):
        assert SECRET_PASSWORD not in shown and "hook-user" not in shown
    assert "webhook delivery" in caplog.text  # the log did name the delivery


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_named_target_is_sent_to_the_address_resolved_under_its_own_name(
        db_url: str) -> None:
    # given: a receiver addressed by this machine's name (it resolves to loopback here)
    receiver = Receiver()
    name = socket.gethostname()
    url = receiver.url.replace("127.0.0.1", name)
    try:
        database = create_database(db_url)
        async with database.write() as session:
            await add_webhook(session, url, allow_private=True)
        await database.dispose()
        token = await editor_token(db_url)
        async with running_app(Settings(db_url=db_url, **FAST)) as (_, client):
            await Api(client, token).run(CREATE_CITY, name="Phongsaly")
            [delivered] = await receiver.wait_for(1)
    finally:
        receiver.close()
    # then: it arrived, asking for the name it was given
    assert delivered.headers["host"] == f"{name}:{receiver.port}"
    assert delivered.event()["data"]["name"] == "Phongsaly"
