"""Batch resolvers of the compiled path: each produces one field's values for many rows at once.

A resolver takes the run, its field plan and the parent rows, and returns the
completed JSON values aligned with the rows. Relations cost one statement per
field per nesting level (the same db.queries functions the DataLoaders call),
whatever the number of parents.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from citylinks.db import queries
from citylinks.db.pagination import Page
from citylinks.schema.compiled import graph, stats
from citylinks.schema.compiled.planner import FieldPlan, NotCompilable, ObjectPlan, Registry
from citylinks.schema.ids import decode_id
from citylinks.schema.inputs import (
    city_filter_spec,
    order_key,
    organization_filter_spec,
    partner_filter_spec,
    partnership_filter_spec,
)
from citylinks.schema.types.connections import parse_page_args

Rows = Sequence[Any]


def global_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


# ---------------------------------------------------------------- building blocks


def scalar(attribute: str) -> Any:
    def resolve(run: Any, field: FieldPlan, rows: Rows) -> list[Any]:
        return [getattr(row, attribute) for row in rows]

    resolve.sync = True  # type: ignore[attr-defined]
    return resolve


def node_id(type_name: str) -> Any:
    prefix = f"{type_name}:"

    def resolve(run: Any, field: FieldPlan, rows: Rows) -> list[Any]:
        return [base64.b64encode(f"{prefix}{row.id}".encode()).decode() for row in rows]

    resolve.sync = True  # type: ignore[attr-defined]
    return resolve


def same_row() -> Any:
    """The parent row also serves as the child object (Partner.partnership)."""

    async def resolve(run: Any, field: FieldPlan, rows: Rows) -> list[Any]:
        assert field.child is not None
        return await run.complete(field.child, list(rows))

    return resolve


Fetch = Callable[[Any, list[Any]], Awaitable[dict[Any, Any]]]


def to_one(fetch: Fetch, key: str) -> Any:
    async def resolve(run: Any, field: FieldPlan, rows: Rows) -> list[Any]:
        keys = [getattr(row, key) for row in rows]
        wanted = [k for k in dict.fromkeys(keys) if k is not None]
        found = await fetch(run.conn, wanted) if wanted else {}
        assert field.child is not None
        present = [k for k in wanted if k in found]
        completed = dict(zip(present, await run.complete(field.child, [found[k] for k in present]),
                             strict=True))
        return [completed.get(k) if k is not None else None for k in keys]

    return resolve


def to_many(fetch: Fetch, key: str = "id") -> Any:
    async def resolve(run: Any, field: FieldPlan, rows: Rows) -> list[Any]:
        keys = [getattr(row, key) for row in rows]
        wanted = list(dict.fromkeys(keys))
        found = await fetch(run.conn, wanted) if wanted else {}
        assert field.child is not None
        flat = [child for k in wanted for child in found.get(k, ())]
        completed = await run.complete(field.child, flat)
        grouped: dict[Any, list[Any]] = {}
        position = 0
        for k in wanted:
            count = len(found.get(k, ()))
            grouped[k] = completed[position:position + count]
            position += count
        return [grouped[k] for k in keys]

    return resolve


def plain_list(fetch: Fetch, key: str = "id") -> Any:
    """A list of scalars per row (City.aliases)."""

    async def resolve(run: Any, field: FieldPlan, rows: Rows) -> list[Any]:
        keys = [getattr(row, key) for row in rows]
        found = await fetch(run.conn, list(dict.fromkeys(keys)))
        return [list(found.get(k, ())) for k in keys]

    return resolve


def counted(fetch: Fetch) -> Any:
    async def resolve(run: Any, field: FieldPlan, rows: Rows) -> list[Any]:
        keys = [row.id for row in rows]
        found = await fetch(run.conn, list(dict.fromkeys(keys)))
        return [found.get(k, 0) for k in keys]

    return resolve


# ---------------------------------------------------------------- connections


def _wants_total(plan: ObjectPlan) -> bool:
    return bool(plan.find("totalCount"))


async def complete_connections(run: Any, plan: ObjectPlan, pages: list[Page]) -> list[Any]:
    """Build connection objects in the selection's order; nodes complete once per plan."""
    flat = [row for page in pages for row in page.rows]
    completed: dict[int, list[Any]] = {}

    async def nodes_for(node_plan: ObjectPlan) -> list[Any]:
        key = id(node_plan)
        if key not in completed:
            completed[key] = await run.complete(node_plan, flat)
        return completed[key]

    columns: list[list[Any]] = []
    for field in plan.fields:
        if field.name == "__typename":
            columns.append([plan.type_name] * len(pages))
        elif field.name == "totalCount":
            columns.append([page.total or 0 for page in pages])
        elif field.name == "pageInfo":
            columns.append([_page_info(field.child, page) for page in pages])
        elif field.name == "nodes":
            assert field.child is not None
            columns.append(_split(await nodes_for(field.child), pages))
        elif field.name == "edges":
            assert field.child is not None
            columns.append(await _edges(field.child, pages, nodes_for))
        else:  # pragma: no cover - the planner admits only the fields above
            raise NotCompilable(field.name)
    keys = [f.key for f in plan.fields]
    return [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]


