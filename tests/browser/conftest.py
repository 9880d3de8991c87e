"""Fixtures for the explorer's browser tests: `citylinks serve` started for real on the bundled
data, and Debian's Chromium driven by Playwright, watched for console errors and for any
request to another host."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import REPO, LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = REPO / "test-artifacts" / "explorer"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


class Explorer:
    """The server under test: its address, and GraphQL for the facts a test checks against."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.url = server.url

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/graphql",
                              json={"query": query, "variables": variables or {}}, timeout=30)
        body: dict[str, Any] = response.json()
        assert not body.get("errors"), body
        data: dict[str, Any] = body["data"]
        return data

    def city_id(self, name: str, country: str) -> str:
        data = self.graphql("query($n: String!, $c: String) { city(name: $n, country: $c) { id } }",
                            {"n": name, "c": country})
        assert data["city"], f"{name} ({country}) is not in the data"
        return str(data["city"]["id"])

    def place_url(self, name: str, country: str) -> str:
        return f"{self.url}/?place={httpx.QueryParams({'x': self.city_id(name, country)})['x']}"


def start_explorer(db_file: Path, templates: dict[str, str],
                   env: dict[str, str] | None = None) -> LiveServer:
    """`citylinks serve` on a copy of the suite's store with the bundled data (migrated and
    loaded once per session: a first start loading the world takes seconds each time)."""
    shutil.copy(templates["sqlite"], db_file)
    return LiveServer(f"sqlite+aiosqlite:///{db_file}", env=env).start(timeout=120)


@pytest.fixture(scope="session")
def explorer(tmp_path_factory: pytest.TempPathFactory,
             templates: dict[str, str]) -> Iterator[Explorer]:
    """`citylinks serve` on its own SQLite file with the bundled data."""
    server = start_explorer(tmp_path_factory.mktemp("explorer") / "explorer.db", templates)
    try:
        yield Explorer(server)
    finally:
        server.stop()


# One partnership more than the bundled data, so that partners have partners of their own:
# Kitakyushu's friendship city Dalian (since 1979).
EXTRA_CSV = (
    "a_name,a_country,a_wikidata,a_latitude,a_longitude,b_name,b_country,b_wikidata,"
    "b_latitude,b_longitude,kind,status,since,until,sectors,source_url,source_title\n"
    "Kitakyushu,JP,,,,Dalian,CN,,38.914,121.6147,FRIENDSHIP,ACTIVE,1979,,trade;ports-logistics,,"
    "Friendship cities of Kitakyushu\n"
)


@pytest.fixture(scope="module")
def explorer_with_second_degree(tmp_path_factory: pytest.TempPathFactory,
                                templates: dict[str, str]) -> Iterator[Explorer]:
    """A server on the bundled data plus one CSV row imported with `citylinks import`."""
    folder = tmp_path_factory.mktemp("explorer-extra")
    db_file = folder / "explorer.db"
    server = start_explorer(db_file, templates)
    try:
        extra = folder / "extra.csv"
        extra.write_text(EXTRA_CSV, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-m", "citylinks", "import", str(extra), "--format", "csv",
             "--db", f"sqlite+aiosqlite:///{db_file}"],
            capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        yield Explorer(server)
    finally:
        server.stop()


# A rate limit small enough to reach from one page in a few reloads; a window of an hour, so
# that the count does not start again in the middle of the test.
RATE_LIMIT = 3


@pytest.fixture(scope="module")
def explorer_rate_limited(tmp_path_factory: pytest.TempPathFactory,
                          templates: dict[str, str]) -> Iterator[Explorer]:
    """A server on the bundled data that answers RATE_LIMITED (429) after a few requests."""
    folder = tmp_path_factory.mktemp("explorer-limited")
    server = start_explorer(folder / "explorer.db", templates,
                            env={"CITYLINKS_RATE_LIMIT": str(RATE_LIMIT),
                                 "CITYLINKS_RATE_LIMIT_WINDOW": "3600"})
    try:
        yield Explorer(server)
    finally:
        server.stop()


# Module scope, not session: while Playwright's sync API is alive it marks its own event loop
# as running in this thread, and the suite's asyncio tests (which run after these) could not
# start theirs. Each module closes it before the next module's tests.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless; Playwright never downloads a browser of its own."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium "
                    "(apt-get install chromium): the browser tests need it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watch:
    """What a page did that it should not: console errors, uncaught exceptions, requests to
    another host (those are refused, so nothing leaves the machine)."""

    origin: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    graphql_posts: list[dict[str, Any]] = field(default_factory=list)
    expect_failures: bool = False

    def assert_clean(self) -> None:
        assert not self.foreign_requests, f"requests to other hosts: {self.foreign_requests}"
        assert not self.page_errors, f"uncaught errors: {self.page_errors}"
        if not self.expect_failures:
            assert not self.console_errors, f"console errors: {self.console_errors}"


def _open_page(browser: Any, explorer: Explorer,
               viewport: dict[str, int]) -> tuple[Any, Any, Watch]:
    context = browser.new_context(viewport=viewport, base_url=explorer.url,
                                  service_workers="block")
    watch = Watch(origin=explorer.url)
    own = urlsplit(explorer.url)

    def guard(route: Any) -> None:
        parts = urlsplit(route.request.url)
        if parts.scheme in ("data", "blob") or (parts.scheme, parts.netloc) == (own.scheme,
                                                                               own.netloc):
            route.continue_()
        else:
            watch.foreign_requests.append(route.request.url)
            route.abort()

    context.route(re.compile(r".*"), guard)
    page = context.new_page()
    page.set_default_timeout(15_000)

    def on_console(message: Any) -> None:
        if message.type == "error":
            watch.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: watch.page_errors.append(str(error)))

    def on_request(request: Any) -> None:
        if request.method == "POST" and urlsplit(request.url).path == "/graphql":
            watch.graphql_posts.append(request.post_data_json or {})

    page.on("request", on_request)
    return context, page, watch


@pytest.fixture
def watched(chromium: Any, explorer: Explorer) -> Iterator[tuple[Any, Watch]]:
    """A desktop-sized page on the explorer, and its watch, checked after the test."""
    context, page, watch = _open_page(chromium, explorer, DESKTOP)
    yield page, watch
    context.close()
    watch.assert_clean()


@pytest.fixture
def page(watched: tuple[Any, Watch]) -> Any:
    return watched[0]


@pytest.fixture
def phone(chromium: Any, explorer: Explorer) -> Iterator[Any]:
    """A 390-pixel-wide page, as on a phone."""
    context, page, watch = _open_page(chromium, explorer, PHONE)
    yield page
    context.close()
    watch.assert_clean()


@pytest.fixture
def open_page(chromium: Any) -> Iterator[Any]:
    """Open watched pages on any explorer server; each is checked when the test ends."""
    opened: list[tuple[Any, Watch]] = []

    def factory(explorer: Explorer, viewport: dict[str, int] = DESKTOP) -> tuple[Any, Watch]:
        context, page, watch = _open_page(chromium, explorer, viewport)
        opened.append((context, watch))
        return page, watch

    yield factory
    for context, watch in opened:
        context.close()
        watch.assert_clean()


def screenshot(page: Any, name: str, *, full_page: bool = True, locator: Any = None) -> Path:
    """Save a screenshot to test-artifacts/explorer/ (kept by CI, looked at by people)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if locator is not None:
        # the sticky header would cover the top of a part scrolled into view
        page.add_style_tag(content=".site-header { position: static; }")
        locator.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=full_page)
    return path
