"""The explorer (`GET /`) in a real headless Chromium, against `citylinks serve` on the bundled
data, found by accessible roles and names as a person (or a screen reader) finds things."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, RATE_LIMIT, Explorer, Watch, screenshot

pytestmark = pytest.mark.browser

PARTNERS = """
query Partners($id: ID!) {
  city(id: $id) {
    name latitude longitude
    partners(first: 100, includeSubdivisions: true) {
      nodes {
        city { id name latitude longitude }
        partnership { cities { id latitude longitude } }
      }
    }
  }
}
"""
PARTNER_COUNT = """query ($id: ID!) { city(id: $id) { partners(first: 0) { totalCount } } }"""
PARTNER_COUNT_DEEP = """query ($id: ID!) { city(id: $id) {
  partners(first: 0, includeSubdivisions: true) { totalCount } } }"""

SEARCH = re.compile("search", re.IGNORECASE)


def search_box(page: Any) -> Any:
    return page.get_by_role("combobox", name=SEARCH)


def heading(page: Any) -> Any:
    return page.get_by_role("heading", level=1)


def open_place_by_search(page: Any, text: str, option: str) -> None:
    box = search_box(page)
    box.fill(text)
    page.get_by_role("option", name=re.compile(option)).first.click()


def partners_section(page: Any) -> Any:
    return page.get_by_role("region", name=re.compile("^Partners"))


def partner_card(page: Any, name: str) -> Any:
    return partners_section(page).get_by_role("listitem").filter(
        has=page.get_by_role("heading", name=re.compile(name)))


def world_map(page: Any) -> Any:
    return page.get_by_role("img", name=re.compile("map", re.IGNORECASE))


# --- search ----------------------------------------------------------------------------


def test_search_as_you_type_finds_hai_phong_without_accents(page: Any) -> None:
    page.goto("/")
    expect(heading(page)).to_be_visible()

    search_box(page).press_sequentially("hai phong", delay=30)

    # the city itself, not a place in its province ("Hải Dương, Hải Phòng · VN")
    option = page.get_by_role("option", name=re.compile("^Hai Phong"))
    expect(option).to_be_visible()
    expect(option).to_contain_text("Hải Phòng")
    expect(option).to_contain_text("City in Vietnam")
    expect(search_box(page)).to_have_attribute("aria-expanded", "true")
    screenshot(page, "search-hai-phong", full_page=False)

    option.click()
    expect(heading(page)).to_contain_text("Hai Phong")
    expect(heading(page)).to_contain_text("Hải Phòng")
    assert "place=" in page.url


def test_search_tells_same_name_places_apart_by_level_and_country(page: Any) -> None:
    page.goto("/")
    search_box(page).fill("KYOTO")

    options = page.get_by_role("option")
    expect(options).to_have_count(2)
    city = page.get_by_role("option", name=re.compile("City in Kyoto Prefecture, Japan"))
    expect(city).to_be_visible()
    expect(page.get_by_role("option", name=re.compile("Prefecture in Japan"))).to_be_visible()
    screenshot(page, "search", full_page=False)


def test_search_that_matches_nothing_says_so(page: Any) -> None:
    page.goto("/")
    search_box(page).fill("Atlantis")
    expect(page.get_by_text("No place matches “Atlantis”.")).to_be_visible()


# --- the place view --------------------------------------------------------------------


def test_hai_phong_lists_kitakyushu_with_its_milestones_and_sources(page: Any,
                                                                    explorer: Explorer) -> None:
    page.goto("/")
    open_place_by_search(page, "hai phong", "Hải Phòng")
    expect(heading(page)).to_contain_text("Hai Phong")

    card = partner_card(page, "Kitakyushu")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Sister city")
    expect(card).to_contain_text("Active")
    expect(card.get_by_role("list", name="Sectors")).to_contain_text("Water and sanitation")
    expect(card).to_contain_text("2014-04")  # sister cities since made official, not the MoU
    milestones = card.locator(".milestone")
    expect(milestones).to_have_count(3)
    expect(milestones.nth(0)).to_contain_text("2009-04")
    expect(milestones.nth(0)).to_contain_text("MoU signed")
    expect(milestones.nth(1)).to_contain_text("2014-04")
    expect(milestones.nth(1)).to_contain_text("sister city")
    expect(milestones.nth(2)).to_contain_text("date not known")  # the second MOU
    # every fact links to its source; a source without an address is named, not linked
    source = card.locator(".sources li").first
    expect(source).to_contain_text("cooperation between Kitakyushu city and Haiphong city")
    expect(source.get_by_role("link")).to_have_count(0)
    ref = milestones.nth(0).get_by_role("link", name=re.compile("source 1"))
    expect(ref).to_have_attribute("href", re.compile("#source-"))

    timeline = page.get_by_role("region", name="Timeline").get_by_role("listitem")
    expect(timeline).to_have_count(3)
    expect(timeline.nth(0)).to_contain_text("2009-04")
    expect(timeline.nth(1)).to_contain_text("2014-04")
    expect(timeline.nth(2)).to_contain_text("Date not known")
    screenshot(page, "place-hai-phong")
    page.evaluate("window.scrollTo(0, 0)")
    partners = explorer.graphql(PARTNER_COUNT, {"id": explorer.city_id("Hai Phong", "VN")})
    expect(world_map(page).locator("path.arc")).to_have_count(
        partners["city"]["partners"]["totalCount"])
    screenshot(page, "place", full_page=False)


@pytest.mark.parametrize(("name", "country"), [("Hai Phong", "VN"), ("Thua Thien Hue", "VN"),
                                               ("Khanh Hoa", "VN")])
def test_map_draws_one_great_circle_arc_per_partner_with_coordinates(
        page: Any, explorer: Explorer, name: str, country: str) -> None:
    city_id = explorer.city_id(name, country)
    city = explorer.graphql(PARTNERS, {"id": city_id})["city"]
    expected = set()
    for node in city["partners"]["nodes"]:
        partner = node["city"]
        own = next(c for c in node["partnership"]["cities"] if c["id"] != partner["id"])
        if None not in (partner["latitude"], own["latitude"]):
            expected.add((partner["id"], own["longitude"], own["latitude"],
                          partner["longitude"], partner["latitude"]))
    assert expected, "the bundled data should give this place arcs to draw"

    page.goto(explorer.place_url(name, country))
    expect(world_map(page)).to_be_visible()
    arcs = world_map(page).locator("path.arc")
    expect(arcs).to_have_count(len(expected))

    drawn = set()
    for i in range(arcs.count()):
        arc = arcs.nth(i)
        assert arc.get_attribute("d"), "an arc with no shape"
        x1, y1 = map(float, (arc.get_attribute("data-from") or "").split(","))
        x2, y2 = map(float, (arc.get_attribute("data-to") or "").split(","))
        drawn.add((arc.get_attribute("data-partner"), x1, y1, x2, y2))
    assert drawn == expected
    # the same facts as a list, for those who do not see the map
    alternative = page.get_by_role("region", name="Map").locator("details")
    alternative.locator("summary").click()
    for node in city["partners"]["nodes"]:
        expect(alternative).to_contain_text(node["city"]["name"])
    if name == "Hai Phong":
        screenshot(page, "map-hai-phong", locator=page.get_by_role("region", name="Map"))


def test_province_shows_the_partnerships_of_its_cities(page: Any, explorer: Explorer) -> None:
    page.goto(explorer.place_url("Thua Thien Hue", "VN"))
    expect(heading(page)).to_contain_text("Thừa Thiên Huế")

    section = partners_section(page)
    expect(section.get_by_role("heading", name="Partnerships of places inside Thua Thien Hue")
           ).to_be_visible()
    expect(section.get_by_role("heading", name=re.compile("^Hue"))).to_be_visible()
    shizuoka = partner_card(page, "Shizuoka")
    expect(shizuoka).to_contain_text("Partnership of Hue")
    expect(partner_card(page, "Kyoto Prefecture")).not_to_contain_text("Partnership of")
    # the province's own partners and its city's
    own = explorer.graphql(PARTNER_COUNT, {"id": explorer.city_id("Thua Thien Hue", "VN")})
    hue = explorer.graphql(PARTNER_COUNT, {"id": explorer.city_id("Hue", "VN")})
    expect(section.locator(".partner-card")).to_have_count(
        own["city"]["partners"]["totalCount"] + hue["city"]["partners"]["totalCount"])
    screenshot(page, "place-thua-thien-hue")
    network = page.get_by_role("region", name=re.compile("Network"))
    screenshot(page, "network-thua-thien-hue", locator=network)


def test_network_shows_partners_of_partners_as_a_picture_and_a_list(
        open_page: Any, explorer_with_second_degree: Explorer) -> None:
    page, _ = open_page(explorer_with_second_degree)
    page.goto(explorer_with_second_degree.place_url("Hai Phong", "VN"))

    network = page.get_by_role("region", name=re.compile("Network"))
    picture = network.get_by_role("img", name=re.compile("Network of Hai Phong"))
    partners = explorer_with_second_degree.graphql(
        PARTNER_COUNT, {"id": explorer_with_second_degree.city_id("Hai Phong", "VN")})
    expect(picture).to_have_attribute("aria-label", re.compile(
        f"Network of Hai Phong: {partners['city']['partners']['totalCount']} partners and "
        r"\d+ partners of partners"))
    expect(picture.locator("circle.node-second").first).to_be_visible()
    network.locator("summary").click()
    facts = network.get_by_role("listitem").filter(has_text=re.compile("^Kitakyushu"))
    expect(facts).to_contain_text("Dalian")
    screenshot(page, "network-hai-phong", locator=network)

    # Dalian twice: Wikidata's twinning, and the friendship city imported here
    facts.get_by_role("link", name="Dalian").first.click()
    expect(heading(page)).to_contain_text("Dalian")


def test_network_of_a_prefecture_reaches_partners_of_partners_in_the_bundled_data(
        page: Any, explorer: Explorer) -> None:
    # Kyoto Prefecture: its own partner Thừa Thiên Huế, and through the city of Kyoto inside
    # it, Huế and Kyoto's Wikidata twins; each of those has other partners.
    page.goto(explorer.place_url("Kyoto Prefecture", "JP"))
    expect(heading(page)).to_contain_text("Kyoto Prefecture")

    partners = explorer.graphql(PARTNER_COUNT_DEEP, {
        "id": explorer.city_id("Kyoto Prefecture", "JP")})["city"]["partners"]["totalCount"]
    network = page.get_by_role("region", name=re.compile("Network"))
    picture = network.get_by_role("img", name=re.compile("Network of Kyoto Prefecture"))
    expect(picture).to_have_attribute("aria-label", re.compile(
        f"Network of Kyoto Prefecture: {partners} partners and \\d+ partners of partners"))
    expect(picture.locator("circle.node-home")).to_have_count(1)
    expect(picture.locator("circle.node-inside")).to_have_count(1)
    # every partner place drawn, once (at world scale one may already be drawn as a
    # partner of another partner)
    nodes = explorer.graphql(PARTNERS, {"id": explorer.city_id("Kyoto Prefecture", "JP")})
    for place_id in {n["city"]["id"] for n in nodes["city"]["partners"]["nodes"]}:
        expect(picture.locator(f'circle[data-place="{place_id}"]')).to_have_count(1)
    expect(picture.locator("circle.node-second").first).to_be_visible()
    network.locator("summary").click()
    facts = network.get_by_role("listitem")
    expect(facts.filter(has_text=re.compile("^Thua Thien Hue"))).to_contain_text("Gifu Prefecture")
    expect(facts.filter(has_text=re.compile("^Hue"))).to_contain_text("Takayama")
    network.locator("summary").click()
    # nothing left out is written as "null" (the DOM's append writes a null out in words)
    expect(network).not_to_contain_text(re.compile(r"\bnull\b"))
    screenshot(page, "network", locator=network)


def test_place_without_partners_says_so(page: Any, explorer: Explorer) -> None:
    # Cam Lâm, a district of Khánh Hòa that the story names; every other place has partners
    page.goto(explorer.place_url("Cam Lam", "VN"))
    expect(heading(page)).to_contain_text("Cam Lam")
    expect(partners_section(page)).to_contain_text("Cam Lam has no recorded partnerships.")
    expect(page.get_by_role("region", name="Timeline")).to_contain_text("no milestones")
    # it lies in Khánh Hòa, whose partnerships are one click away
    partners_section(page).get_by_role("link", name=re.compile("Khanh Hoa")).click()
    expect(heading(page)).to_contain_text("Khanh Hoa")
    screenshot(page, "place-khanh-hoa")


def test_unknown_place_id_says_no_such_place(page: Any) -> None:
    page.goto("/?place=Q2l0eTo5OTk5OTk%3D")
    expect(heading(page)).to_have_text("No such place")


def test_partner_suggestions_come_with_their_reasons(page: Any, explorer: Explorer) -> None:
    page.goto(explorer.place_url("Hue", "VN"))
    section = page.get_by_role("region", name="Suggested partners")
    expect(section).to_be_visible()
    suggestions = section.locator(".suggestion")
    expect(suggestions.first).to_be_visible()
    assert suggestions.count() <= 5
    expect(suggestions.first.get_by_role("list", name="Reasons").get_by_role("listitem").first
           ).not_to_be_empty()


# --- the address bar -------------------------------------------------------------------


def test_clicking_a_partner_opens_its_view_and_back_returns(page: Any, explorer: Explorer) -> None:
    page.goto(explorer.place_url("Hai Phong", "VN"))
    hai_phong = page.url

    partner_card(page, "Kitakyushu").get_by_role("link", name=re.compile("^Kitakyushu")).click()
    expect(heading(page)).to_contain_text("Kitakyushu")
    assert page.url != hai_phong
    expect(partner_card(page, "Hai Phong")).to_be_visible()

    page.go_back()
    expect(heading(page)).to_contain_text("Hai Phong")
    assert page.url == hai_phong
    page.go_forward()
    expect(heading(page)).to_contain_text("Kitakyushu")


def test_reload_and_a_new_tab_show_the_same_view(page: Any, explorer: Explorer) -> None:
    page.goto("/")
    open_place_by_search(page, "huế", "^Hue Huế")
    expect(heading(page)).to_contain_text("Hue")
    address = page.url

    page.reload()
    expect(heading(page)).to_contain_text("Hue")
    hue = explorer.graphql(PARTNER_COUNT, {"id": explorer.city_id("Hue", "VN")})
    expect(partners_section(page).locator(".partner-card")).to_have_count(
        hue["city"]["partners"]["totalCount"])

    tab = page.context.new_page()
    tab.goto(address)
    expect(heading(tab)).to_contain_text("Hue")
    tab.close()


# --- the path finder -------------------------------------------------------------------


def choose(page: Any, label: str, text: str, option: str) -> None:
    box = page.get_by_role("combobox", name=label)
    box.fill(text)
    page.get_by_role("option", name=re.compile(option)).first.click()


def test_path_finder_connects_two_places_known_to_be_connected(page: Any) -> None:
    page.goto("/")
    page.get_by_role("navigation", name="Site").get_by_role("link", name="Path finder").click()
    expect(heading(page)).to_have_text("Path finder")

    choose(page, "From place", "san diego", "San Diego")
    choose(page, "To place", "boston", "Boston")
    page.get_by_role("button", name="Find the path").click()

    expect(heading(page)).to_have_text("Path from San Diego to Boston")
    chain = page.get_by_role("list", name="The chain of partnerships")
    places = chain.locator(".chain-place")
    expect(places).to_have_count(3)
    expect(places.nth(0)).to_contain_text("San Diego")
    expect(places.nth(1)).to_contain_text("Khanh Hoa")
    expect(places.nth(2)).to_contain_text("Boston")
    expect(page.get_by_text("connected in 2 steps")).to_be_visible()
    expect(world_map(page).locator("path.arc")).to_have_count(2)
    screenshot(page, "path-san-diego-boston")
    screenshot(page, "path", locator=page.get_by_role("region", name="Result"))

    query = parse_qs(urlsplit(page.url).query)
    assert query["view"] == ["path"] and query["from"] and query["to"]
    page.reload()
    expect(heading(page)).to_have_text("Path from San Diego to Boston")


def test_path_finder_says_when_no_chain_connects_two_places(page: Any, explorer: Explorer) -> None:
    # Charlottetown and Ashibetsu are twinned with each other and with no one else
    source = explorer.city_id("Le Havre", "FR")
    target = explorer.city_id("Charlottetown", "CA")
    page.goto(f"/?view=path&from={httpx.QueryParams({'a': source})['a']}"
              f"&to={httpx.QueryParams({'a': target})['a']}")
    answer = page.get_by_text("No chain of partnerships connects Le Havre and Charlottetown")
    expect(answer).to_be_visible()


# --- one request per view, shown to developers --------------------------------------------


def view_address(explorer: Explorer, view: str) -> str:
    if view == "start":
        return "/"
    if view == "path":
        source, target = explorer.city_id("San Diego", "US"), explorer.city_id("Boston", "US")
        return (f"/?view=path&from={httpx.QueryParams({'a': source})['a']}"
                f"&to={httpx.QueryParams({'a': target})['a']}")
    name, country = view.rsplit(", ", 1)
    return explorer.place_url(name, country)


VIEW_HEADINGS = {
    "start": "City partnerships across borders",
    "Hai Phong, VN": "Hai Phong",
    "Thua Thien Hue, VN": "Thua Thien Hue",
    "Nha Trang, VN": "Nha Trang",
    "path": "Path from San Diego to Boston",
}


@pytest.fixture(scope="module")
def graphql_schema() -> Any:
    from citylinks.schema import build_schema
    from citylinks.settings import Settings

    return build_schema(Settings())._schema


def assert_within_documented_limits(schema: Any, sent: dict[str, Any]) -> None:
    """The request stays inside the server's default limits (settings.py), with room to spare
    for a place with many partners: the page must never be refused as too complex."""
    from citylinks.schema.limits import count_tokens, measure
    from citylinks.settings import Settings
    from graphql import parse

    limits = Settings()
    query, variables = sent["query"], sent.get("variables") or {}
    measures = measure(schema, parse(query), variables)
    assert measures.depth <= limits.max_depth, (measures, query)
    assert measures.cost <= limits.max_cost / 2, (measures, query)
    assert measures.aliases <= limits.max_aliases, (measures, query)
    assert count_tokens(query) <= limits.max_tokens
    assert len(query.encode()) <= limits.max_document_bytes


@pytest.mark.parametrize("view", list(VIEW_HEADINGS))
def test_each_view_is_one_graphql_request_shown_and_opened_in_graphiql(
        watched: tuple[Any, Watch], explorer: Explorer, graphql_schema: Any, view: str) -> None:
    page, watch = watched
    page.goto(view_address(explorer, view))
    expect(heading(page)).to_contain_text(VIEW_HEADINGS[view])
    panel = page.get_by_role("region", name="The GraphQL request behind this page")
    expect(panel).to_be_visible()
    page.wait_for_load_state("networkidle")

    assert len(watch.graphql_posts) == 1, [p.get("query", "")[:40] for p in watch.graphql_posts]
    sent = watch.graphql_posts[0]
    if view not in ("start", "path"):
        # nested: city -> partners -> sectors, sources, milestones, in the same document
        assert re.search(r"partners\(.*sectors.*milestones.*sources", sent["query"], re.DOTALL)
    assert_within_documented_limits(graphql_schema, sent)

    expect(panel.get_by_label("GraphQL query")).to_have_text(sent["query"])
    link = panel.get_by_role("link", name="Open in GraphiQL")
    href = link.get_attribute("href") or ""
    parts = urlsplit(href)
    assert parts.path == "/graphql"
    params = parse_qs(parts.query)
    assert unquote(params["q"][0]) == sent["query"]
    if sent.get("variables"):
        assert json.loads(params["variables"][0]) == sent["variables"]
    # the request shown is one a developer can send as it is: the server answers it whole
    answer = httpx.post(f"{explorer.url}/graphql", json=sent, timeout=30).json()
    assert not answer.get("errors") and answer["data"], answer
    # GraphiQL itself answers that address (it is not opened here: this test stays offline)
    graphiql = httpx.get(f"{explorer.url}{href}", headers={"Accept": "text/html"}, timeout=30)
    assert graphiql.status_code == 200
    assert "graphiql" in graphiql.text.lower()


def test_searching_sends_small_requests_within_the_limits(
        watched: tuple[Any, Watch], graphql_schema: Any) -> None:
    page, watch = watched
    page.goto("/")
    expect(heading(page)).to_be_visible()
    page.wait_for_load_state("networkidle")
    start = len(watch.graphql_posts)

    search_box(page).press_sequentially("thua thien", delay=20)
    expect(page.get_by_role("option", name=re.compile("Thừa Thiên Huế"))).to_be_visible()

    searches = watch.graphql_posts[start:]
    # typing is debounced: far fewer requests than keystrokes
    assert 1 <= len(searches) < len("thua thien"), len(searches)
    for sent in searches:
        assert "search(" in sent["query"]
        assert_within_documented_limits(graphql_schema, sent)


ACCESSIBILITY_FACTS = """() => {
  const headings = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')]
    .filter((h) => h.getClientRects().length || h.closest('details'));
  const levels = headings.map((h) => Number(h.tagName[1]));
  const skips = levels.slice(1).flatMap((level, i) => (level > levels[i] + 1
    ? [`${headings[i].textContent} (h${levels[i]}) then ${headings[i + 1].textContent} (h${level})`]
    : []));
  const named = (el) => Boolean((el.getAttribute('aria-label') || '').trim()
    || el.getAttribute('aria-labelledby') || (el.labels && el.labels.length)
    || el.textContent.trim());
  const unnamed = [...document.querySelectorAll('input, select, textarea, button, a[href]')]
    .filter((el) => !named(el)).map((el) => el.outerHTML.slice(0, 80));
  const images = [...document.querySelectorAll('[role=img]')].map((el) => ({
    name: el.getAttribute('aria-label') || '',
    // the same facts in words: a list under "… as a list", or the path's chain of places
    alternative: Boolean(el.closest('section') && el.closest('section').querySelector(
      'details li, details p, ol[aria-label] li')),
  }));
  return { h1: levels.filter((l) => l === 1).length, first: levels[0], skips, unnamed, images };
}"""


@pytest.mark.parametrize("view", list(VIEW_HEADINGS))
def test_each_view_has_real_headings_labelled_controls_and_text_for_its_pictures(
        page: Any, explorer: Explorer, view: str) -> None:
    page.goto(view_address(explorer, view))
    expect(heading(page)).to_contain_text(VIEW_HEADINGS[view])
    if view != "start":
        expect(world_map(page)).to_be_visible()

    facts = page.evaluate(ACCESSIBILITY_FACTS)
    assert facts["h1"] == 1 and facts["first"] == 1, facts
    assert facts["skips"] == [], "heading levels skipped"
    assert facts["unnamed"] == [], "controls or links without a name"
    for image in facts["images"]:
        assert image["name"], "a picture without a name"
        assert image["alternative"], f"no list with the same facts as {image['name']!r}"
    if view not in ("start", "Nha Trang, VN"):
        assert any("map" in i["name"].lower() for i in facts["images"]), facts["images"]
    expect(page.get_by_role("main")).to_be_visible()
    expect(page.get_by_role("link", name="Skip to content")).to_be_attached()


# --- nothing but the server, no console errors ---------------------------------------------


def test_every_view_loads_without_console_errors_or_requests_to_other_hosts(
        watched: tuple[Any, Watch], explorer: Explorer) -> None:
    page, watch = watched
    loaded: list[str] = []
    page.on("requestfinished", lambda request: loaded.append(request.url))
    for view, title in VIEW_HEADINGS.items():
        page.goto(view_address(explorer, view))
        expect(heading(page)).to_contain_text(title)
        if view != "start":
            expect(world_map(page).locator("path.map-land")).to_have_count(1)
    search_box(page).fill("kyoto")
    expect(page.get_by_role("option").first).to_be_visible()
    page.goto("/?view=path")
    expect(heading(page)).to_have_text("Path finder")
    page.wait_for_load_state("networkidle")

    watch.assert_clean()
    # the script, the style sheet and the map shapes all came from the server itself
    own = {urlsplit(url).netloc for url in loaded if not url.startswith("data:")}
    assert own == {urlsplit(explorer.url).netloc}, own
    paths = {urlsplit(url).path for url in loaded}
    assert {"/", "/explorer/app.js", "/explorer/style.css", "/explorer/world.json",
            "/graphql"} <= paths, paths


def test_the_watch_catches_console_errors_and_requests_to_other_hosts(
        watched: tuple[Any, Watch]) -> None:
    # The two checks every test ends with: shown here to fail when they should.
    page, watch = watched
    page.goto("/")
    expect(heading(page)).to_be_visible()
    page.evaluate("""async () => {
      console.error('a deliberate error');
      try { await fetch('http://example.org/tracker.js'); } catch (e) { /* refused */ }
    }""")
    assert watch.foreign_requests == ["http://example.org/tracker.js"]
    assert any("a deliberate error" in e for e in watch.console_errors)
    with pytest.raises(AssertionError, match="requests to other hosts"):
        watch.assert_clean()
    watch.foreign_requests.clear()
    watch.console_errors.clear()


# --- keyboard, phone, failures -------------------------------------------------------------


def test_keyboard_alone_searches_opens_and_follows_a_partner(page: Any) -> None:
    page.goto("/")
    expect(heading(page)).to_be_visible()
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('role')") == "combobox":
            break
    expect(search_box(page)).to_be_focused()

    page.keyboard.type("hai phong")
    expect(page.get_by_role("option").first).to_be_visible()
    page.keyboard.press("ArrowDown")
    expect(search_box(page)).to_have_attribute("aria-activedescendant", re.compile("option"))
    page.keyboard.press("Enter")
    expect(heading(page)).to_contain_text("Hai Phong")
    expect(heading(page)).to_be_focused()

    # from the heading, Tab reaches the partner's link; Enter follows it
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent").startswith("Kitakyushu"):
            break
    page.keyboard.press("Enter")
    expect(heading(page)).to_contain_text("Kitakyushu")

    page.keyboard.press("/")
    expect(search_box(page)).to_be_focused()


def tab_until(page: Any, predicate: str, limit: int = 25) -> None:
    """Press Tab until the focused element satisfies the JavaScript `predicate` (of `el`)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(el => {predicate})(document.activeElement)"):
            return
    raise AssertionError(f"Tab never reached an element where {predicate}")


