"""Reconciling the store with an answer to the twinning query: what to add, end, mark, keep.

A partnership is Wikidata's own when every source it has is on wikidata.org; its kind stays
SISTER_CITY and its dates and status follow the answer. Any other partnership is curated:
only its Wikidata sources change (a statement added, withdrawn or back). A pair that an
answer holding every statement no longer has is kept, its Wikidata sources marked withdrawn
on the day of the update. Everything happens in the caller's one transaction.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from citylinks.db.importer import (
    ImportFailed,
    ImportReport,
    Progress,
    load_document,
    reference_maps,
)
from citylinks.db.models import Country, Partnership, Place, Source, partnership_sources
from citylinks.db.partial_dates import parse_partial_date
from citylinks.db.writes import ChangeEvent, record_change
from citylinks.transfer.wikidata import (
    LICENSE,
    PUBLISHER,
    SOURCE,
    WikidataAnswer,
    WikidataPair,
    document_from_answer,
    statement_source,
)
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

_WIKIDATA = re.compile(r"^https?://www\.wikidata\.org/")
# "…/wiki/Q90#Q90$5D4E…": a source that links to one statement.
_STATEMENT = re.compile(r"#(Q[1-9]\d*\$[0-9A-Fa-f-]{36})$")
# The property's page, or an item's P190 section: the claim, without a statement id.
_CLAIM = re.compile(r"^https?://www\.wikidata\.org/wiki/(Property:P190|Q[1-9]\d*#P190)$")
LISTED = 25
# An answer that lacks more than this share of the pairs stored from Wikidata (and more than
# MISSING_FLOOR of them) looks cut short or filtered rather than edited: it is refused.
MISSING_SHARE = 0.10
MISSING_FLOOR = 50


@dataclass
class Reconciliation:
    """What an update changed, pair by pair, for the command's report."""
    pairs_in_answer: int = 0
    added: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    still_gone: int = 0
    skipped: list[str] = field(default_factory=list)
    places: ImportReport = field(default_factory=ImportReport)
    complete: bool = True

    @property
    def changed(self) -> bool:
        return bool(self.added or self.ended or self.gone or self.updated
                    or self.places.places_created)

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.ended)} ended, {len(self.gone)} no longer "
                f"on Wikidata, {len(self.updated)} updated, {self.unchanged} unchanged, "
                f"{len(self.skipped)} skipped; {self.places.places_created} new places")

    def lines(self, everything: bool = False) -> list[str]:
        out = [f"{self.pairs_in_answer} pairs in the answer: {self.summary()}"]
        if not self.complete:
            out.append("pairs missing from this answer were not looked for (it may be one "
                       "slice of the query: --complete says it is the whole answer)")
        if self.still_gone:
            out.append(f"{self.still_gone} pair{'s' if self.still_gone != 1 else ''} stay"
                       f"{'s' if self.still_gone == 1 else ''} marked as no longer on Wikidata")
        for title, items in (("added", self.added), ("ended", self.ended),
                             ("no longer on Wikidata (kept; their Wikidata sources marked "
                              "withdrawn)", self.gone),
                             ("updated", self.updated), ("skipped", self.skipped)):
            if not items:
                continue
            out.append(f"{title}:")
            shown = items if everything else items[:LISTED]
            out.extend(f"  {item}" for item in shown)
            if len(shown) < len(items):
                out.append(f"  ... and {len(items) - len(shown)} more (--list-all lists them)")
        if not self.changed:
            out.append("no changes: nothing was written")
        return out


@dataclass
class _Stored:
    """A partnership as stored, with the Wikidata side of its sources."""
    id: int
    kind: str
    status: str
    since: str | None
    until: str | None
    statements: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    claims: list[tuple[int, str | None]] = field(default_factory=list)
    curated: bool = False
    sources: int = 0

    @property
    def from_wikidata(self) -> bool:
        return bool(self.statements or self.claims)