def _split(values: list[Any], pages: list[Page]) -> list[list[Any]]:
    out, position = [], 0
    for page in pages:
        out.append(values[position:position + len(page.rows)])
        position += len(page.rows)
    return out


def _page_info(plan: ObjectPlan | None, page: Page) -> dict[str, Any]:
    assert plan is not None
    out: dict[str, Any] = {}
    for f in plan.fields:
        if f.name == "hasNextPage":
            out[f.key] = page.has_next
        elif f.name == "hasPreviousPage":
            out[f.key] = page.has_previous
        elif f.name == "startCursor":
            out[f.key] = page.cursors[0] if page.keys else None
        elif f.name == "endCursor":
            out[f.key] = page.cursors[-1] if page.keys else None
        else:
            out[f.key] = "PageInfo"
    return out


async def _edges(plan: ObjectPlan, pages: list[Page],
                 nodes_for: Callable[[ObjectPlan], Awaitable[list[Any]]]) -> list[list[Any]]:
    node_values: list[Any] | None = None
    for f in plan.fields:
        if f.name == "node":
            assert f.child is not None
            node_values = await nodes_for(f.child)
    wants_cursor = bool(plan.find("cursor"))
    out: list[list[Any]] = []
    position = 0
    for page in pages:
        cursors = page.cursors if wants_cursor else None
        edges = []
        for i in range(len(page.rows)):
            edge: dict[str, Any] = {}
            for f in plan.fields:
                if f.name == "cursor":
                    assert cursors is not None
                    edge[f.key] = cursors[i]
                elif f.name == "node":
                    assert node_values is not None
                    edge[f.key] = node_values[position + i]
                else:
                    edge[f.key] = plan.type_name
            edges.append(edge)
        position += len(page.rows)
        out.append(edges)
    return out


def _page_args(args: dict[str, Any], ordering: Any) -> Any:
    return parse_page_args(args.get("first"), args.get("after"), args.get("last"),
                           args.get("before"), ordering)


def connection(fetch_pages: Callable[..., Awaitable[dict[int, Page]]]) -> Any:
    """A per-parent connection field; `fetch_pages(run, parent_ids, args, with_total)`."""

    async def resolve(run: Any, field: FieldPlan, rows: Rows) -> list[Any]:
        assert field.child is not None
        args = run.arguments(field)
        ids = [row.id for row in rows]
        pages = await fetch_pages(run, list(dict.fromkeys(ids)), args, _wants_total(field.child))
        return await complete_connections(run, field.child, [pages[i] for i in ids])

    return resolve


async def _partner_pages(run: Any, ids: list[int], args: dict[str, Any],
                         with_total: bool, spec: Any) -> dict[int, Page]:
    include_subdivisions = bool(args.get("include_subdivisions"))
    return await queries.partner_pages(
        run.conn, ids, spec, _page_args(args, queries.partner_ordering(include_subdivisions)),
        with_total=with_total, include_subdivisions=include_subdivisions)


async def partners_pages(run: Any, ids: list[int], args: dict[str, Any],
                         with_total: bool) -> dict[int, Page]:
    return await _partner_pages(run, ids, args, with_total, partner_filter_spec(args.get("filter")))


async def partnerships_of_city_pages(run: Any, ids: list[int], args: dict[str, Any],
                                     with_total: bool) -> dict[int, Page]:
    return await _partner_pages(run, ids, args, with_total,
                                partnership_filter_spec(args.get("filter")))


