"""Command-line glue for `citylinks import` and `citylinks export`."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from citylinks.db.bootstrap import prepare
from citylinks.db.engine import create_database
from citylinks.db.importer import ImportFailed, load_document


def _guess_format(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".json": "json"}.get(suffix, "json")


def _looks_like_sparql_results(data: Any) -> bool:
    return isinstance(data, dict) and "results" in data and "head" in data


def read_document(path: str, fmt: str, *, detect: bool = False) -> dict[str, Any]:
    """The file as a citylinks document; `detect` lets a .json file be Wikidata results."""
    from citylinks.transfer.formats import document_from_csv

    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFailed([f"byte {error.start}: the file is not UTF-8"]) from None
    if fmt == "csv":
        return document_from_csv(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportFailed([f"line {error.lineno}: not valid JSON ({error.msg})"]) from None
    if fmt == "wikidata" or (detect and _looks_like_sparql_results(data)):
        from citylinks.transfer.wikidata import document_from_wikidata

        return document_from_wikidata(data)
    if not isinstance(data, dict):
        raise ImportFailed(["not a citylinks document"])
    return data


class Progress:
    """Progress on stderr: one updating line on a terminal, a line per step otherwise."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:5.1f}s] {message}", file=sys.stderr,
              flush=True)

    def __call__(self, stage: str, done: int, total: int) -> None:
        line = f"[{time.monotonic() - self.started:5.1f}s] {stage}: {done}/{total}"
        if self.tty:
            print(f"\r{line}", end="" if done < total else "\n", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)


def run_import(path: str, fmt: str | None, url: str) -> int:
    progress = Progress()

    async def run(document: dict[str, Any]) -> None:
        database = create_database(url)
        try:
            await prepare(database, load_seed=False)
            progress.say(f"checking and writing {len(document.get('places') or [])} places, "
                         f"{len(document.get('partnerships') or [])} partnerships")
            async with database.write() as session:
                report = await load_document(session, document, actor="citylinks import",
                                             progress=progress)
            progress.say("committed")
            print(f"imported {path} in {time.monotonic() - progress.started:.1f}s: "
                  f"{report.summary()}")
        finally:
            await database.dispose()

    try:
        progress.say(f"reading {path}")
        document = read_document(path, fmt or _guess_format(path), detect=fmt is None)
        asyncio.run(run(document))
    except ImportFailed as error:
        print(f"import failed, nothing was written:\n{error}", file=sys.stderr)
        return 1
    except FileNotFoundError:
        print(f"no such file: {path}", file=sys.stderr)
        return 1
    return 0


def run_export(fmt: str, output: str, url: str) -> int:
    from citylinks.transfer.export import export_document

    async def run() -> str:
        database = create_database(url)
        try:
            await prepare(database, load_seed=False)
            return await export_document(database, fmt)
        finally:
            await database.dispose()

    text = asyncio.run(run())
    if output == "-":
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)
    return 0