def test_keyboard_alone_finds_a_path(page: Any) -> None:
    page.goto("/?view=path")
    expect(heading(page)).to_have_text("Path finder")

    tab_until(page, "el.labels?.[0]?.textContent === 'From place'")
    page.keyboard.type("san diego")
    expect(page.get_by_role("option", name=re.compile("San Diego"))).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Chosen: San Diego")).to_be_visible()

    tab_until(page, "el.labels?.[0]?.textContent === 'To place'")
    page.keyboard.type("boston")
    expect(page.get_by_role("option", name=re.compile("Boston"))).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Chosen: Boston")).to_be_visible()

    tab_until(page, "el.textContent === 'Find the path'")
    page.keyboard.press("Enter")
    expect(heading(page)).to_have_text("Path from San Diego to Boston")
    expect(heading(page)).to_be_focused()
    expect(page.get_by_text("connected in 2 steps")).to_be_visible()


@pytest.mark.parametrize("view", ["start", "Hai Phong", "Thua Thien Hue", "path"])
def test_phone_screen_has_no_horizontal_scroll(phone: Any, explorer: Explorer, view: str) -> None:
    if view == "start":
        phone.goto("/")
    elif view == "path":
        source, target = explorer.city_id("San Diego", "US"), explorer.city_id("Boston", "US")
        phone.goto(f"/?view=path&from={httpx.QueryParams({'a': source})['a']}"
                   f"&to={httpx.QueryParams({'a': target})['a']}")
    else:
        phone.goto(explorer.place_url(view, "VN"))
    expect(heading(phone)).to_be_visible()
    if view != "start":
        expect(world_map(phone).locator("path.arc").first).to_be_attached()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} pixels wide"
    box = world_map(phone).bounding_box() if view not in ("start",) else None
    if box is not None:
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    name = f"phone-{view.lower().replace(' ', '-')}"
    screenshot(phone, name)
    phone.evaluate("window.scrollTo(0, 0)")
    screenshot(phone, f"{name}-top", full_page=False)