async def children_pages(run: Any, ids: list[int], args: dict[str, Any],
                         with_total: bool) -> dict[int, Page]:
    return await queries.place_pages_by_parent(
        run.conn, "parent_id", ids, None, _page_args(args, queries.PLACES_BY_NAME),
        with_total=with_total)


async def country_city_pages(run: Any, ids: list[int], args: dict[str, Any],
                             with_total: bool) -> dict[int, Page]:
    return await queries.place_pages_by_parent(
        run.conn, "country_id", ids, city_filter_spec(args.get("filter")),
        _page_args(args, queries.PLACES_BY_NAME), with_total=with_total)


async def sector_partnership_pages(run: Any, ids: list[int], args: dict[str, Any],
                                   with_total: bool) -> dict[int, Page]:
    return await queries.partnership_pages_by_sector(
        run.conn, ids, partnership_filter_spec(args.get("filter")),
        _page_args(args, queries.PARTNERSHIPS_BY_ID), with_total=with_total)


# ---------------------------------------------------------------- root fields


def root(produce: Callable[[Any, dict[str, Any], FieldPlan], Awaitable[Any]]) -> Any:
    async def resolve(run: Any, field: FieldPlan, rows: Rows) -> list[Any]:
        return [await produce(run, run.arguments(field), field)]

    return resolve


async def _one(run: Any, field: FieldPlan, row: Any) -> Any:
    if row is None:
        return None
    assert field.child is not None
    return (await run.complete(field.child, [row]))[0]


async def _many(run: Any, field: FieldPlan, rows: list[Any]) -> list[Any]:
    assert field.child is not None
    result: list[Any] = await run.complete(field.child, rows)
    return result


async def root_city(run: Any, args: dict[str, Any], field: FieldPlan) -> Any:
    if args.get("id") is None:
        raise NotCompilable("city by name")  # ambiguity errors come from the reference
    pk = decode_id(args["id"], "City")
    return await _one(run, field, (await queries.places_by_ids(run.conn, [pk])).get(pk))


async def root_cities(run: Any, args: dict[str, Any], field: FieldPlan) -> Any:
    ordering = queries.PLACE_ORDERINGS[order_key(args.get("order_by"), "NAME")]
    assert field.child is not None
    page = await queries.list_places(run.conn, city_filter_spec(args.get("filter")), ordering,
                                     _page_args(args, ordering),
                                     with_total=_wants_total(field.child))
    return (await complete_connections(run, field.child, [page]))[0]


async def root_partnership(run: Any, args: dict[str, Any], field: FieldPlan) -> Any:
    pk = decode_id(args["id"], "Partnership")
    return await _one(run, field, (await queries.partnerships_by_ids(run.conn, [pk])).get(pk))


async def root_partnerships(run: Any, args: dict[str, Any], field: FieldPlan) -> Any:
    ordering = queries.PARTNERSHIP_ORDERINGS[order_key(args.get("order_by"), "ID")]
    assert field.child is not None
    page = await queries.list_partnerships(
        run.conn, partnership_filter_spec(args.get("filter")), ordering,
        _page_args(args, ordering), with_total=_wants_total(field.child))
    return (await complete_connections(run, field.child, [page]))[0]


async def root_country(run: Any, args: dict[str, Any], field: FieldPlan) -> Any:
    code = args["code"].strip().upper()
    return await _one(run, field, (await queries.countries_by_codes(run.conn, [code])).get(code))


async def root_countries(run: Any, args: dict[str, Any], field: FieldPlan) -> Any:
    return await _many(run, field, await queries.countries_with_places(run.conn))


async def root_sector(run: Any, args: dict[str, Any], field: FieldPlan) -> Any:
    slug = args["slug"]
    return await _one(run, field, (await queries.sectors_by_slugs(run.conn, [slug])).get(slug))


async def root_sectors(run: Any, args: dict[str, Any], field: FieldPlan) -> Any:
    return await _many(run, field, await queries.all_sectors(run.conn))


async def root_organizations(run: Any, args: dict[str, Any], field: FieldPlan) -> Any:
    assert field.child is not None
    page = await queries.list_organizations(
        run.conn, organization_filter_spec(args.get("filter")),
        _page_args(args, queries.ORGANIZATIONS_BY_NAME), with_total=_wants_total(field.child))
    return (await complete_connections(run, field.child, [page]))[0]


