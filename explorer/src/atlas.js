// The world at a glance (home) and one country (`?country=JP`): counts, a zoomable map of
// flows and arcs, rankings and charts, all under the filters kept in the address bar.

import { graphql } from './api.js';
import { navLink, placeLink, requestPanel } from './common.js';
import { KINDS, STATUSES, h, placeContext, placeName, plural } from './dom.js';
import { ARCS_QUERY } from './queries.js';
import { renderWorldMap } from './worldmap.js';

export const FILTER_KEYS = ['kind', 'status', 'sector', 'decade'];
const DECADES = Array.from({ length: 13 }, (_, i) => String(1900 + i * 10));

function number(n) {
  return n.toLocaleString('en-US');
}

/** The filters in the address bar: {kind, status, sector, decade, country}. */
export function filtersOf(params) {
  const out = {};
  for (const key of [...FILTER_KEYS, 'country']) {
    const value = params.get(key);
    if (value) out[key] = key === 'country' ? value.toUpperCase() : value;
  }
  return out;
}

/** The API's PartnershipFilter for them; a decade is its first and last year. */
export function partnershipFilter(filters) {
  const filter = {};
  if (filters.kind) filter.kind = [filters.kind];
  if (filters.status) filter.status = [filters.status];
  if (filters.sector) filter.sector = filters.sector;
  if (filters.country) filter.country = filters.country;
  if (filters.decade) {
    filter.sinceFrom = filters.decade;
    filter.sinceTo = String(Number(filters.decade) + 9);
  }
  return Object.keys(filter).length ? filter : null;
}

export function atlasHref(filters) {
  const params = new URLSearchParams();
  for (const key of ['country', ...FILTER_KEYS]) if (filters[key]) params.set(key, filters[key]);
  const query = params.toString();
  return query ? `/?${query}` : '/';
}

/** Bars that are their own text: each row names its key and count in words. */
function bars(rows, { label, describe }) {
  const max = Math.max(1, ...rows.map((r) => r.count));
  return h('ul', { class: 'bars', 'aria-label': label }, rows.map((row) => h('li', { class: 'bar' },
    h('span', { class: 'bar-label' }, row.label),
    h('span', { class: 'bar-track', 'aria-hidden': 'true' },
      h('span', { class: 'bar-fill', style: `width: ${((100 * row.count) / max).toFixed(1)}%` })),
    h('span', { class: 'bar-count' }, describe ? describe(row.count) : number(row.count)))));
}

function selectField(name, text, options, value, onChange) {
  return h('label', {}, text,
    h('select', { name, onchange: (event) => onChange(name, event.target.value) },
      options.map(([v, t]) => h('option', { value: v, selected: v === (value || '') }, t))));
}

function filterForm(data, filters, onFilter) {
  const change = (name, value) => onFilter({ ...filters, [name]: value || undefined });
  const countries = [...data.countries].sort((a, b) => a.name.localeCompare(b.name));
  // Folded while no filter is set: the page opens on the picture, not on five menus. The
  // menus are made when it opens, so a closed box holds no options (the search's results
  // are the only options on the page).
  const active = FILTER_KEYS.some((key) => filters[key]);
  const form = () => h('form', { class: 'filters', 'aria-label': 'Filters', onsubmit: (e) => e.preventDefault() },
    selectField('country', 'Country', [['', 'All countries'], ...countries.map((c) => [c.code, c.name])], filters.country, change),
    selectField('kind', 'Kind', [['', 'Every kind'], ...Object.entries(KINDS)], filters.kind, change),
    selectField('status', 'Status', [['', 'Every status'], ...Object.entries(STATUSES)], filters.status, change),
    selectField('sector', 'Sector', [['', 'Every sector'], ...data.sectors.map((s) => [s.slug, s.name])], filters.sector, change),
    selectField('decade', 'Since', [['', 'Any time'], ...DECADES.map((d) => [d, `the ${d}s`])], filters.decade, change));
  const box = h('details', {
    class: 'filters-box', open: active,
    ontoggle: () => {
      if (box.open && !box.querySelector('form')) box.append(form());
      else if (!box.open) box.querySelector('form')?.remove();
    },
  }, h('summary', {}, 'Filter by country, kind, status, sector or decade'), active ? form() : null);
  return box;
}

