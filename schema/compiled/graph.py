"""Graph questions on the compiled path: `suggestPartners`, read from the graph index.

The explorer's place view asks for a place, its partners and its suggestions in one
document. Without these resolvers the whole document went to the reference executor
(graphql-core completing about ten thousand fields one by one: 40-120 ms of CPU on
the world data against 20-30 ms on the batch tier). The suggestions themselves come
from the process's graph index (db/graph.py) and cost well under a millisecond for
most places; only the places and sectors they name are completed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from citylinks.db.graph import graph_index
from citylinks.db.suggestions import suggest_partners
from citylinks.schema.compiled.planner import FieldPlan, NotCompilable
from citylinks.schema.graph import DEFAULT_SUGGESTIONS, MAX_SUGGESTIONS
from citylinks.schema.ids import decode_id


@dataclass(frozen=True)
class SuggestionRow:
    """One suggestion with the rows its fields complete from (the index's own rows)."""

    place: Any
    score: float
    sectors: tuple[Any, ...]
    reasons: tuple[str, ...]


async def root_suggest_partners(run: Any, args: dict[str, Any], field: FieldPlan) -> Any:
    first = args.get("first")
    count = DEFAULT_SUGGESTIONS if first is None else first
    if not 0 <= count <= MAX_SUGGESTIONS:
        raise NotCompilable("out-of-range first: the reference reports it")
    place_id = decode_id(args["city"], "City", "city")
    if run.db is None:
        raise NotCompilable("no database for the graph index")
    index = await graph_index(run.db)
    sector_id = None
    if args.get("sector") is not None:
        sector_id = index.sector_ids.get(args["sector"].strip().lower())
        if sector_id is None:
            raise NotCompilable("unknown sector: the reference reports it")
    rows = [SuggestionRow(index.places[s.place_id], s.score,
                          tuple(index.sectors[sid] for sid in s.shared_sector_ids), s.reasons)
            for s in suggest_partners(index, place_id, count, sector_id)]
    assert field.child is not None
    return await run.complete(field.child, rows)


async def suggestion_city(run: Any, field: FieldPlan, rows: list[SuggestionRow]) -> list[Any]:
    assert field.child is not None
    completed: list[Any] = await run.complete(field.child, [row.place for row in rows])
    return completed


async def suggestion_sectors(run: Any, field: FieldPlan,
                             rows: list[SuggestionRow]) -> list[list[Any]]:
    assert field.child is not None
    completed = await run.complete(field.child, [s for row in rows for s in row.sectors])
    out, position = [], 0
    for row in rows:
        out.append(completed[position:position + len(row.sectors)])
        position += len(row.sectors)
    return out


def _score(run: Any, field: FieldPlan, rows: list[SuggestionRow]) -> list[float]:
    return [row.score for row in rows]


def _reasons(run: Any, field: FieldPlan, rows: list[SuggestionRow]) -> list[list[str]]:
    return [list(row.reasons) for row in rows]


_score.sync = True  # type: ignore[attr-defined]
_reasons.sync = True  # type: ignore[attr-defined]

PARTNER_SUGGESTION = {
    "city": suggestion_city, "score": _score, "reasons": _reasons,
    "sharedSectors": suggestion_sectors,
}