async def root_search(run: Any, args: dict[str, Any], field: FieldPlan) -> Any:
    first = args.get("first")
    first = 10 if first is None else first
    if not 0 <= first <= 50:
        raise NotCompilable("out-of-range first: the reference reports it")
    return await _many(run, field, await queries.search_places(run.conn, args["text"], first))


def _place_pair(run_conn: Any, ids: list[int]) -> Awaitable[dict[int, Any]]:
    return queries.places_by_ids(run_conn, ids)


async def _partnership_cities(run: Any, field: FieldPlan, rows: Rows) -> list[Any]:
    wanted = list(dict.fromkeys(pid for row in rows for pid in (row.place_a_id, row.place_b_id)))
    found = await queries.places_by_ids(run.conn, wanted)
    assert field.child is not None
    present = [pid for pid in wanted if pid in found]
    completed = dict(zip(present, await run.complete(field.child, [found[p] for p in present]),
                         strict=True))
    return [[completed[row.place_a_id], completed[row.place_b_id]] for row in rows]


# ---------------------------------------------------------------- the registry


def build_registry() -> Registry:
    city = {
        "id": node_id("City"), "name": scalar("name"), "localName": scalar("local_name"),
        "level": scalar("level"), "latitude": scalar("latitude"),
        "longitude": scalar("longitude"), "population": scalar("population"),
        "region": scalar("region"), "wikidataId": scalar("wikidata_id"),
        "partnerCount": scalar("partner_count"),
        "aliases": plain_list(queries.aliases_by_place_ids),
        "country": to_one(queries.countries_by_ids, "country_id"),
        "parent": to_one(queries.places_by_ids, "parent_id"),
        "children": connection(children_pages),
        "partners": connection(partners_pages),
        "partnerships": connection(partnerships_of_city_pages),
        "organizations": to_many(queries.organizations_by_place_ids),
    }
    partnership = {
        "id": node_id("Partnership"), "kind": scalar("kind"), "status": scalar("status"),
        "since": scalar("since"), "until": scalar("until"),
        "description": scalar("description"), "distanceKm": scalar("distance_km"),
        "cities": _partnership_cities,
        "sectors": to_many(queries.sectors_by_partnership_ids),
        "milestones": to_many(queries.milestones_by_partnership_ids),
        "organizations": to_many(queries.organizations_by_partnership_ids),
        "sources": to_many(queries.sources_by_partnership_ids),
    }
    return {
        "Query": {
            "city": root(root_city), "cities": root(root_cities),
            "partnership": root(root_partnership), "partnerships": root(root_partnerships),
            "country": root(root_country), "countries": root(root_countries),
            "sector": root(root_sector), "sectors": root(root_sectors),
            "organizations": root(root_organizations), "search": root(root_search),
            "suggestPartners": root(graph.root_suggest_partners),
            "partnershipStats": root(stats.root_partnership_stats),
        },
        **stats.registry(global_id),
        "PartnerSuggestion": graph.PARTNER_SUGGESTION,
        "City": city,
        "Country": {
            "id": node_id("Country"), "code": scalar("code"), "name": scalar("name"),
            "cities": connection(country_city_pages),
            "partnershipCount": counted(queries.partnership_counts_by_country_ids),
        },
        "Partner": {
            "city": to_one(queries.places_by_ids, "other_id"),
            "partnership": same_row(), "kind": scalar("kind"), "status": scalar("status"),
            "since": scalar("since"), "distanceKm": scalar("distance_km"),
            "sectors": to_many(queries.sectors_by_partnership_ids),
        },
        "Partnership": partnership,
        "Milestone": {
            "date": scalar("date"), "kind": scalar("kind"),
            "description": scalar("description"),
            "source": to_one(queries.sources_by_ids, "source_id"),
        },
        "Source": {
            "url": scalar("url"), "title": scalar("title"), "publisher": scalar("publisher"),
            "publishedOn": scalar("published_on"), "withdrawnOn": scalar("withdrawn_on"),
            "license": scalar("license"),
        },
        "Sector": {
            "id": node_id("Sector"), "slug": scalar("slug"), "name": scalar("name"),
            "partnerships": connection(sector_partnership_pages),
            "partnershipCount": counted(queries.partnership_counts_by_sector_ids),
        },
        "Organization": {
            "id": node_id("Organization"), "name": scalar("name"), "kind": scalar("kind"),
            "city": to_one(queries.places_by_ids, "place_id"),
            "partnerships": to_many(queries.partnerships_by_organization_ids),
        },
    }