function summaryOf(filters, data) {
  const parts = [];
  if (filters.kind) parts.push(KINDS[filters.kind] || filters.kind);
  if (filters.status) parts.push(`status ${(STATUSES[filters.status] || filters.status).toLowerCase()}`);
  if (filters.sector) {
    const sector = data.sectors.find((s) => s.slug === filters.sector);
    parts.push(`in ${sector ? sector.name : filters.sector}`);
  }
  if (filters.decade) parts.push(`begun in the ${filters.decade}s`);
  return parts.join(', ');
}

function pairName(pair, home) {
  const [a, b] = pair.countries;
  if (a.code === b.code) return `Within ${a.name}`;
  if (home && b.code === home) return `${b.name} – ${a.name}`;
  return `${a.name} – ${b.name}`;
}

function mapData(stats) {
  const points = stats.byCountry
    .filter((c) => typeof c.latitude === 'number' && typeof c.longitude === 'number')
    .map((c) => ({ code: c.country.code, name: c.country.name, lat: c.latitude, lon: c.longitude, count: c.count }));
  const at = new Map(points.map((p) => [p.code, p]));
  const flows = stats.countryPairs
    .filter((p) => p.countries[0].code !== p.countries[1].code)
    .map((p) => ({ a: at.get(p.countries[0].code), b: at.get(p.countries[1].code), count: p.count }))
    .filter((f) => f.a && f.b);
  return { points, flows };
}

function timeline(stats) {
  const dated = stats.partnerships - stats.undated;
  const rows = stats.byDecade.map((b) => ({ label: `${b.key}s`, count: b.count }));
  return h('section', { class: 'panel', 'aria-labelledby': 'time-title' },
    h('h2', { id: 'time-title' }, 'Partnerships over time'),
    h('p', {}, stats.undated
      ? `${number(stats.undated)} of ${number(stats.partnerships)} partnerships have no recorded date and are not in this chart`
        + `${dated ? `; the ${number(dated)} dated ones by the decade they began:` : '.'}`
      : 'By the decade they began:'),
    rows.length ? bars(rows, { label: 'Partnerships by the decade they began', describe: (n) => plural(n, 'partnership') }) : null);
}

function countsList(stats, country) {
  return h('ul', { class: 'stats', 'aria-label': country ? `In ${country.name}` : 'In this selection' },
    h('li', {}, h('strong', {}, number(stats.partnerships)), stats.partnerships === 1 ? ' partnership' : ' partnerships'),
    h('li', {}, h('strong', {}, number(stats.places)), stats.places === 1 ? ' place' : ' places'),
    h('li', {}, h('strong', {}, number(stats.countries)), stats.countries === 1 ? ' country' : ' countries'));
}

function placesPanel(stats, title, id) {
  return h('section', { class: 'panel', 'aria-labelledby': id },
    h('h2', { id }, title),
    stats.topPlaces.length
      ? h('ol', { class: 'ranked place-list' }, stats.topPlaces.map((p) => h('li', {},
        placeLink(p.city, placeName(p.city)), ' ',
        h('span', { class: 'place-list-context' }, placeContext(p.city)), ' ',
        h('span', { class: 'count' }, plural(p.count, 'partnership')))))
      : h('p', { class: 'state state-empty' }, 'No place matches these filters.'));
}

function pairsPanel(stats, home) {
  const pairs = stats.countryPairs.slice(0, 15);
  return h('section', { class: 'panel', 'aria-labelledby': 'pairs-title' },
    h('h2', { id: 'pairs-title' }, 'Strongest country pairs'),
    pairs.length ? bars(pairs.map((p) => ({ label: pairName(p, home), count: p.count })),
      { label: 'Country pairs by number of partnerships', describe: (n) => plural(n, 'partnership') })
      : h('p', { class: 'state state-empty' }, 'No partnership matches these filters.'));
}

function breakdownPanel(stats) {
  const table = (caption, rows, names) => h('table', { class: 'figures' },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, caption), h('th', { scope: 'col', class: 'number' }, 'Partnerships'))),
    h('tbody', {}, rows.map((r) => h('tr', {}, h('th', { scope: 'row' }, names[r.key] || r.key), h('td', { class: 'number' }, number(r.count))))));
  return h('section', { class: 'panel', 'aria-labelledby': 'kinds-title' },
    h('h2', { id: 'kinds-title' }, 'By kind and status'),
    table('Kind', stats.byKind, KINDS), table('Status', stats.byStatus, STATUSES));
}