def test_a_server_that_does_not_answer_is_said_in_words(watched: tuple[Any, Watch],
                                                        explorer: Explorer) -> None:
    page, watch = watched
    watch.expect_failures = True  # the refused request is logged by the browser itself
    address = explorer.place_url("Hai Phong", "VN")
    page.route("**/graphql", lambda route: route.abort("connectionrefused"))

    page.goto(address)
    expect(heading(page)).to_have_text("The server did not answer")
    expect(page.get_by_text("Check that citylinks is running")).to_be_visible()
    screenshot(page, "error-no-answer", full_page=False)

    page.unroute("**/graphql")
    page.get_by_role("button", name="Try again").click()
    expect(heading(page)).to_contain_text("Hai Phong")


def test_a_view_on_its_way_says_it_is_loading(page: Any, explorer: Explorer) -> None:
    page.goto(explorer.place_url("Hai Phong", "VN"))
    expect(heading(page)).to_contain_text("Hai Phong")
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)

    page.route("**/graphql", hold)

    partner_card(page, "Kitakyushu").get_by_role("link", name=re.compile("^Kitakyushu")).click()
    expect(page.get_by_text(re.compile("Loading Kitakyushu"))).to_be_visible()
    expect(page.locator("main")).to_have_attribute("aria-busy", "true")

    for route in held:
        route.continue_()
    page.unroute("**/graphql")
    expect(heading(page)).to_contain_text("Kitakyushu")
    expect(page.locator("main")).not_to_have_attribute("aria-busy", "true")


