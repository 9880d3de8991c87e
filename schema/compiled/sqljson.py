"""The fastest tier of the compiled path: a whole query as one SQL statement that builds the JSON.

For the common nested shapes (city -> partners -> sectors, lists with totalCount)
the database assembles the answer itself — PostgreSQL with json_build_object and
json_agg, SQLite by joining JSON texts (`Json`) — the way PostGraphile and Hasura do,
and Python passes the text through. Anything this builder does
not cover (cursors, `after`/`before`/`last`, includeSubdivisions, some filters)
raises NotCompilable and the plan runs on the batch tier instead, whose answers
are in turn checked against Strawberry's executor.

A statement's text depends on its plan and on the shape of its arguments (which
filters are set, the ordering), not on their values: every value goes through
`Sql.bind` as a function of the request's arguments, so the text is built once
per plan and shape, and a later request only computes its values (`Template`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any

from citylinks.db.enums import NOT_YET_IN_FORCE
from citylinks.db.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from citylinks.db.partial_dates import PartialDateError, parse_partial_date
from citylinks.db.text import search_key
from citylinks.schema.compiled.planner import FieldPlan, NotCompilable, ObjectPlan
from citylinks.schema.ids import decode_id
from citylinks.schema.inputs import (
    city_filter_spec,
    order_key,
    partner_filter_spec,
    partnership_filter_spec,
)
from graphql import IntValueNode, NullValueNode

_LATEST = "9999-12-31"
_EARLIEST = "0001-01-01"


# A request's arguments of a field, as the reference resolvers see them.
Arguments = Callable[[FieldPlan], dict[str, Any]]
# A bound value (or a check) computed from a request's arguments.
Getter = Callable[[Arguments], Any]


def _constant(value: Any) -> Getter:
    return lambda _: value


class Json(str):
    """An SQL expression whose value is JSON text, never NULL (SQLite).

    SQLite's JSON functions mark their results as JSON only within one expression: a
    nested object or list that comes out of a subquery is plain text again, and
    json_object() would quote it as a string unless json() parses it first. At each
    level of nesting every byte of the answer below was parsed once more (the
    benchmark's Q2 three times). So objects and lists are joined as texts instead:
    scalars through json_quote() (json_object's own formatting of each value), and
    the expressions this type marks as they are. The benchmark's Q2 statement costs
    12 % less, Q3's 14 %."""


@dataclass
class Sql:
    """One statement being built: its dialect, bound parameters and alias counter."""

    dialect: str
    arguments: Arguments
    params: dict[str, Any] = field(default_factory=dict)
    # How each parameter, and each check of the arguments, is computed for a request.
    getters: list[Getter] = field(default_factory=list)
    checks: list[Getter] = field(default_factory=list)
    aliases: int = 0

    @property
    def pg(self) -> bool:
        return self.dialect == "postgresql"

    def bind(self, get: Getter) -> str:
        """A parameter whose value `get` computes from a request's arguments."""
        name = f"p{len(self.params)}"
        self.params[name] = _adapt(get(self.arguments), self.pg)
        self.getters.append(get)
        return f":{name}"

    def check(self, get: Getter) -> None:
        """A check of the arguments (it raises) that every request runs."""
        get(self.arguments)
        self.checks.append(get)

    def alias(self, stem: str) -> str:
        self.aliases += 1
        return f"{stem}{self.aliases}"

    def date(self, value: str) -> str:
        return f"DATE '{value}'" if self.pg else f"'{value}'"

    # -- JSON building blocks, per dialect

    def obj(self, pairs: list[tuple[str, str]]) -> str:
        if self.pg:
            inner = ", ".join(f"'{key}', {value}" for key, value in pairs)
            return f"json_build_object({inner})"
        if not pairs:
            return Json("'{}'")
        # Keys are GraphQL names and aliases ([_A-Za-z][_0-9A-Za-z]*): nothing to escape.
        parts = []
        for i, (key, value) in enumerate(pairs):
            parts.append(f"""'{"{" if i == 0 else ","}"{key}":'""")
            parts.append(value if isinstance(value, Json) else f"json_quote({value})")
        return Json(f"({' || '.join(parts)} || '}}')")

    def embed(self, subquery: str) -> str:
        """The JSON of a subquery's one object; null where it finds no row."""
        return f"({subquery})" if self.pg else Json(f"coalesce(({subquery}), 'null')")

    def array(self, inner: str, order: str) -> str:
        """JSON array of column `o` of `inner`, in `order` (a list of x.<column> terms)."""
        if self.pg:
            ordering = f" ORDER BY {order}" if order else ""
            return f"(SELECT coalesce(json_agg(x.o{ordering}), '[]'::json) FROM ({inner}) x)"
        # Every `o` is an object's JSON text, never NULL (group_concat would skip it).
        return Json(f"(SELECT '[' || coalesce(group_concat(x.o, ','), '') || ']' "
                    f"FROM ({inner}) x)")

    def pair(self, first: str, second: str) -> str:
        """JSON array of two objects, each a subquery's."""
        if self.pg:
            return f"json_build_array({first}, {second})"
        return Json(f"('[' || coalesce({first}, 'null') || ',' || "
                    f"coalesce({second}, 'null') || ']')")

    def scalar_array(self, inner: str, order: str) -> str:
        if self.pg:
            ordering = f" ORDER BY {order}" if order else ""
            return f"(SELECT coalesce(json_agg(x.o{ordering}), '[]'::json) FROM ({inner}) x)"
        return Json(f"(SELECT json_group_array(x.o) FROM ({inner}) x)")

    def boolean(self, condition: str) -> str:
        if self.pg:
            return f"({condition})"
        return Json(f"(CASE WHEN {condition} THEN 'true' ELSE 'false' END)")

    def global_id(self, type_name: str, column: str) -> str:
        if self.pg:
            return f"encode(convert_to('{type_name}:' || {column}, 'UTF8'), 'base64')"
        return f"citylinks_b64('{type_name}:' || {column})"


def _adapt(value: Any, pg: bool) -> Any:
    if isinstance(value, dt.date) and not pg:
        return value.isoformat()  # SQLite keeps dates as ISO text
    return value


@dataclass(frozen=True)
class Template:
    """A statement's text for one plan and shape of arguments, and how a request's
    arguments become its parameters."""

    text: str
    getters: tuple[Getter, ...]
    checks: tuple[Getter, ...]
    pg: bool

    @classmethod
    def of(cls, sql: Sql, text: str) -> Template:
        return cls(text, tuple(sql.getters), tuple(sql.checks), sql.pg)

    def params(self, arguments: Arguments) -> dict[str, Any]:
        for check in self.checks:
            check(arguments)
        return {f"p{i}": _adapt(get(arguments), self.pg) for i, get in enumerate(self.getters)}


class Unshaped(Exception):
    """An argument value whose shape this module cannot tell: build per request."""


def shape(value: Any) -> Any:
    """What of an argument value can change a statement's text: None or not, true or
    false, an enum's member, a list's length, an input's fields; not a string's or a
    number's value (only whether it is empty or zero)."""
    if value is None or isinstance(value, bool | Enum):
        return value
    if isinstance(value, str | int | float):
        return (type(value), bool(value))
    if isinstance(value, list | tuple):
        return (list, tuple(shape(v) for v in value))
    if isinstance(value, dict):
        return (dict, tuple((k, shape(v)) for k, v in value.items()))
    if is_dataclass(value) and not isinstance(value, type):
        return (type(value), tuple(shape(getattr(value, f.name)) for f in fields(value)))
    try:
        hash(value)
    except TypeError:
        raise Unshaped(type(value).__name__) from None
    return (type(value), value)


# ---------------------------------------------------------------- connections


@dataclass
class Source:
    """Rows a connection pages over: FROM ... WHERE ..., with its order and node builder."""

    from_: str
    where: list[str]
    order: list[tuple[str, bool]]  # (expression, descending)
    row: str  # the alias the node builder reads
    # A cheaper FROM for the page itself, given the bound row limit and the text that
    # reads its rows (for the columns it needs): counts need every row, a page only
    # the first few.
    page_from: Callable[[str, str], str] | None = None


def _page_size(sql: Sql, args: dict[str, Any]) -> int:
    if args.get("after") is not None or args.get("before") is not None \
            or args.get("last") is not None:
        raise NotCompilable("cursor paging runs on the batch tier")
    first = args.get("first")
    first = DEFAULT_PAGE_SIZE if first is None else first
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise NotCompilable("out-of-range first: the reference reports it")
    return int(first)


def connection(sql: Sql, plan: ObjectPlan, source: Source, field_: FieldPlan,
               node: Callable[[Sql, ObjectPlan, str], str]) -> str:
    def size(arg: Arguments) -> int:
        return _page_size(sql, arg(field_))

    sql.check(size)
    limit = _page_limit(sql, field_, size)
    where = " AND ".join(source.where) or "TRUE"
    order_terms = [f"{expr}{' DESC' if desc else ''}" for expr, desc in source.order]
    base = f"FROM {source.from_} WHERE {where}"
    pairs: list[tuple[str, str]] = []
    for f in plan.fields:
        if f.name == "__typename":
            pairs.append((f.key, f"'{plan.type_name}'"))
        elif f.name == "totalCount":
            pairs.append((f.key, f"(SELECT count(*) {base})"))
        elif f.name == "nodes":
            assert f.child is not None
            pairs.append((f.key, _page_array(sql, source, base, order_terms, limit,
                                             node(sql, f.child, source.row))))
        elif f.name == "edges":
            assert f.child is not None
            pairs.append((f.key, _page_array(sql, source, base, order_terms, limit,
                                             _edge(sql, f.child, source.row, node))))
        elif f.name == "pageInfo":
            assert f.child is not None
            pairs.append((f.key, _page_info(sql, f.child, base, order_terms, limit)))
        else:
            raise NotCompilable(f.name)
    return sql.obj(pairs)


def _page_limit(sql: Sql, field_: FieldPlan, size: Getter) -> str:
    """The page size in the statement: written out where the document writes it (or
    leaves it to the default), bound where a variable gives it. PostgreSQL plans a
    prepared statement for its parameters' values until a plan for any values costs no
    more; with the page size unknown it kept planning the benchmark's Q4 anew, and ran
    it a third slower than with `LIMIT 50` written out."""
    arguments = field_.node.arguments if field_.node is not None else ()
    if any(a.name.value == "first" and not isinstance(a.value, IntValueNode | NullValueNode)
           for a in arguments):
        return sql.bind(size)
    return str(size(sql.arguments))


def _page_array(sql: Sql, source: Source, base: str, order_terms: list[str], limit: str,
                value: str) -> str:
    keys = ", ".join(f"{t.split(' DESC')[0]} AS k{i}" for i, t in enumerate(order_terms))
    if source.page_from is not None:
        base = f"FROM {source.page_from(limit, value + keys)}"
    inner = f"SELECT {value} AS o, {keys} {base} ORDER BY {', '.join(order_terms)} LIMIT {limit}"
    outer_order = ", ".join(
        f"x.k{i}{' DESC' if t.endswith(' DESC') else ''}" for i, t in enumerate(order_terms))
    return sql.array(inner, outer_order)


def _edge(sql: Sql, plan: ObjectPlan, row: str,
          node: Callable[[Sql, ObjectPlan, str], str]) -> str:
    pairs = []
    for f in plan.fields:
        if f.name == "node":
            assert f.child is not None
            pairs.append((f.key, node(sql, f.child, row)))
        elif f.name == "__typename":
            pairs.append((f.key, f"'{plan.type_name}'"))
        else:
            raise NotCompilable("cursors are encoded by the batch tier")
    return sql.obj(pairs)


def _page_info(sql: Sql, plan: ObjectPlan, base: str, order_terms: list[str],
               limit: str) -> str:
    pairs = []
    for f in plan.fields:
        if f.name == "hasNextPage":
            more = (f"EXISTS (SELECT 1 {base} ORDER BY {', '.join(order_terms)} "
                    f"LIMIT 1 OFFSET {limit})")
            pairs.append((f.key, sql.boolean(more)))
        elif f.name == "hasPreviousPage":
            pairs.append((f.key, sql.boolean("1 = 0")))
        elif f.name == "__typename":
            pairs.append((f.key, "'PageInfo'"))
        else:
            raise NotCompilable("cursors are encoded by the batch tier")
    return sql.obj(pairs)


# ---------------------------------------------------------------- filters


def _period(value: str) -> tuple[dt.date, dt.date]:
    try:
        return parse_partial_date(value)
    except PartialDateError:
        raise NotCompilable("bad date: the reference reports it") from None


def _sector_id(sql: Sql, slug: Getter) -> str:
    return f"(SELECT s.id FROM sectors s WHERE s.slug = {sql.bind(slug)})"


def _country_id(sql: Sql, code: Getter) -> str:
    return (f"(SELECT c.id FROM countries c WHERE c.code = "
            f"{sql.bind(lambda arg: code(arg).strip().upper())})")


def _like_pattern(text: str) -> str:
    key = search_key(text)
    return "%" + key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def partnership_filters(sql: Sql, spec_of: Getter, row: str, partner: str | None,
                        sector_joined: bool = False) -> list[str]:
    """SQL conditions on partnership row `row`, given how a request's filter is found
    (`spec_of`); `partner` is the far end's id column. `sector_joined`: the caller
    joined the sector's rows itself (root_field)."""
    spec = spec_of(sql.arguments)
    if spec is None:
        return []
    out = []
    for column, name in (("kind", "kind"), ("status", "status")):
        members = getattr(spec, name)
        if members:
            # One parameter per member: the list's length is part of the statement's shape.
            values = ", ".join(sql.bind(lambda arg, i=i, name=name:
                                        getattr(spec_of(arg), name)[i].value)
                               for i in range(len(members)))
            out.append(f"{row}.{column} IN ({values})")
    if spec.sector is not None and not sector_joined:
        # IN, not a correlated EXISTS: SQLite then reads the sector's rows from its index
        # once, instead of probing every partnership (PostgreSQL plans both alike).
        sector_id = _sector_id(sql, lambda arg: spec_of(arg).sector)
        out.append(f"{row}.id IN (SELECT fs.partnership_id FROM partnership_sectors fs "
                   f"WHERE fs.sector_id = {sector_id})")
    if spec.country is not None:
        def country(arg: Arguments) -> str:
            return spec_of(arg).country

        if partner:
            out.append(f"EXISTS (SELECT 1 FROM places fc WHERE fc.id = {partner} AND "
                       f"fc.country_id = {_country_id(sql, country)})")
        else:
            # From the indexes, as db.queries.partnerships_in_country: a correlated test
            # of each partnership's two ends scans the whole table.
            ends = " UNION ALL ".join(
                f"SELECT fe.id FROM partnerships fe JOIN places fc ON fc.id = fe.{end} "
                f"WHERE fc.country_id = {_country_id(sql, country)}"
                for end in ("place_a_id", "place_b_id"))
            out.append(f"{row}.id IN ({ends})")
    if getattr(spec, "city", None) is not None:
        def pk(arg: Arguments) -> int:
            return decode_id(spec_of(arg).city, "City", "city")

        out.append(f"({row}.place_a_id = {sql.bind(pk)} OR {row}.place_b_id = {sql.bind(pk)})")
    if getattr(spec, "since_from", None) is not None:
        since_from = sql.bind(lambda arg: _period(spec_of(arg).since_from)[0])
        out.append(f"{row}.since_first >= {since_from}")
    if getattr(spec, "since_to", None) is not None:
        since_to = sql.bind(lambda arg: _period(spec_of(arg).since_to)[1])
        out.append(f"{row}.since_first <= {since_to}")
    if spec.active_on is not None:
        planned = ", ".join(sql.bind(_constant(s.value)) for s in NOT_YET_IN_FORCE)
        last = sql.bind(lambda arg: _period(spec_of(arg).active_on)[1])
        first = sql.bind(lambda arg: _period(spec_of(arg).active_on)[0])
        # An unknown start is not "always": such a partnership is in force at no date.
        out.append(f"{row}.status NOT IN ({planned}) AND {row}.since_first IS NOT NULL AND "
                   f"{row}.since_first <= {last} AND ({row}.until_last IS NULL OR "
                   f"{row}.until_last >= {first})")
    return out


def city_filters(sql: Sql, spec_of: Getter, row: str) -> list[str]:
    spec = spec_of(sql.arguments)
    if spec is None:
        return []
    if spec.has_partner_in is not None or spec.sector is not None or spec.near is not None:
        raise NotCompilable("this city filter runs on the batch tier")
    out = []
    if spec.country is not None:
        out.append(f"{row}.country_id = {_country_id(sql, lambda arg: spec_of(arg).country)}")
    if spec.level is not None:
        out.append(f"{row}.level = {sql.bind(lambda arg: spec_of(arg).level)}")
    if spec.min_population is not None:
        out.append(f"{row}.population >= {sql.bind(lambda arg: spec_of(arg).min_population)}")
    if spec.name_contains:
        pattern = sql.bind(lambda arg: _like_pattern(spec_of(arg).name_contains))
        out.append(f"EXISTS (SELECT 1 FROM place_search_keys fk WHERE fk.place_id = {row}.id "
                   f"AND fk.key LIKE {pattern} ESCAPE '\\')")
    return out


# ---------------------------------------------------------------- object builders


def _scalars(row: str, mapping: dict[str, str]) -> Callable[[Sql, FieldPlan], str | None]:
    def pick(sql: Sql, f: FieldPlan) -> str | None:
        column = mapping.get(f.name)
        return f"{row}.{column}" if column else None

    return pick


def build(sql: Sql, plan: ObjectPlan, row: str) -> str:
    """The JSON object for `plan` over the row aliased `row`."""
    builder = OBJECTS.get(plan.type_name)
    if builder is None:
        raise NotCompilable(plan.type_name)
    pairs = []
    for f in plan.fields:
        if f.name == "__typename":
            pairs.append((f.key, f"'{plan.type_name}'"))
        else:
            pairs.append((f.key, builder(sql, f, row)))
    return sql.obj(pairs)


def _place(sql: Sql, plan: ObjectPlan | None, id_column: str) -> str:
    assert plan is not None
    r = sql.alias("pl")
    return sql.embed(f"SELECT {build(sql, plan, r)} FROM places {r} WHERE {r}.id = {id_column}")


CITY_COLUMNS = {"name": "name", "localName": "local_name", "level": "level",
                "latitude": "latitude", "longitude": "longitude", "population": "population",
                "region": "region", "wikidataId": "wikidata_id", "partnerCount": "partner_count"}
PARTNERSHIP_COLUMNS = {"kind": "kind", "status": "status", "since": "since", "until": "until",
                       "description": "description", "distanceKm": "distance_km"}


def _partner_source(sql: Sql, row: str, f: FieldPlan, as_partner: bool) -> Source:
    if sql.arguments(f).get("include_subdivisions"):
        raise NotCompilable("includeSubdivisions runs on the batch tier")

    def spec_of(arg: Arguments) -> Any:
        return arg(f).get("filter")

    # The reference's checks (a malformed country code, say): errors go to its answer.
    checked = partner_filter_spec if as_partner else partnership_filter_spec
    sql.check(lambda arg: checked(spec_of(arg)))
    e = sql.alias("ps")
    other = f"CASE WHEN {e}.place_a_id = {row}.id THEN {e}.place_b_id ELSE {e}.place_a_id END"
    from_ = f"partnerships {e}"
    if as_partner:
        # The far end joined in, not fetched by a subquery per row: one nesting level
        # less, which keeps deep documents within SQLite's parser stack.
        from_ += f" JOIN places {e}o ON {e}o.id = {other}"

    def page_from(limit: str, reads: str) -> str:
        """Each end's first rows from its own (place, id) index, merged: a hub's page
        costs its size, not its degree. Only the columns `reads` uses are carried
        through the merge (SQLite copies every column of `*` into each step: Q2 and
        Q3 of the benchmark cost a fifth more with them)."""
        used = {"id", *re.findall(rf"\b{e}\.(\w+)", reads)} - {"other_id"}
        arms = []
        for mine, theirs in (("place_a_id", "place_b_id"), ("place_b_id", "place_a_id")):
            a = sql.alias("pa")
            filters = partnership_filters(sql, spec_of, a,
                                          f"{a}.{theirs}" if as_partner else None)
            where = " AND ".join([f"{a}.{mine} = {row}.id", *filters])
            columns = ", ".join(f"{a}.{column}" for column in sorted(used))
            arms.append(f"SELECT * FROM (SELECT {columns}, {a}.{theirs} AS other_id "
                        f"FROM partnerships {a} WHERE {where} ORDER BY {a}.id LIMIT {limit}) "
                        f"{a}x")
        # Merged and cut to the page here, before the outer select computes each row's
        # nested fields: else both arms' rows would be built and half thrown away.
        joined = (f"(SELECT * FROM ({' UNION ALL '.join(arms)}) {e}u "
                  f"ORDER BY {e}u.id LIMIT {limit}) {e}")
        return joined + (f" JOIN places {e}o ON {e}o.id = {e}.other_id" if as_partner else "")

    return Source(
        from_=from_,
        where=[f"({e}.place_a_id = {row}.id OR {e}.place_b_id = {row}.id)",
               *partnership_filters(sql, spec_of, e, other if as_partner else None)],
        order=[(f"{e}.id", False)], row=e, page_from=page_from)


def city_field(sql: Sql, f: FieldPlan, row: str) -> str:
    if f.name == "id":
        return sql.global_id("City", f"{row}.id")
    if f.name in CITY_COLUMNS:
        return f"{row}.{CITY_COLUMNS[f.name]}"
    if f.name == "aliases":
        return sql.scalar_array(
            f"SELECT a.alias AS o, a.position AS k FROM place_aliases a "
            f"WHERE a.place_id = {row}.id ORDER BY a.position", "x.k")
    if f.name == "country":
        assert f.child is not None
        c = sql.alias("co")
        return sql.embed(f"SELECT {build(sql, f.child, c)} FROM countries {c} "
                         f"WHERE {c}.id = {row}.country_id")
    if f.name == "parent":
        return _place(sql, f.child, f"{row}.parent_id")
    if f.name == "organizations":
        assert f.child is not None
        o = sql.alias("og")
        return sql.array(f"SELECT {build(sql, f.child, o)} AS o, {o}.sort_key AS k0, "
                         f"{o}.id AS k1 FROM organizations {o} WHERE {o}.place_id = {row}.id "
                         f"ORDER BY {o}.sort_key, {o}.id", "x.k0, x.k1")
    assert f.child is not None
    if f.name == "children":
        c = sql.alias("ch")
        source = Source(f"places {c}", [f"{c}.parent_id = {row}.id"],
                        [(f"{c}.sort_key", False), (f"{c}.id", False)], c)
        return connection(sql, f.child, source, f, build)
    if f.name in ("partners", "partnerships"):
        source = _partner_source(sql, row, f, as_partner=f.name == "partners")
        return connection(sql, f.child, source, f,
                          _partner if f.name == "partners" else build)
    raise NotCompilable(f"City.{f.name}")


def _partner(sql: Sql, plan: ObjectPlan, row: str) -> str:
    """A partner over partnership row `row` joined with the far end as `<row>o`."""
    pairs = []
    for f in plan.fields:
        if f.name == "__typename":
            pairs.append((f.key, "'Partner'"))
        elif f.name == "city":
            assert f.child is not None
            pairs.append((f.key, build(sql, f.child, f"{row}o")))
        elif f.name == "partnership":
            assert f.child is not None
            pairs.append((f.key, build(sql, f.child, row)))
        elif f.name in PARTNERSHIP_COLUMNS and f.name in ("kind", "status", "since",
                                                          "distanceKm"):
            pairs.append((f.key, f"{row}.{PARTNERSHIP_COLUMNS[f.name]}"))
        elif f.name == "sectors":
            pairs.append((f.key, _sectors(sql, f.child, row)))
        else:
            raise NotCompilable(f"Partner.{f.name}")
    return sql.obj(pairs)


def _sectors(sql: Sql, plan: ObjectPlan | None, row: str) -> str:
    assert plan is not None
    s = sql.alias("se")
    return sql.array(
        f"SELECT {build(sql, plan, s)} AS o, {s}.slug AS k FROM partnership_sectors j "
        f"JOIN sectors {s} ON {s}.id = j.sector_id WHERE j.partnership_id = {row}.id "
        f"ORDER BY {s}.slug", "x.k")


def partnership_field(sql: Sql, f: FieldPlan, row: str) -> str:
    if f.name == "id":
        return sql.global_id("Partnership", f"{row}.id")
    if f.name in PARTNERSHIP_COLUMNS:
        return f"{row}.{PARTNERSHIP_COLUMNS[f.name]}"
    assert f.child is not None
    if f.name == "cities":
        # Always the pair's two places, in id order (place_a_id < place_b_id is a
        # constraint): two look-ups by key. A subquery that found, sorted and joined
        # them cost the benchmark's Q4 statement about 5 % more.
        ends = []
        for end in ("place_a_id", "place_b_id"):
            p = sql.alias("pc")
            ends.append(f"(SELECT {build(sql, f.child, p)} FROM places {p} "
                        f"WHERE {p}.id = {row}.{end})")
        return sql.pair(*ends)
    if f.name == "sectors":
        return _sectors(sql, f.child, row)
    if f.name == "milestones":
        m = sql.alias("mi")
        return sql.array(
            f"SELECT {build(sql, f.child, m)} AS o, coalesce({m}.date_first, "
            f"{sql.date(_LATEST)}) AS k0, {m}.id AS k1 FROM milestones {m} "
            f"WHERE {m}.partnership_id = {row}.id ORDER BY k0, k1", "x.k0, x.k1")
    if f.name == "organizations":
        o = sql.alias("og")
        return sql.array(
            f"SELECT {build(sql, f.child, o)} AS o, {o}.sort_key AS k0, {o}.id AS k1 "
            f"FROM partnership_organizations j JOIN organizations {o} ON {o}.id = "
            f"j.organization_id WHERE j.partnership_id = {row}.id ORDER BY {o}.sort_key, "
            f"{o}.id", "x.k0, x.k1")
    if f.name == "sources":
        s = sql.alias("so")
        return sql.array(
            f"SELECT {build(sql, f.child, s)} AS o, j.position AS k FROM partnership_sources j "
            f"JOIN sources {s} ON {s}.id = j.source_id WHERE j.partnership_id = {row}.id "
            f"ORDER BY j.position", "x.k")
    raise NotCompilable(f"Partnership.{f.name}")


def country_field(sql: Sql, f: FieldPlan, row: str) -> str:
    if f.name == "id":
        return sql.global_id("Country", f"{row}.id")
    if f.name in ("code", "name"):
        return f"{row}.{f.name}"
    raise NotCompilable(f"Country.{f.name}")


def sector_field(sql: Sql, f: FieldPlan, row: str) -> str:
    if f.name == "id":
        return sql.global_id("Sector", f"{row}.id")
    if f.name in ("slug", "name"):
        return f"{row}.{f.name}"
    if f.name == "partnershipCount":
        return f"(SELECT count(*) FROM partnership_sectors j WHERE j.sector_id = {row}.id)"
    raise NotCompilable(f"Sector.{f.name}")


def milestone_field(sql: Sql, f: FieldPlan, row: str) -> str:
    if f.name in ("date", "kind", "description"):
        return f"{row}.{f.name}"
    if f.name == "source":
        assert f.child is not None
        s = sql.alias("so")
        return sql.embed(f"SELECT {build(sql, f.child, s)} FROM sources {s} "
                         f"WHERE {s}.id = {row}.source_id")
    raise NotCompilable(f"Milestone.{f.name}")


def source_field(sql: Sql, f: FieldPlan, row: str) -> str:
    columns = {"url": "url", "title": "title", "publisher": "publisher",
               "publishedOn": "published_on", "withdrawnOn": "withdrawn_on",
               "license": "license"}
    if f.name in columns:
        return f"{row}.{columns[f.name]}"
    raise NotCompilable(f"Source.{f.name}")


def organization_field(sql: Sql, f: FieldPlan, row: str) -> str:
    if f.name == "id":
        return sql.global_id("Organization", f"{row}.id")
    if f.name in ("name", "kind"):
        return f"{row}.{f.name}"
    if f.name == "city":
        return _place(sql, f.child, f"{row}.place_id")
    raise NotCompilable(f"Organization.{f.name}")


OBJECTS: dict[str, Callable[[Sql, FieldPlan, str], str]] = {
    "City": city_field, "Partnership": partnership_field, "Country": country_field,
    "Sector": sector_field, "Milestone": milestone_field, "Source": source_field,
    "Organization": organization_field,
}

# ---------------------------------------------------------------- root fields

PLACE_ORDER = {
    ("NAME", "ASC"): [("sort_key", False), ("id", False)],
    ("NAME", "DESC"): [("sort_key", True), ("id", True)],
    ("POPULATION", "ASC"): [(f"coalesce(population, {2**62})", False), ("id", False)],
    ("POPULATION", "DESC"): [("coalesce(population, -1)", True), ("id", False)],
    ("PARTNER_COUNT", "ASC"): [("partner_count", False), ("sort_key", False), ("id", False)],
    ("PARTNER_COUNT", "DESC"): [("partner_count", True), ("sort_key", False), ("id", False)],
}


def _qualified(row: str, expression: str) -> str:
    if expression.startswith("coalesce("):
        inner = expression[len("coalesce("):]
        return f"coalesce({row}.{inner}"
    return f"{row}.{expression}"


def root_field(sql: Sql, f: FieldPlan) -> str:
    """A scalar subquery producing the JSON of one root field."""
    args = sql.arguments(f)
    child = f.child
    if f.name == "city":
        if args.get("id") is None:
            raise NotCompilable("city by name")
        assert child is not None
        r = sql.alias("r")
        pk = sql.bind(lambda arg: decode_id(arg(f)["id"], "City"))
        return sql.embed(f"SELECT {build(sql, child, r)} FROM places {r} WHERE {r}.id = {pk}")
    if f.name == "partnership":
        assert child is not None
        r = sql.alias("r")
        pk = sql.bind(lambda arg: decode_id(arg(f)["id"], "Partnership"))
        return sql.embed(f"SELECT {build(sql, child, r)} FROM partnerships {r} "
                         f"WHERE {r}.id = {pk}")
    if f.name == "cities":
        assert child is not None
        key = order_key(args.get("order_by"), "NAME")
        r = sql.alias("r")

        def city_spec(arg: Arguments) -> Any:
            return city_filter_spec(arg(f).get("filter"))

        sql.check(city_spec)
        source = Source(f"places {r}", city_filters(sql, city_spec, r),
                        [(_qualified(r, e), d) for e, d in PLACE_ORDER[key]], r)
        return connection(sql, child, source, f, build)
    if f.name == "partnerships":
        assert child is not None

        def spec_of(arg: Arguments) -> Any:
            return arg(f).get("filter")

        sql.check(lambda arg: partnership_filter_spec(spec_of(arg)))
        key = order_key(args.get("order_by"), "ID")
        r = sql.alias("r")
        orders = {
            ("ID", "ASC"): [(f"{r}.id", False)],
            ("SINCE", "ASC"): [(f"coalesce({r}.since_first, {sql.date(_LATEST)})", False),
                               (f"{r}.id", False)],
            ("SINCE", "DESC"): [(f"coalesce({r}.since_first, {sql.date(_EARLIEST)})", True),
                                (f"{r}.id", False)],
            ("DISTANCE", "ASC"): [(f"coalesce({r}.distance_km, 1e9)", False),
                                  (f"{r}.id", False)],
            ("DISTANCE", "DESC"): [(f"coalesce({r}.distance_km, -1.0)", True),
                                   (f"{r}.id", False)],
        }
        spec = args.get("filter")
        if spec is not None and spec.sector is not None and key == ("ID", "ASC"):
            # The sector's rows in partnership order, from its (sector, partnership)
            # index: the page reads its first rows only. With `id IN (...)` SQLite built
            # the sector's whole list first (Q4 of the benchmark: 0.30 -> 0.03 ms for the
            # page, and a fifth off the count).
            j = sql.alias("js")
            where = [f"{j}.sector_id = {_sector_id(sql, lambda arg: spec_of(arg).sector)}",
                     *partnership_filters(sql, spec_of, r, None, sector_joined=True)]
            source = Source(f"partnership_sectors {j} JOIN partnerships {r} "
                            f"ON {r}.id = {j}.partnership_id", where,
                            [(f"{j}.partnership_id", False)], r)
        else:
            source = Source(f"partnerships {r}", partnership_filters(sql, spec_of, r, None),
                            orders[key], r)
        return connection(sql, child, source, f, build)
    if f.name == "sectors":
        assert child is not None
        s = sql.alias("se")
        return sql.array(f"SELECT {build(sql, child, s)} AS o, {s}.slug AS k FROM sectors {s} "
                         f"ORDER BY {s}.slug", "x.k")
    raise NotCompilable(f"Query.{f.name}")


def statement(sql: Sql, root: ObjectPlan) -> str:
    """SELECT one column per root field, each the JSON text of that field."""
    columns = []
    for f in root.fields:
        if f.name == "__typename":
            columns.append("'Query'")
        elif sql.pg:
            # As text: the driver would otherwise decode the JSON only for us to re-encode it.
            columns.append(f"CAST({root_field(sql, f)} AS text)")
        else:
            columns.append(root_field(sql, f))
    return "SELECT " + ", ".join(columns)
