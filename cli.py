"""The `citylinks` command: serve, migrate, import, export, schema, tokens and webhooks."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from citylinks.settings import Settings


def _db_url(args: argparse.Namespace) -> str:
    return args.db or os.environ.get("CITYLINKS_DB") or Settings.db_url


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help=(
        "database URL: sqlite+aiosqlite:///file.db or postgresql+asyncpg://user@host/db "
        "(default: $CITYLINKS_DB, else citylinks.db in the working directory)"))


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from citylinks.connections import HTTP_PROTOCOL
    from citylinks.db.bootstrap import prepare, wait_for_database
    from citylinks.db.engine import create_database, normalize_url
    from citylinks.db.migrate import missing_schema
    from citylinks.settings import SettingError

    try:
        settings = Settings.from_env(db_url=normalize_url(_db_url(args)))
    except SettingError as error:
        print(f"citylinks: {error}", file=sys.stderr, flush=True)
        return 2

    def say(line: str) -> None:
        print(f"citylinks: {line}", file=sys.stderr, flush=True)

    async def get_ready() -> bool:
        database = create_database(settings.db_url)
        try:
            if not await wait_for_database(database, settings.db_wait, say):
                return False
            if not settings.migrate_on_start:
                missing = await missing_schema(database)
                if missing is not None:
                    say(f"the database is not ready to serve: {missing}. Run `citylinks db "
                        "upgrade` first, or start with CITYLINKS_MIGRATE_ON_START=1.")
                    return False
                return True
            report = await prepare(database, load_seed=settings.load_seed)
            if report is not None:
                print(f"loaded the bundled data set: {report.summary()}", flush=True)
            return True
        finally:
            await database.dispose()

    # Migrate once here, before the workers start, so they never race on it.
    if not asyncio.run(get_ready()):
        return 1
    os.environ["CITYLINKS_DB"] = settings.db_url
    os.environ["CITYLINKS_MIGRATE_ON_START"] = "0"
    print(f"citylinks: GraphiQL at http://{args.host}:{args.port}/graphql, "
          f"explorer at http://{args.host}:{args.port}/", flush=True)
    # X-Forwarded-For is read by the app, from CITYLINKS_TRUSTED_PROXIES only: uvicorn
    # would trust it from 127.0.0.1, so any local client could choose its address.
    uvicorn.run("citylinks.server:app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=args.log_level, loop="auto", http=HTTP_PROTOCOL,
                proxy_headers=False, access_log=False)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from citylinks.db import migrate
    from citylinks.db.engine import create_database
    from citylinks.db.reference import ensure_reference_data

    async def run() -> None:
        database = create_database(_db_url(args))
        try:
            await migrate.upgrade(database)
            async with database.write() as session:
                await ensure_reference_data(session)
        finally:
            await database.dispose()

    asyncio.run(run())
    print("database is at the newest schema")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from citylinks.schema import schema_sdl

    sys.stdout.write(schema_sdl())
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from citylinks.transfer.run import WikidataOptions, run_import, run_wikidata_update

    settings = Settings.from_env()
    options = WikidataOptions(
        endpoint=args.endpoint or settings.wikidata_endpoint,
        timeout=args.timeout or settings.wikidata_timeout,
        contact=settings.wikidata_contact, complete=args.complete, save=args.save,
        list_all=args.list_all, accept_missing=args.accept_missing)
    if args.file is None:
        if args.format != "wikidata":
            print("citylinks import: give a FILE, or --format wikidata to fetch the world's "
                  "twinnings from the Wikidata query service", file=sys.stderr)
            return 2
        return run_wikidata_update(None, _db_url(args), options)
    return run_import(args.file, args.format, _db_url(args), options)


def cmd_export(args: argparse.Namespace) -> int:
    from citylinks.transfer.run import run_export

    return run_export(args.format, args.output, _db_url(args))


def _run_with_store(args: argparse.Namespace, work: Any) -> Any:
    """Run `work(session)` in one write transaction on a migrated store (no bundled data)."""
    from citylinks.db.bootstrap import prepare
    from citylinks.db.engine import create_database

    async def run() -> Any:
        database = create_database(_db_url(args))
        try:
            await prepare(database, load_seed=False)
            async with database.write() as session:
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(run())


def cmd_token_create(args: argparse.Namespace) -> int:
    from citylinks.auth import create_token, parse_lifetime
    from citylinks.db.errors import InvalidInput

    try:
        lifetime = parse_lifetime(args.expires_in) if args.expires_in else None
        info, token = _run_with_store(
            args, lambda s: create_token(s, args.role, args.label, lifetime))
    except InvalidInput as error:
        print(f"--expires-in: {error}", file=sys.stderr)
        return 2
    label = f" ({info.label})" if info.label else ""
    expiry = (f", until {_when(info.expires_at)} UTC" if info.expires_at else
              ", until it is revoked")
    print(f"created token {info.id}{label} with the {info.role} role{expiry}.")
    print("Send it as `Authorization: Bearer <token>`. It is shown only this once:")
    # Alone on the last line, so that scripts can take it with `tail -n 1`.
    print(token)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    from citylinks.auth import list_tokens

    tokens = _run_with_store(args, list_tokens)
    if not tokens:
        print("no tokens")
        return 0
    print(f"{'id':>4}  {'role':<7} {'created':<20} {'expires':<20} {'revoked':<20} label")
    for t in tokens:
        print(f"{t.id:>4}  {t.role:<7} {_when(t.created_at):<20} {_when(t.expires_at):<20} "
              f"{_when(t.revoked_at):<20} {t.label or ''}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from citylinks.auth import revoke_token
    from citylinks.db.errors import NotFound

    try:
        info = _run_with_store(args, lambda s: revoke_token(s, args.id))
    except NotFound as error:
        print(str(error), file=sys.stderr)
        return 1
    print(f"token {info.id} is revoked: requests carrying it are refused from now on")
    return 0


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def cmd_webhook_add(args: argparse.Namespace) -> int:
    from citylinks.db.errors import InvalidInput
    from citylinks.webhooks.store import add_webhook

    types = args.events.split(",") if args.events else None
    allow_private = Settings.from_env().webhook_allow_private
    try:
        info, secret = _run_with_store(args, lambda s: add_webhook(
            s, args.url, types, allow_private=allow_private))
    except InvalidInput as error:
        print(str(error), file=sys.stderr)
        return 2
    events = ", ".join(info.event_types) if info.event_types else "every event"
    print(f"created webhook {info.id} for {info.url} ({events}).")
    print("Verify each request's webhook-signature with this secret. It is shown only this once:")
    print(secret)
    return 0


def cmd_webhook_list(args: argparse.Namespace) -> int:
    from citylinks.webhooks.store import list_webhooks

    webhooks = _run_with_store(args, list_webhooks)
    if not webhooks:
        print("no webhooks")
        return 0
    print(f"{'id':>4}  {'pending':>7} {'failed':>6}  {'created':<19}  url  events")
    for w in webhooks:
        events = ",".join(w.event_types) if w.event_types else "*"
        print(f"{w.id:>4}  {w.pending:>7} {w.failed:>6}  {_when(w.created_at):<19}  "
              f"{w.url}  {events}")
    return 0


def cmd_webhook_remove(args: argparse.Namespace) -> int:
    from citylinks.db.errors import NotFound
    from citylinks.webhooks.store import remove_webhook

    try:
        info = _run_with_store(args, lambda s: remove_webhook(s, args.id))
    except NotFound as error:
        print(str(error), file=sys.stderr)
        return 1
    print(f"webhook {info.id} ({info.url}) is removed, with its undelivered events")
    return 0


def cmd_webhook_deliveries(args: argparse.Namespace) -> int:
    from citylinks.webhooks.store import list_deliveries

    deliveries = _run_with_store(args, lambda s: list_deliveries(
        s, args.id, failed=args.failed, limit=args.limit))
    if not deliveries:
        print("no failed deliveries" if args.failed else "no deliveries")
        return 0
    print(f"{'id':>6} {'webhook':>7}  {'event':<19} {'status':<9} {'tries':>5} {'code':>4}  "
          f"{'last attempt':<19}  {'next attempt':<19}  webhook-id  last error")
    for d in deliveries:
        code = d.last_status_code if d.last_status_code is not None else "-"
        print(f"{d.id:>6} {d.webhook_id:>7}  {d.event_type:<19} {d.status:<9} {d.attempts:>5} "
              f"{code:>4}  {_when(d.last_attempt_at):<19}  {_when(d.next_attempt_at):<19}  "
              f"{d.message_id}  {d.last_error or ''}")
    return 0


def cmd_webhook_redeliver(args: argparse.Namespace) -> int:
    from citylinks.db.errors import InvalidInput, NotFound
    from citylinks.webhooks.store import redeliver

    try:
        count = _run_with_store(args, lambda s: redeliver(
            s, args.ids, failed=args.failed, webhook_id=args.webhook))
    except (InvalidInput, NotFound) as error:
        print(str(error), file=sys.stderr)
        return 2 if isinstance(error, InvalidInput) else 1
    print(f"{count} deliver{'y is' if count == 1 else 'ies are'} queued to be sent again "
          "(same webhook-id)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="citylinks", description=(
        "An open GraphQL API for cross-border city partnerships."))
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the GraphQL server")
    _add_db(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(run=cmd_serve)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="migrate to the newest schema")
    _add_db(upgrade)
    upgrade.set_defaults(run=cmd_db_upgrade)

    imp = commands.add_parser("import", help=(
        "load partnerships from a file, or update from the Wikidata query service"))
    imp.add_argument("file", nargs="?", default=None, help=(
        "the file to load; without it, --format wikidata fetches the twinning query's "
        "answer from the query service"))
    imp.add_argument("--format", choices=["json", "csv", "wikidata"], default=None,
                     help="default: from the file name's extension")
    imp.add_argument("--endpoint", default=None, help=(
        "wikidata: the SPARQL endpoint to ask (default: $CITYLINKS_WIKIDATA_ENDPOINT, else "
        "https://query.wikidata.org/sparql)"))
    imp.add_argument("--timeout", type=float, default=None, help=(
        "wikidata: seconds the query service may take (default 120)"))
    imp.add_argument("--complete", action="store_true", help=(
        "wikidata, with a FILE: the file is the whole answer, so pairs it lacks are marked as "
        "no longer on Wikidata (always so when fetching)"))
    imp.add_argument("--accept-missing", action="store_true", help=(
        "wikidata: mark the pairs the answer lacks even when they are many (more than 10%% "
        "of those stored from Wikidata, and more than 50), which is otherwise refused"))
    imp.add_argument("--save", default=None, metavar="FILE", help=(
        "wikidata, when fetching: also write the answer to FILE"))
    imp.add_argument("--list-all", action="store_true", help=(
        "wikidata: list every changed pair (default: the first 25 of each kind)"))
    _add_db(imp)
    imp.set_defaults(run=cmd_import)

    exp = commands.add_parser("export", help="write every place and partnership to a file")
    exp.add_argument("--format", choices=["json", "csv", "geojson"], default="json")
    exp.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    _add_db(exp)
    exp.set_defaults(run=cmd_export)

    schema = commands.add_parser("schema", help="print the GraphQL schema (SDL)")
    schema.set_defaults(run=cmd_schema)

    token = commands.add_parser("token", help="manage API tokens (needed for mutations)")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help=(
        "create a token and print it once, alone on the last line"))
    create.add_argument("--role", required=True, choices=["reader", "editor", "admin"],
                        help="editor and admin may run mutations; reader may not")
    create.add_argument("--label", default=None, help="who or what the token is for")
    create.add_argument("--expires-in", default=None, metavar="LIFETIME", help=(
        "the token stops working this long from now, on sockets opened before too: "
        "a number and s, m, h, d or w (30d); without it, it works until revoked"))
    _add_db(create)
    create.set_defaults(run=cmd_token_create)
    listing = token_commands.add_parser("list", help="list tokens (never the tokens themselves)")
    _add_db(listing)
    listing.set_defaults(run=cmd_token_list)
    revoke = token_commands.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id", type=int, help="the id `token list` shows")
    _add_db(revoke)
    revoke.set_defaults(run=cmd_token_revoke)

    webhook = commands.add_parser("webhook", help=(
        "manage webhooks: signed change events (Standard Webhooks) POSTed to a URL"))
    webhook_commands = webhook.add_subparsers(dest="webhook_command", required=True)
    add = webhook_commands.add_parser("add", help="subscribe a URL; prints its id and secret")
    add.add_argument("url")
    add.add_argument("--events", default=None, help=(
        "comma-separated event types (default: all): partnership.created, "
        "partnership.updated, partnership.deleted, city.created, city.updated, "
        "city.deleted, milestone.created"))
    _add_db(add)
    add.set_defaults(run=cmd_webhook_add)
    hooks = webhook_commands.add_parser("list", help="list webhooks with their backlog")
    _add_db(hooks)
    hooks.set_defaults(run=cmd_webhook_list)
    remove = webhook_commands.add_parser("remove", help="remove a webhook by its id")
    remove.add_argument("id", type=int)
    _add_db(remove)
    remove.set_defaults(run=cmd_webhook_remove)
    deliveries = webhook_commands.add_parser("deliveries", help=(
        "the delivery log, newest first: status, attempts, last status code and error"))
    deliveries.add_argument("id", type=int, nargs="?", default=None,
                            help="only this webhook's deliveries")
    deliveries.add_argument("--failed", action="store_true",
                            help="only deliveries given up or being retried")
    deliveries.add_argument("--limit", type=int, default=100)
    _add_db(deliveries)
    deliveries.set_defaults(run=cmd_webhook_deliveries)
    again = webhook_commands.add_parser("redeliver", help=(
        "send deliveries again now, under their webhook-id: the ones named, or --failed"))
    again.add_argument("ids", type=int, nargs="*", help="delivery ids (`webhook deliveries`)")
    again.add_argument("--failed", action="store_true",
                       help="every delivery given up or being retried")
    again.add_argument("--webhook", type=int, default=None, help="only this webhook's")
    _add_db(again)
    again.set_defaults(run=cmd_webhook_redeliver)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Any = args.run
    return int(run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
