// The explorer's entry point: the address bar is the state; each view is one GraphQL request.

import { graphql, missingFromSchema } from './api.js';
import { errorView, loadingView, placeHref } from './common.js';
import { atlasHref, atlasView, filtersOf, partnershipFilter } from './atlas.js';
import { MORE_PARTNERS_QUERY, PICKED_QUERY, atlasQuery, pathQuery, placeQuery } from './queries.js';
import { notFoundView, placeView } from './place.js';
import { pathView } from './path.js';
import { preloadWorld } from './map.js';
import { attachCombobox } from './search.js';
import { h } from './dom.js';
import { navLink } from './common.js';

function countryNotFound(code) {
  return h('div', { class: 'state state-empty' },
    h('h1', { tabindex: '-1' }, 'No such country'),
    h('p', {}, `No place in the data is in a country with the code ${code}.`),
    h('p', {}, navLink('/', { class: 'button' }, 'Back to the world')));
}

const main = document.getElementById('main');
const announcer = document.getElementById('announcer');
const SITE = 'citylinks explorer';

/** Fields the server turned out not to have (an older or partial server): asked without them. */
const absent = { suggestPartners: false, path: false };

function routeOf(location) {
  const params = new URLSearchParams(location.search);
  if (params.get('place')) return { view: 'place', id: params.get('place') };
  if (params.get('view') === 'path') {
    return { view: 'path', from: params.get('from') || null, to: params.get('to') || null };
  }
  return { view: 'atlas', filters: filtersOf(params) };
}

function routeKey(route) {
  return JSON.stringify(route);
}

/**
 * Run a view's one request; when the server rejects a field it does not have yet (a GraphQL
 * validation error naming it), ask once more without that field and say so on the page.
 */
async function fetchView(build, variables, optional, signal) {
  const missing = {};
  const options = {};
  for (const name of optional) {
    if (absent[name]) {
      options[name] = false;
      missing[name] = absent[name];
    }
  }
  for (;;) {
    const query = build(options);
    try {
      const { data, errors } = await graphql(query, variables, { signal });
      return { data, errors, query, variables, missing };
    } catch (error) {
      const name = optional.find((n) => options[n] !== false && missingFromSchema(error, n));
      if (!name) throw error;
      const message = error.details.map((e) => e.message).join(' ');
      absent[name] = message;
      missing[name] = message;
      options[name] = false;
    }
  }
}

/** A hub's next page of partners: added to the view's data, the view drawn again, focus on
 * the first partner added (a request of its own, asked for by the reader). */
async function morePartners(after, result) {
  const city = result.data.city;
  const { data } = await graphql(MORE_PARTNERS_QUERY, { id: city.id, after });
  const page = data.city.partners;
  const known = city.partners.nodes.length;
  city.partners = { ...page, nodes: [...city.partners.nodes, ...page.nodes] };
  const view = placeView(result, placeOptions);
  const scroll = window.scrollY;
  main.replaceChildren(view.element);
  view.afterMount();
  window.scrollTo(0, scroll);
  const added = page.nodes[0] && main.querySelectorAll('.partner-card')[known];
  const target = page.nodes[0] && main.querySelector(`.partner-card[data-partner="${CSS.escape(page.nodes[0].city.id)}"] a`);
  if (target) {
    const group = target.closest('details');
    if (group) group.open = true;
    target.focus();
  } else if (added) added.querySelector('a')?.focus();
  announcer.textContent = `${page.nodes.length} more partners shown.`;
}

const placeOptions = {
  onOpen: (id, name) => navigate(placeHref(id), { hint: name }),
  onMore: morePartners,
};

let generation = 0;
let controller = null;
let currentKey = null;