def _dates(since: str | None, until: str | None, status: str) -> dict[str, Any]:
    since_first, since_last = parse_partial_date(since) if since else (None, None)
    until_first, until_last = parse_partial_date(until) if until else (None, None)
    return {"since": since, "since_first": since_first, "since_last": since_last,
            "until": until, "until_first": until_first, "until_last": until_last,
            "status": status}


class _Reconciler:
    def __init__(self, session: AsyncSession, answer: WikidataAnswer, today: str) -> None:
        self.session = session
        self.answer = answer
        self.today = today
        self.result = Reconciliation(pairs_in_answer=len(answer.pairs))
        self.labels = {qid: place.name for qid, place in answer.places.items()}
        # Q-id -> (place id, name, country code) of the places stored with a Wikidata id.
        self.places: dict[str, tuple[int, str, str]] = {}
        self.links: list[dict[str, Any]] = []
        self.new_links: list[tuple[int, Source]] = []
        self.unlinks: list[dict[str, int]] = []
        self.withdraw: set[int] = set()
        self.restore: set[int] = set()
        self.new_dates: list[dict[str, Any]] = []
        self.positions: dict[int, int] = defaultdict(int)

    def name(self, qid: str) -> str:
        stored = self.places.get(qid)
        if stored is not None:
            return f"{stored[1]} ({stored[2]})"
        place = self.answer.places[qid]
        return f"{place.name} ({place.country})"

    def pair_name(self, pair: tuple[str, str]) -> str:
        return " - ".join(sorted(self.name(qid) for qid in pair))

    async def load_places(self) -> None:
        self.places = {str(qid): (pid, name, code) for qid, pid, name, code in
                       await self.session.execute(
                           select(Place.wikidata_id, Place.id, Place.name, Country.code)
                           .join(Country, Country.id == Place.country_id)
                           .where(Place.wikidata_id.is_not(None)))}

    async def load_partnerships(self) -> dict[tuple[str, str], list[_Stored]]:
        qid_of = {pid: qid for qid, (pid, _, _) in self.places.items()}
        stored: dict[int, _Stored] = {}
        by_pair: dict[tuple[str, str], list[_Stored]] = defaultdict(list)
        for row in await self.session.execute(
                select(Partnership.id, Partnership.place_a_id, Partnership.place_b_id,
                       Partnership.kind, Partnership.status, Partnership.since,
                       Partnership.until).order_by(Partnership.id)):
            a, b = qid_of.get(row.place_a_id), qid_of.get(row.place_b_id)
            if a is None or b is None:
                continue
            stored[row.id] = item = _Stored(row.id, row.kind, row.status, row.since, row.until)
            by_pair[(min(a, b), max(a, b))].append(item)
        for pid, sid, url, withdrawn, position in await self.session.execute(
                select(partnership_sources.c.partnership_id, Source.id, Source.url,
                       Source.withdrawn_on, partnership_sources.c.position)
                .join(Source, Source.id == partnership_sources.c.source_id)):
            self.positions[pid] = max(self.positions[pid], position + 1)
            if pid not in stored:
                continue
            item = stored[pid]
            item.sources += 1
            statement = _STATEMENT.search(url) if url and _WIKIDATA.match(url) else None
            if statement is not None:
                item.statements[statement[1]] = (sid, withdrawn)
            elif url and _CLAIM.match(url):
                item.claims.append((sid, withdrawn))
            elif not (url and _WIKIDATA.match(url)):
                item.curated = True
        for item in stored.values():
            # A record nobody sourced is nobody's to overwrite either.
            item.curated = item.curated or item.sources == 0
        return by_pair

    def link(self, partnership: int, source: dict[str, Any]) -> None:
        row = Source(title=source["title"], url=source["url"],
                     publisher=source.get("publisher"), license=source.get("license"),
                     withdrawn_on=source.get("withdrawnOn"))
        self.new_links.append((partnership, row))

    def update_sources(self, item: _Stored, pair: WikidataPair) -> list[str]:
        """Statements added, withdrawn or back; the claim without id replaced by them."""
        notes = []
        for statement in pair.statements:
            linked = item.statements.get(statement)
            if linked is None:
                twin = pair.qids[1] if statement.startswith(f"{pair.qids[0]}$") else pair.qids[0]
                self.link(item.id, statement_source(statement, self.labels, twin))
                notes.append(f"Wikidata statement {statement} added as a source")
            elif linked[1] is not None:
                self.restore.add(linked[0])
                notes.append(f"statement {statement} back on Wikidata")
        if pair.statements:
            for statement, (sid, withdrawn) in item.statements.items():
                if statement not in pair.statements and withdrawn is None:
                    self.withdraw.add(sid)
                    notes.append(f"statement {statement} withdrawn")
        if pair.statements:
            for sid, _ in item.claims:
                self.unlinks.append({"p": item.id, "s": sid})
        elif not item.statements and not item.claims:
            self.link(item.id, {**SOURCE, "publisher": PUBLISHER, "license": LICENSE})
            notes.append("Wikidata added as a source")
        elif not item.statements and all(w is not None for _, w in item.claims):
            self.restore.update(sid for sid, _ in item.claims)
            notes.append("back on Wikidata")
        return notes

    def update(self, item: _Stored, pair: WikidataPair) -> None:
        name = self.pair_name(pair.qids)
        notes = self.update_sources(item, pair)
        ended = False
        wikidata = (pair.since, pair.until, pair.status)
        if item.curated:
            if wikidata != (item.since, item.until, item.status) and notes:
                notes.append(f"curated facts kept (Wikidata: since "
                             f"{pair.since or 'not given'}"
                             f"{', until ' + pair.until if pair.until else ''})")
        elif wikidata != (item.since, item.until, item.status):
            self.new_dates.append({"id": item.id, **_dates(*wikidata)})
            ended = pair.until is not None and (item.until is None or item.status != "ENDED")
            notes.insert(0, f"since {item.since or '?'} -> {pair.since or '?'}, until "
                            f"{item.until or '-'} -> {pair.until or '-'}, status "
                            f"{item.status} -> {pair.status}")
        if ended:
            self.result.ended.append(f"{name}: until {pair.until}")
        elif notes:
            self.result.updated.append(f"{name}: {'; '.join(notes)}")
        else:
            self.result.unchanged += 1

    def mark_gone(self, key: tuple[str, str], item: _Stored) -> None:
        open_statements = [sid for sid, withdrawn in item.statements.values()
                           if withdrawn is None]
        open_claims = [sid for sid, withdrawn in item.claims if withdrawn is None]
        if not open_statements and not open_claims:
            self.result.still_gone += 1
            return
        self.withdraw.update(open_statements)
        for sid in open_claims:
            # The claim's source may be shared (the property's page): this pair gets its own.
            self.unlinks.append({"p": item.id, "s": sid})
            self.link(item.id, {
                "title": f"Wikidata: {self.places[key[0]][1]} ({key[0]}), twinned "
                         f"administrative body (P190): {self.places[key[1]][1]} ({key[1]})",
                "url": f"https://www.wikidata.org/wiki/{key[0]}#P190", "publisher": PUBLISHER,
                "license": LICENSE, "withdrawnOn": self.today})
        kept = " (curated record)" if item.curated else ""
        self.result.gone.append(f"{self.pair_name(key)}{kept}: withdrawn on {self.today}")

    async def write(self) -> None:
        session = self.session
        if self.new_dates:
            await session.execute(update(Partnership), self.new_dates)
        if self.unlinks:
            await session.execute(delete(partnership_sources).where(
                partnership_sources.c.partnership_id == bindparam("p"),
                partnership_sources.c.source_id == bindparam("s")), self.unlinks)
        if self.new_links:
            session.add_all(row for _, row in self.new_links)
            await session.flush()
            rows = []
            for partnership, row in self.new_links:
                rows.append({"partnership_id": partnership, "source_id": row.id,
                             "position": self.positions[partnership]})
                self.positions[partnership] += 1
            await session.execute(insert(partnership_sources), rows)
        for ids, value in ((self.withdraw, self.today), (self.restore, None)):
            chosen = sorted(ids)
            for start in range(0, len(chosen), 500):
                await session.execute(
                    update(Source).where(Source.id.in_(chosen[start:start + 500]))
                    .values(withdrawn_on=value).execution_options(synchronize_session=False))