function mapPanel(stats, filters, label, arcsIncluded, centre) {
  const figure = h('div', { class: 'world-map' });
  const { points, flows } = mapData(stats);
  const filter = partnershipFilter(filters);
  const flowList = h('details', {},
    h('summary', {}, 'The map as a list: flows between countries'),
    h('ol', {}, flows.map((f) => h('li', {}, `${f.a.name} – ${f.b.name}: ${plural(f.count, 'partnership')}`))));
  const panel = h('section', { class: 'panel', 'aria-labelledby': 'map-title' },
    h('h2', { id: 'map-title' }, 'Map'),
    h('p', {}, 'Drag or use the arrow keys to move, scroll, pinch or press + and − to zoom. '
      + 'At world zoom each line joins two countries; zoomed in, each arc is one partnership.'),
    figure, flowList);
  return {
    panel,
    mount: () => renderWorldMap(figure, {
      flows, points, label, total: stats.partnerships, centre,
      arcs: arcsIncluded ? stats.arcs : null,
      loadArcs: async (within) => {
        const { data } = await graphql(ARCS_QUERY, { filter, within });
        return data.partnershipStats.arcs;
      },
    }),
  };
}

/** Home (no country) or a country's view, from the one atlas request. */
export function atlasView(result, filters, { onFilter }) {
  const { data, query, variables } = result;
  const stats = data.partnershipStats;
  const country = filters.country ? data.country : null;
  const summary = summaryOf(filters, data);
  const arcsIncluded = Boolean(stats.arcs);
  const heading = country ? country.name : 'City partnerships across borders';
  const home = country && stats.byCountry.find((c) => c.country.code === country.code);
  const map = mapPanel(stats, filters,
    country ? `Map of ${country.name}'s partnerships` : 'World map of partnerships between countries', arcsIncluded,
    home && typeof home.longitude === 'number' ? home.longitude : 0);
  const header = h('header', { class: 'page-header hero' },
    country ? h('p', { class: 'breadcrumbs-line' }, navLink(atlasHref({ ...filters, country: undefined }), {}, 'The world'), ' › Country') : null,
    h('h1', { tabindex: '-1' }, heading),
    country ? h('p', { class: 'lede' }, `${country.name}'s city partnerships: its places, the countries they are tied to, and how.`)
      : h('p', { class: 'lede' },
        'Sister cities, friendship cities and cooperation agreements, with the sectors they cover, ',
        'their milestones and the source behind every fact. Search for a place above — any spelling, ',
        'with or without accents — or start from the map.'),
    countsList(stats, country),
    h('p', { class: 'filter-summary', role: 'status' }, summary ? `Showing partnerships: ${summary}.` : 'Showing every partnership.'),
    filterForm(data, filters, onFilter));
  const side = [];
  if (country) {
    side.push(h('section', { class: 'panel', 'aria-labelledby': 'partners-title' },
      h('h2', { id: 'partners-title' }, 'Partner countries'),
      h('p', {}, `The countries at the other end of ${country.name}'s partnerships, most first.`),
      bars(stats.partnerCountries.slice(0, 25).map((c) => ({
        label: c.country.code === country.code ? `Within ${country.name}` : c.country.name, count: c.count,
      })), { label: `Partner countries of ${country.name}`, describe: (n) => plural(n, 'partnership') })));
    side.push(placesPanel(stats, `Places in ${country.name} by number of partnerships`, 'places-title'));
    if (stats.byRegion && stats.byRegion.length) {
      side.push(h('section', { class: 'panel', 'aria-labelledby': 'regions-title' },
        h('h2', { id: 'regions-title' }, 'Regions'),
        h('p', {}, `${country.name}'s first-level regions by the partnerships of their places.`),
        bars(stats.byRegion.map((r) => ({ label: r.key, count: r.count })),
          { label: `Regions of ${country.name}`, describe: (n) => plural(n, 'partnership') })));
    }
  } else {
    side.push(placesPanel(stats, 'Most connected places', 'places-title'));
    side.push(pairsPanel(stats, null));
  }
  const element = h('div', { class: 'home atlas' },
    header,
    h('div', { class: 'atlas-grid' },
      h('div', {}, map.panel, timeline(stats), breakdownPanel(stats)),
      h('div', {}, side, country ? pairsPanel(stats, country.code) : null,
        h('section', { class: 'panel', 'aria-labelledby': 'path-title' },
          h('h2', { id: 'path-title' }, 'How are two places connected?'),
          h('p', {}, 'The path finder shows the shortest chain of partnerships between two places. ',
            navLink('/?view=path', {}, 'Open the path finder'), '.')))),
    requestPanel({ query, variables }));
  return { element, title: country ? country.name : null, afterMount: map.mount };
}