def test_search_says_when_the_server_does_not_answer(watched: tuple[Any, Watch]) -> None:
    page, watch = watched
    page.goto("/")
    expect(heading(page)).to_be_visible()
    watch.expect_failures = True
    page.route("**/graphql", lambda route: route.abort("connectionrefused"))
    search_box(page).fill("hue")
    expect(page.get_by_text(re.compile("Search failed: The server did not answer"))).to_be_visible()


def test_a_server_refusing_too_many_requests_is_said_in_words(
        open_page: Any, explorer_rate_limited: Explorer) -> None:
    page, watch = open_page(explorer_rate_limited)
    watch.expect_failures = True  # the browser logs each 429 answer itself
    page.goto("/")
    expect(heading(page)).to_have_text("City partnerships across borders")
    # one request per view: the limit is reached after as many views as it allows
    for _ in range(RATE_LIMIT + 2):
        page.reload()
        expect(heading(page)).to_have_text(re.compile("City partnerships|Too many requests"))
        if heading(page).text_content() == "Too many requests":
            break
    expect(heading(page)).to_have_text("Too many requests")
    expect(page.get_by_text(re.compile(r"too many requests from this address; try again in "
                                       r"\d+ (seconds|minutes)\."))).to_be_visible()
    expect(page.get_by_role("button", name="Try again")).to_be_visible()
    screenshot(page, "error-rate-limited", full_page=False)

    search_box(page).fill("hue")
    expect(page.get_by_text(re.compile("Search failed: The server is answering too many"))
           ).to_be_visible()


