"""A small world made for paging, and every connection of the schema over it.

The places are in Nauru (NR) and named "Qwerty ..." so filters pick them out of
whatever else the store holds. It has what cursors trip on: nulls in every sort
key, ties, a province whose subdivisions are partners of each other (so with
`includeSubdivisions` one partnership shows once per end), sectors and
organizations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.builders import document, partnership, place

HOME = "NR"
FAR_COUNTRIES = ["FR", "JP", "US"]
SECTORS = ["education", "culture", "water", "trade"]


def paging_world() -> dict[str, Any]:
    places = [place("prov", "Qwerty Province", HOME, level="PROVINCE", population=12000,
                    latitude=-0.53, longitude=166.9)]
    for i in range(1, 6):
        places.append(place(
            f"town{i}", f"Qwerty Town {i}", HOME, parent="prov",
            population=None if i % 2 else 1000 * i,
            latitude=None if i == 4 else -0.5 - i / 100, longitude=None if i == 4 else 166.9))
    for j in range(1, 9):
        places.append(place(f"far{j}", f"Qwerty Far {j % 4}", FAR_COUNTRIES[j % 3],
                            population=None if j % 3 == 0 else 50000,
                            latitude=None if j == 5 else 40 + j, longitude=2.0 + j))
    organizations = [{"ref": f"org{k}", "name": f"Qwerty Org {k % 3}", "kind": "GOVERNMENT",
                      "place": "prov" if k % 2 else f"town{k}"} for k in range(1, 6)]
    links = []
    pairs = [("prov", "far1"), ("prov", "far2"), ("prov", "town3"), ("town1", "town2")]
    pairs += [(f"town{i}", f"far{(i + k) % 8 + 1}") for i in range(1, 6) for k in range(3)]
    for n, (a, b) in enumerate(pairs, start=1):
        links.append(partnership(
            a, b, kind=["SISTER_CITY", "FRIENDSHIP", "COOPERATION"][n % 3],
            since=None if n % 4 == 0 else f"{1990 + n % 5}",
            sectors=[SECTORS[n % 4], SECTORS[(n + 1) % 4]] if n % 5 else [],
            organizations=[f"org{n % 5 + 1}"] if n % 2 else []))
    return document(places, links, organizations)


@dataclass(frozen=True)
class ConnectionCase:
    """One connection field with fixed arguments; `path` leads from data to it."""

    name: str
    document: str
    path: tuple[str, ...]
    variables: dict[str, Any]


NODE = {
    "City": "id name",
    "Partnership": "id since distanceKm",
    "Partner": "city { id name } partnership { id }",
    "Organization": "id name",
}
PAGE_VARIABLES = "$first: Int, $after: String, $last: Int, $before: String"
PAGE_ARGUMENTS = "first: $first, after: $after, last: $last, before: $before"
PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"


def _case(name: str, path: tuple[str, ...], node: str, outer: str, inner: str,
          extra_variables: str = "", variables: dict[str, Any] | None = None) -> ConnectionCase:
    """`outer` wraps the connection field; `inner` is its arguments besides the paging ones."""
    selection = (f"{path[-1]}({PAGE_ARGUMENTS}{', ' + inner if inner else ''}) "
                 f"{{ totalCount edges {{ cursor node {{ {NODE[node]} }} }} {PAGE_INFO} }}")
    body = outer.replace("@", selection)
    return ConnectionCase(name, f"query Page({PAGE_VARIABLES}{extra_variables}) {{ {body} }}",
                          path, variables or {})


def connection_cases(province_id: str) -> list[ConnectionCase]:
    """Every connection field in the schema, with each ordering and subdivision setting."""
    cases = []
    for field in ("NAME", "POPULATION", "PARTNER_COUNT"):
        for direction in ("ASC", "DESC"):
            cases.append(_case(
                f"cities-{field}-{direction}".lower(), ("cities",), "City", "@",
                f'filter: {{nameContains: "qwerty"}}, '
                f"orderBy: {{field: {field}, direction: {direction}}}"))
    cases.append(_case("partnerships", ("partnerships",), "Partnership", "@",
                       f'filter: {{country: "{HOME}"}}'))
    for field in ("SINCE", "DISTANCE"):
        for direction in ("ASC", "DESC"):
            cases.append(_case(
                f"partnerships-{field}-{direction}".lower(), ("partnerships",), "Partnership",
                "@", f'filter: {{country: "{HOME}"}}, '
                f"orderBy: {{field: {field}, direction: {direction}}}"))
    cases.append(_case("organizations", ("organizations",), "Organization", "@",
                       'filter: {nameContains: "qwerty"}'))
    cases.append(_case("country-cities", ("country", "cities"), "City",
                       f'country(code: "{HOME}") {{ @ }}', ""))
    city = "city(id: $city) { @ }"
    cases.append(_case("city-children", ("city", "children"), "City", city, "",
                       ", $city: ID!", {"city": province_id}))
    for field, node in (("partners", "Partner"), ("partnerships", "Partnership")):
        for subdivisions in (False, True):
            cases.append(_case(
                f"city-{field}{'-with-subdivisions' if subdivisions else ''}",
                ("city", field), node, city,
                f"includeSubdivisions: {str(subdivisions).lower()}",
                ", $city: ID!", {"city": province_id}))
    cases.append(_case("sector-partnerships", ("sector", "partnerships"), "Partnership",
                       'sector(slug: "culture") { @ }', f'filter: {{country: "{HOME}"}}'))
    return cases


def dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data[key]
    return data
