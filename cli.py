"""The `citylinks` command: serve, migrate, import, export, print the schema, manage tokens."""

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
    from citylinks.db.bootstrap import prepare
    from citylinks.db.engine import create_database, normalize_url

    url = normalize_url(_db_url(args))

    async def migrate() -> None:
        database = create_database(url)
        try:
            report = await prepare(database)
            if report is not None:
                print(f"loaded the bundled data set: {report.summary()}", flush=True)
        finally:
            await database.dispose()

    # Migrate once here, before the workers start, so they never race on it.
    asyncio.run(migrate())
    os.environ["CITYLINKS_DB"] = url
    os.environ["CITYLINKS_MIGRATE_ON_START"] = "0"
    print(f"citylinks: GraphiQL at http://{args.host}:{args.port}/graphql, "
          f"explorer at http://{args.host}:{args.port}/", flush=True)
    uvicorn.run("citylinks.server:app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=args.log_level, loop="auto", http="auto",
                access_log=False)
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
    from citylinks.transfer.run import run_import

    return run_import(args.file, args.format, _db_url(args))


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
    from citylinks.auth import create_token

    info, token = _run_with_store(args, lambda s: create_token(s, args.role, args.label))
    label = f" ({info.label})" if info.label else ""
    print(f"created token {info.id}{label} with the {info.role} role.")
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
    print(f"{'id':>4}  {'role':<7} {'created':<20} {'revoked':<20} label")
    for t in tokens:
        created = t.created_at.strftime("%Y-%m-%d %H:%M:%S")
        revoked = t.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if t.revoked_at else "-"
        print(f"{t.id:>4}  {t.role:<7} {created:<20} {revoked:<20} {t.label or ''}")
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

    imp = commands.add_parser("import", help="load partnerships from a file")
    imp.add_argument("file")
    imp.add_argument("--format", choices=["json", "csv", "wikidata"], default=None,
                     help="default: from the file name's extension")
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
    _add_db(create)
    create.set_defaults(run=cmd_token_create)
    listing = token_commands.add_parser("list", help="list tokens (never the tokens themselves)")
    _add_db(listing)
    listing.set_defaults(run=cmd_token_list)
    revoke = token_commands.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id", type=int, help="the id `token list` shows")
    _add_db(revoke)
    revoke.set_defaults(run=cmd_token_revoke)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Any = args.run
    return int(run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