# --- GraphiQL ------------------------------------------------------------------------------


def test_graphiql_opened_from_a_view_runs_its_request_without_other_hosts(
        watched: tuple[Any, Watch], explorer: Explorer) -> None:
    # given: Hải Phòng's view, and the link to its request in GraphiQL
    page, watch = watched
    page.goto(explorer.place_url("Hai Phong", "VN"))
    expect(heading(page)).to_contain_text("Hải Phòng")
    panel = page.get_by_role("region", name="The GraphQL request behind this page")
    href = panel.get_by_role("link", name="Open in GraphiQL").get_attribute("href")
    assert href

    # when: GraphiQL opens on it (its scripts come from the server: the watch refuses and
    # records any request to another host) and runs it
    page.goto(href)
    run = page.locator(".graphiql-execute-button")
    expect(run).to_be_visible(timeout=30_000)
    expect(page.locator(".graphiql-query-editor")).to_contain_text("partners")
    run.click()

    # then: the answer is the view's data (the editor draws only its first lines)
    response = page.locator(".graphiql-response")
    expect(response).to_contain_text('"localName": "Hải Phòng"', timeout=30_000)
    expect(response).to_contain_text('"since": "2014-04"')
    screenshot(page, "graphiql", full_page=False)
    assert not watch.foreign_requests
