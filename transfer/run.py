"""Command-line glue for `citylinks import` and `citylinks export`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
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


def _is_sparql_results_file(path: str) -> bool:
    """A .json file is read as Wikidata results when it is SPARQL JSON (checked whole:
    a file that is not JSON at all is left to the citylinks reader to name its fault)."""
    try:
        return _looks_like_sparql_results(_read_json(path))
    except (ImportFailed, OSError):
        return False


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFailed([f"byte {error.start}: the file is not UTF-8"]) from None


def _read_json(path: str) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise ImportFailed([f"line {error.lineno}: not valid JSON ({error.msg})"]) from None


def read_document(path: str, fmt: str) -> dict[str, Any]:
    """The file as a citylinks document (csv or json)."""
    from citylinks.transfer.formats import document_from_csv

    if fmt == "csv":
        return document_from_csv(_read_text(path))
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ImportFailed(["not a citylinks document"])
    return data


@dataclass(frozen=True)
class WikidataOptions:
    """Where a Wikidata answer comes from, and how much of the store it speaks for."""
    endpoint: str
    timeout: float
    contact: str | None = None
    # A fetched answer holds every statement; a file may be one slice of the query.
    complete: bool = False
    save: str | None = None
    list_all: bool = False
    accept_missing: bool = False


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


def run_wikidata_update(path: str | None, url: str, options: WikidataOptions) -> int:
    """Fetch (no path) or read the twinning query's answer and reconcile the store with it."""
    from citylinks.transfer.wikidata import parse_answer
    from citylinks.transfer.wikidata_fetch import fetch_answer
    from citylinks.transfer.wikidata_reconcile import reconcile

    progress = Progress()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    origin = path or options.endpoint
    complete = options.complete or path is None

    async def run(answer: Any) -> None:
        database = create_database(url)
        try:
            await prepare(database, load_seed=False)
            progress.say(f"reconciling {len(answer.pairs)} pairs over {len(answer.places)} "
                         "places with the store")
            async with database.write() as session:
                result = await reconcile(session, answer, today=today, complete=complete,
                                         accept_missing=options.accept_missing,
                                         progress=progress)
            progress.say("committed" if result.changed else "nothing to write")
            print(f"Wikidata update from {origin} on {today}, in "
                  f"{time.monotonic() - progress.started:.1f}s")
            print("\n".join(result.lines(options.list_all)))
        finally:
            await database.dispose()

    def work() -> None:
        if path is None:
            progress.say(f"asking {options.endpoint} for every twinning (P190)")
            data = fetch_answer(options.endpoint, timeout=options.timeout,
                                contact=options.contact, say=progress.say)
            if options.save:
                Path(options.save).write_text(json.dumps(data, ensure_ascii=False),
                                              encoding="utf-8")
                progress.say(f"saved the answer to {options.save}")
        else:
            progress.say(f"reading {path}")
            data = _read_json(path)
        asyncio.run(run(parse_answer(data)))

    return _exit_status(work, path)


def run_import(path: str, fmt: str | None, url: str,
               wikidata: WikidataOptions | None = None) -> int:
    if fmt == "wikidata" or (fmt is None and Path(path).suffix.lower() == ".json"
                             and _is_sparql_results_file(path)):
        from citylinks.transfer.wikidata_fetch import DEFAULT_ENDPOINT, DEFAULT_TIMEOUT

        return run_wikidata_update(path, url, wikidata or WikidataOptions(
            DEFAULT_ENDPOINT, DEFAULT_TIMEOUT))
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

    def work() -> None:
        progress.say(f"reading {path}")
        asyncio.run(run(read_document(path, fmt or _guess_format(path))))

    return _exit_status(work, path)


def _exit_status(work: Callable[[], None], path: str | None) -> int:
    """The command's exit status: 1, said in one line, for a refused import or a missing
    file (nothing was written either way); 0 once it is done."""
    try:
        work()
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
