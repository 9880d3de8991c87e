"""GraphiQL's page as citylinks serves it: Strawberry's page with its scripts from the package,
a `lang`, the Explorer plugin open, and tabs of this API's example queries (docs/queries.md)."""

from __future__ import annotations

import orjson

CDN = "https://unpkg.com/"
VENDORED = "/explorer/vendor/"

# The examples of docs/queries.md that open as GraphiQL's tabs (a test checks that each is
# there, word for word, and that each runs without errors on the bundled data).
EXAMPLE_TABS: tuple[tuple[str, str, str | None], ...] = (
    ("Partners", """# A place's partners, with sectors and sources
query PlacePartners {
  city(name: "Hai Phong") {
    name localName country { code name }
    partners(first: 10) {
      totalCount
      nodes {
        city { name country { code } }
        kind status since
        sectors { slug name }
        partnership { sources { title publisher url } }
      }
    }
  }
}""", None),
    ("Path", """# The shortest chain of partnerships between two places
query ShortestPath($from: ID!, $to: ID!) {
  path(from: $from, to: $to) {
    hops
    cities { name country { code } }
    partnerships { kind since }
  }
}""", None),
    ("Suggestions", """# Partners a place might look for next, with the API's reasons
query SuggestedPartners($city: ID!) {
  suggestPartners(city: $city, first: 5) {
    city { name country { code } }
    score reasons
    sharedSectors { slug }
  }
}""", None),
    ("Paging", """# A filtered list, a page at a time: pass endCursor as $after for the next page
query PartnershipsPage($after: String) {
  partnerships(first: 10, after: $after, filter: { country: "JP", kind: [SISTER_CITY] }) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { cities { name } since } }
  }
}""", '{"after": null}'),
)


# The places the Path and Suggestions tabs start from, found in the database when the page
# is made (ids are opaque and differ between databases).
EXAMPLE_PLACES = {"from": ("Hai Phong", "VN"), "to": ("Le Havre", "FR"), "city": ("Da Nang", "VN")}


def _variables(title: str, fixed: str | None, ids: dict[str, str | None]) -> str | None:
    if title == "Path":
        return orjson.dumps({"from": ids.get("from"), "to": ids.get("to")}).decode()
    if title == "Suggestions":
        return orjson.dumps({"city": ids.get("city")}).decode()
    return fixed


def _tabs_script(ids: dict[str, str | None]) -> str:
    tabs = []
    for title, query, fixed in EXAMPLE_TABS:
        variables = _variables(title, fixed, ids)
        tabs.append({"query": query, **({"variables": variables} if variables else {})})
    # "</" cannot end the script early: JSON allows "\/".
    return ("<script>window.CITYLINKS_TABS = "
            + orjson.dumps(tabs).decode().replace("</", "<\\/") + ";\n"
            "window.CITYLINKS_FROM_ADDRESS = new URLSearchParams(location.search).has('q');"
            "</script>")


def graphiql_page(strawberry_html: str, ids: dict[str, str | None]) -> str:
    """Strawberry's GraphiQL page, changed where it must be: local assets, `lang`, the example
    tabs on a first visit (GraphiQL keeps a visitor's own tabs after that), the Explorer open."""
    html = strawberry_html.replace(CDN, VENDORED)
    html = html.replace("<html>", '<html lang="en">', 1)
    html = html.replace("</head>", _tabs_script(ids) + "\n</head>", 1)
    # Without a query in the address, the tabs, not Strawberry's welcome comment.
    html = html.replace("parameters.q || EXAMPLE_QUERY", "parameters.q", 1)
    # A query prop makes GraphiQL write it into whichever tab is open, on every change:
    # only a query from the address (a view's "Open in GraphiQL") is passed.
    html = html.replace("          query: query,\n",
                        "          query: window.CITYLINKS_FROM_ADDRESS ? query : undefined,\n", 1)
    html = html.replace(
        "plugins: [explorerPlugin],",
        "plugins: [explorerPlugin],\n          visiblePlugin: explorerPlugin,\n"
        "          defaultTabs: window.CITYLINKS_TABS,", 1)
    return html