async def reconcile(session: AsyncSession, answer: WikidataAnswer, *, today: str,
                    complete: bool, accept_missing: bool = False,
                    actor: str | None = "citylinks import",
                    progress: Progress | None = None) -> Reconciliation:
    """Bring the store in line with the answer, inside the caller's transaction; an answer
    that would mark too many pairs as no longer on Wikidata is refused (ImportFailed) unless
    `accept_missing`."""
    work = _Reconciler(session, answer, today)
    result = work.result
    result.complete = complete
    result.skipped.extend(answer.skipped)
    countries, _ = await reference_maps(session)
    await work.load_places()
    # Places are needed for pairs that can be imported; a place to create needs a country.
    new_places: set[str] = set()
    importable: list[WikidataPair] = []
    for pair in answer.pairs.values():
        if pair.problem is not None:
            result.skipped.append(f"{pair.where} ({pair.qids[0]}-{pair.qids[1]}): "
                                  f"{pair.problem}")
            continue
        reasons = []
        for qid in pair.qids:
            if qid in work.places:
                continue
            place = answer.places[qid]
            if place.country is None:
                reasons.append(f"{qid} ({place.name}) has no ISO 3166-1 country code on "
                               "Wikidata")
            elif place.country not in countries:
                reasons.append(f"{qid} ({place.name}): unknown country code {place.country!r}")
            else:
                new_places.add(qid)
        if reasons:
            result.skipped.append(f"{pair.where}: {'; '.join(reasons)}")
            continue
        importable.append(pair)
    if new_places:
        result.places = await load_document(
            session, document_from_answer(answer, new_places, []), actor=actor,
            progress=progress)
        await work.load_places()
    by_pair = await work.load_partnerships()
    fresh: list[WikidataPair] = []
    for pair in importable:
        stored = by_pair.get(pair.qids)
        if not stored:
            fresh.append(pair)
            continue
        # One partnership per pair: the one Wikidata already sources, else the twinning,
        # else the oldest record (a curated cooperation gains the statement as a source).
        target = next((s for s in stored if s.from_wikidata), None) or \
            next((s for s in stored if s.kind == "SISTER_CITY"), stored[0])
        work.update(target, pair)
    if fresh:
        # Every place is stored by now: the document names them as stored, by Q-id.
        document = document_from_answer(answer, set(), fresh)
        document["places"] = [
            {"ref": qid, "name": work.places[qid][1], "country": work.places[qid][2],
             "wikidataId": qid} for qid in sorted({q for pair in fresh for q in pair.qids})]
        report = await load_document(session, document, actor=actor, progress=progress)
        result.added.extend(
            f"{work.pair_name(pair.qids)}"
            f"{', since ' + pair.since if pair.since else ''}"
            f"{', until ' + pair.until if pair.until else ''}" for pair in fresh)
        result.places.partnerships_created += report.partnerships_created
    if complete:
        seen = set(answer.pairs)
        from_wikidata = [(key, item) for key, stored in by_pair.items() for item in stored
                         if item.from_wikidata]
        missing = [(key, item) for key, item in from_wikidata if key not in seen]
        share = len(missing) / len(from_wikidata) if from_wikidata else 0.0
        if not accept_missing and len(missing) > MISSING_FLOOR and share > MISSING_SHARE:
            raise ImportFailed([
                f"the answer lacks {len(missing)} of the {len(from_wikidata)} pairs stored "
                f"from Wikidata ({share:.0%}): it looks cut short or filtered, so none is "
                "marked as no longer on Wikidata. If Wikidata did lose them, run again with "
                "--accept-missing."])
        for key, item in missing:
            work.mark_gone(key, item)
    await work.write()
    if result.ended or result.gone or result.updated:
        await record_change(session, actor, ChangeEvent(
            "import", "updated", 0, data={"summary": f"Wikidata update: {result.summary()}"}))
    return result