async function render(route, { focus = false, hint = null, refocus = null } = {}) {
  const mine = (generation += 1);
  if (controller) controller.abort();
  controller = new AbortController();
  const { signal } = controller;
  currentKey = routeKey(route);
  main.setAttribute('aria-busy', 'true');
  const loadingText = route.view === 'place' ? `Loading ${hint || 'the place'}…`
    : route.view === 'path' ? (route.from && route.to ? 'Looking for a chain of partnerships…' : 'Loading the path finder…')
      : 'Loading…';
  // Only after a moment, so a quick answer does not flash a loading message.
  const loadingTimer = setTimeout(() => {
    if (mine === generation) main.replaceChildren(loadingView(loadingText));
  }, 150);
  if (route.view !== 'path') preloadWorld();

  let view;
  try {
    if (route.view === 'place') {
      const result = await fetchView(placeQuery, { id: route.id }, ['suggestPartners'], signal);
      view = result.data && result.data.city
        ? placeView(result, placeOptions)
        : { element: notFoundView(route.id), title: 'No such place', afterMount: () => {} };
    } else if (route.view === 'path') {
      let result = null;
      let prefill = null;
      if (route.from && route.to) {
        preloadWorld();
        result = await fetchView(pathQuery, { from: route.from, to: route.to }, ['path'], signal);
      } else if (route.from || route.to) {
        // One place already chosen (the link from a place view): its name fills the form in.
        const { data } = await graphql(PICKED_QUERY, { id: route.from || route.to }, { signal });
        prefill = route.from ? { from: data.city } : { to: data.city };
      }
      view = pathView(route, result, { onSubmit: (href) => navigate(href), prefill });
    } else {
      const { filters } = route;
      const filter = partnershipFilter(filters);
      const variables = filters.country ? { filter, code: filters.country } : { filter };
      // Arcs come with the view once a filter narrows the set; the whole world is drawn as
      // flows between countries, and the arcs of an area are fetched when zoomed in on.
      const build = () => atlasQuery({ country: Boolean(filters.country), arcs: Boolean(filter) });
      const result = await fetchView(build, variables, [], signal);
      view = filters.country && !result.data.country
        ? { element: countryNotFound(filters.country), title: 'No such country', afterMount: () => {} }
        : atlasView(result, filters, {
          onFilter: (next) => {
            const name = document.activeElement && document.activeElement.name;
            const href = atlasHref(next);
            window.history.pushState({}, '', new URL(href, window.location.href));
            render(routeOf(new URL(href, window.location.href)), { refocus: name ? `select[name="${name}"]` : null });
          },
        });
    }
  } catch (error) {
    if (signal.aborted) return;
    view = {
      element: errorView(error, { retry: () => render(route, { focus: true, hint }) }),
      title: 'Error', afterMount: () => {},
    };
  } finally {
    clearTimeout(loadingTimer);
  }
  if (mine !== generation) return;
  main.removeAttribute('aria-busy');
  main.replaceChildren(view.element);
  view.afterMount();
  performance.mark('citylinks:view-shown');
  document.title = view.title ? `${view.title} — ${SITE}` : SITE;
  announcer.textContent = `${view.title || 'Start page'} loaded.`;
  if (refocus) {
    const control = main.querySelector(refocus);
    if (control) control.focus();
  }
  if (focus) {
    const heading = main.querySelector('h1');
    if (heading) heading.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
}

export function navigate(href, { replace = false, hint = null } = {}) {
  const url = new URL(href, window.location.href);
  if (replace) window.history.replaceState({ hint }, '', url);
  else window.history.pushState({ hint }, '', url);
  render(routeOf(url), { focus: true, hint });
}

// Links between views stay real links (new tab, copy address), handled here for a plain click.
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey
    || event.shiftKey || event.altKey) return;
  const link = event.target.closest('a[data-nav]');
  if (!link || link.origin !== window.location.origin || link.pathname !== '/') return;
  event.preventDefault();
  const hint = link.dataset.place ? link.textContent.trim() : null;
  navigate(link.href, { hint });
});

// Back and Forward. A jump to a section of the same view (#map) changes no data.
window.addEventListener('popstate', (event) => {
  const route = routeOf(window.location);
  if (routeKey(route) === currentKey) return;
  render(route, { focus: true, hint: event.state && event.state.hint });
});

// "/" jumps to the search field, as on many sites, unless one is typing already.
document.addEventListener('keydown', (event) => {
  if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.closest && target.closest('input, textarea, select, [contenteditable]')) return;
  event.preventDefault();
  document.getElementById('search-input').focus();
});

const searchInput = document.getElementById('search-input');
const searchPopup = document.querySelector('.site-header .search-popup');
const headerSearch = attachCombobox({
  input: searchInput,
  popup: searchPopup,
  listbox: document.getElementById('search-results'),
  status: searchPopup.querySelector('.search-status'),
  onChoose: (city) => {
    headerSearch.clear();
    navigate(placeHref(city.id), { hint: city.name });
  },
});

render(routeOf(window.location));

// Focus not obscured (WCAG 2.2): scroll-padding covers most focus moves, but Chromium does not
// scroll a control that is already partly in view, so one half under a sticky bar is moved
// clear of it here.
// After the browser's own scroll to the focused control, hence the next frame.
document.addEventListener('focusin', (event) => requestAnimationFrame(() => {
  const target = event.target;
  if (!(target instanceof Element) || document.activeElement !== target) return;
  const rect = target.getBoundingClientRect();
  let covered = 0;
  for (const bar of document.querySelectorAll('.site-header, .on-this-page')) {
    if (bar.contains(target)) continue;
    const position = getComputedStyle(bar).position;
    if (position !== 'sticky' && position !== 'fixed') continue;
    const box = bar.getBoundingClientRect();
    if (box.bottom > rect.top && box.top <= Math.max(rect.top, 0) + 1) covered = Math.max(covered, box.bottom - rect.top);
  }
  if (covered > 0) window.scrollBy({ top: -(covered + 8), behavior: 'instant' });
}));
