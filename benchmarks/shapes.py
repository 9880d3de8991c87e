"""The four query shapes of the benchmark, as the load generator sends them to both servers."""

from __future__ import annotations

import base64

SHAPES: dict[str, str] = {
    # One city and its first 50 partners, each with its country and sectors.
    "Q1": (
        "query Q1($id: ID!) { city(id: $id) { name partners(first: 50) { nodes { "
        "city { name country { code } } kind since sectors { name } } } } }"
    ),
    # A country's first 100 places by name, 20 partners each with their sectors.
    "Q2": (
        "query Q2($cc: String!) { cities(first: 100, filter: {country: $cc}, "
        "orderBy: {field: NAME}) { nodes { name partners(first: 20) { nodes { "
        "city { name } sectors { name } } } } } }"
    ),
    # A hub, its 20 first partners, and theirs: up to 400 partners at the second level.
    "Q3": (
        "query Q3($hub: ID!) { city(id: $hub) { partners(first: 20) { nodes { city { "
        "name partners(first: 20) { nodes { city { name } sectors { name } } } } } } } }"
    ),
    # A filtered list with its total.
    "Q4": (
        "query Q4($s: String!) { partnerships(first: 50, filter: {sector: $s, "
        'sinceFrom: "2000"}) { totalCount nodes { cities { name } since } } }'
    ),
}

# The one variable of each shape, and where its values come from (see run.py).
VARIABLE: dict[str, str] = {"Q1": "id", "Q2": "cc", "Q3": "hub", "Q4": "s"}
SINCE_FROM = "2000-01-01"


def city_id(pk: int) -> str:
    """A City's global id as citylinks writes it: base64 of "City:<pk>" (Relay)."""
    return base64.b64encode(f"City:{pk}".encode()).decode()


def city_pk(global_id: str) -> int | None:
    """The primary key in a City global id; None when it is not one."""
    try:
        kind, _, pk = base64.b64decode(global_id, validate=True).decode().partition(":")
        return int(pk) if kind == "City" and pk.isdigit() else None
    except (ValueError, UnicodeDecodeError):
        return None
