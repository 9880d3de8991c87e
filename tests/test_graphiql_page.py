"""GraphiQL's page: `lang`, scripts from the server, and example tabs that are in
docs/queries.md word for word and that run without errors."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from citylinks.explorer.graphiql import EXAMPLE_TABS

from tests.conftest import REPO, gql


async def test_page_has_lang_local_assets_and_the_example_tabs(client: httpx.AsyncClient) -> None:
    page = (await client.get("/graphql", headers={"Accept": "text/html"})).text
    assert '<html lang="en">' in page
    assert "unpkg.com" not in page
    tabs = json.loads(re.search(r"window\.CITYLINKS_TABS = (.*?);\n", page, re.S)[1])
    assert [t["query"] for t in tabs] == [query for _, query, _ in EXAMPLE_TABS]
    assert "visiblePlugin: explorerPlugin" in page


async def test_every_example_tab_is_documented_and_runs(client: httpx.AsyncClient) -> None:
    docs = (REPO / "docs" / "queries.md").read_text(encoding="utf-8")
    page = (await client.get("/graphql", headers={"Accept": "text/html"})).text
    tabs: list[dict[str, Any]] = json.loads(
        re.search(r"window\.CITYLINKS_TABS = (.*?);\n", page, re.S)[1])
    for tab in tabs:
        assert tab["query"] in docs
        variables = json.loads(tab.get("variables") or "{}")
        body = await gql(client, tab["query"], variables)
        assert "errors" not in body, (tab["query"][:40], body)
