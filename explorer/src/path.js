// The path finder: two places, and the shortest chain of partnerships between them.

import { KINDS_SHORT, STATUSES, dateElement, h, hasCoordinates, placeContext, placeName, plural } from './dom.js';
import { pathHref, placeLink, requestPanel } from './common.js';
import { renderMap } from './map.js';
import { placePicker } from './search.js';

function chainView(path) {
  const items = [];
  path.cities.forEach((city, i) => {
    items.push(h('li', { class: 'chain-place' },
      h('span', { class: 'chain-step', 'aria-hidden': 'true' }, String(i + 1)),
      h('span', {}, placeLink(city, placeName(city)),
        h('span', { class: 'chain-context' }, placeContext(city)))));
    const link = path.partnerships[i];
    if (link) {
      const details = [KINDS_SHORT[link.kind] || link.kind, STATUSES[link.status] ? STATUSES[link.status].toLowerCase() : null]
        .filter(Boolean).join(', ');
      items.push(h('li', { class: 'chain-link' },
        h('span', { class: 'visually-hidden' }, 'linked by a '),
        details, link.since ? [' since ', dateElement(link.since)] : null,
        link.sectors && link.sectors.length ? h('span', { class: 'chain-sectors' }, ` · ${link.sectors.map((s) => s.name).join(', ')}`) : null));
    }
  });
  return h('ol', { class: 'chain', 'aria-label': 'The chain of partnerships' }, items);
}

function pathMap(path) {
  const points = path.cities.filter(hasCoordinates).map((c, i, all) => ({
    id: c.id, name: c.name, lat: c.latitude, lon: c.longitude,
    role: i === 0 || i === all.length - 1 ? 'home' : 'partner',
  }));
  const arcs = [];
  for (let i = 0; i + 1 < path.cities.length; i += 1) {
    const [a, b] = [path.cities[i], path.cities[i + 1]];
    if (!hasCoordinates(a) || !hasCoordinates(b)) continue;
    const link = path.partnerships[i] || { kind: 'COOPERATION', status: 'ACTIVE' };
    arcs.push({
      id: b.id, kind: link.kind, status: link.status,
      from: { lon: a.longitude, lat: a.latitude }, to: { lon: b.longitude, lat: b.latitude },
    });
  }
  const figure = h('figure', { class: 'map-figure' });
  const label = `World map of the path: ${plural(arcs.length, 'great-circle arc')}, ${path.cities.map((c) => c.name).join(' to ')}.`;
  return { figure, draw: () => renderMap(figure, { points, arcs, label }) };
}

/**
 * The path finder. `result` is null before both places are chosen; otherwise the answer of
 * the one request: {data, errors, query, variables, missing}.
 */
export function pathView(route, result, { onSubmit, prefill = null }) {
  const from = result && result.data ? result.data.from : (prefill && prefill.from) || null;
  const to = result && result.data ? result.data.to : (prefill && prefill.to) || null;
  const fromPicker = placePicker({ id: 'path-from', label: 'From place', hint: 'e.g. San Diego', value: from });
  const toPicker = placePicker({ id: 'path-to', label: 'To place', hint: 'e.g. Boston', value: to });
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const form = h('form', {
    class: 'panel path-form', 'aria-labelledby': 'path-form-title', novalidate: true,
    onsubmit: (event) => {
      event.preventDefault();
      const a = fromPicker.value;
      const b = toPicker.value;
      if (!a || !b) {
        formError.textContent = !a && !b ? 'Choose a place in both fields from the suggestions.'
          : !a ? 'Choose the place to start from in the list of suggestions.'
            : 'Choose the place to reach in the list of suggestions.';
        (!a ? fromPicker.input : toPicker.input).focus();
        return;
      }
      formError.textContent = '';
      onSubmit(pathHref(a.id, b.id));
    },
  },
  h('h2', { id: 'path-form-title', class: 'visually-hidden' }, 'Choose two places'),
  h('div', { class: 'path-fields' }, fromPicker.field, toPicker.field),
  formError,
  h('p', {}, h('button', { type: 'submit', class: 'button' }, 'Find the path')));

  const title = result && from && to ? `Path from ${from.name} to ${to.name}` : 'Path finder';
  const parts = [
    h('header', { class: 'page-header' },
      h('h1', { tabindex: '-1' }, title),
      h('p', { class: 'lede' }, 'How are two places connected? The path finder looks for the shortest chain of partnerships between them, up to six steps: partners, partners of partners, and so on.')),
    form,
  ];
  let afterMount = () => {};
  if (result) {
    const { data, errors, missing } = result;
    const resultPanel = h('section', { class: 'panel path-result', 'aria-labelledby': 'path-result-title', id: 'result' },
      h('h2', { id: 'path-result-title' }, 'Result'));
    if (!from || !to) {
      resultPanel.append(h('p', { class: 'state state-empty' },
        `No place has the id ${!from ? route.from : route.to}: choose the places again.`));
    } else if (missing.path) {
      resultPanel.append(h('p', { class: 'notice notice-warn' },
        'The path finder is not available: this server does not offer the ', h('code', {}, 'path'),
        ' field yet. ', h('span', { class: 'server-said' }, `(The server said: ${missing.path})`)));
    } else if (errors.some((e) => e.path && e.path[0] === 'path')) {
      resultPanel.append(h('p', { class: 'notice notice-warn' },
        `The path could not be found: ${errors.filter((e) => e.path && e.path[0] === 'path').map((e) => e.message).join(' ')}`));
    } else if (from.id === to.id) {
      resultPanel.append(h('p', { class: 'state state-empty' }, 'Choose two different places.'));
    } else if (!data.path) {
      resultPanel.append(h('p', { class: 'state state-empty' },
        `No chain of partnerships connects ${from.name} and ${to.name} within six steps.`));
    } else {
      const path = data.path;
      const map = pathMap(path);
      resultPanel.append(
        h('p', { class: 'path-summary' },
          `${from.name} and ${to.name} are connected in ${plural(path.hops, 'step')}: `,
          path.hops === 1 ? 'they are partners.' : `through ${path.cities.slice(1, -1).map((c) => c.name).join(', ')}.`),
        chainView(path),
        map.figure);
      afterMount = map.draw;
    }
    parts.push(resultPanel);
    parts.push(requestPanel({
      query: result.query, variables: result.variables,
      notes: missing.path ? ['This server does not know the path field yet, so the page asked again without it: this is the request it answered.'] : [],
    }));
  }
  return { element: h('div', { class: 'path-page' }, parts), title, afterMount };
}
