// Pieces every view shares: links between views, the request panel, and states in words.

import { ApiError, ENDPOINT, graphiqlUrl } from './api.js';
import { h } from './dom.js';

export function placeHref(id) {
  return `/?place=${encodeURIComponent(id)}`;
}

export function pathHref(from, to) {
  const params = new URLSearchParams({ view: 'path' });
  if (from) params.set('from', from);
  if (to) params.set('to', to);
  return `/?${params.toString()}`;
}

/** A link to another view, handled in the page (the address bar still changes). */
export function navLink(href, attrs, ...children) {
  return h('a', { href, 'data-nav': true, ...attrs }, ...children);
}

export function placeLink(city, ...children) {
  return navLink(placeHref(city.id), { 'data-place': city.id },
    ...(children.length ? children : [city.name]));
}

/** The one GraphQL request a view made, to read, copy, and open in GraphiQL. */
export function requestPanel({ query, variables, notes = [] }) {
  const body = JSON.stringify({ query, variables }, null, 2);
  const copyStatus = h('span', { class: 'copy-status', role: 'status' });
  const copy = h('button', {
    type: 'button', class: 'button button-quiet',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(query);
        copyStatus.textContent = 'Copied the query.';
      } catch {
        const range = document.createRange();
        range.selectNodeContents(code);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        copyStatus.textContent = 'Selected the query: press Ctrl+C (⌘C on a Mac) to copy it.';
      }
    },
  }, 'Copy the query');
  const code = h('code', {}, query);
  const hasVariables = variables && Object.keys(variables).length;
  return h('section', { class: 'panel request', id: 'request', 'aria-labelledby': 'request-title' },
    h('h2', { id: 'request-title' }, 'The GraphQL request behind this page'),
    h('p', {},
      'This view came from one request: ', h('code', {}, 'POST /graphql'),
      ' with the query and variables below. Open it in GraphiQL to run it, change it, and read the documentation of every field.'),
    notes.map((note) => h('p', { class: 'notice notice-warn' }, note)),
    h('div', { class: 'request-actions' },
      h('a', { class: 'button', href: graphiqlUrl(query, variables) }, 'Open in GraphiQL'),
      copy, copyStatus),
    h('h3', { class: 'code-title' }, 'Query'),
    h('pre', { class: 'code', tabindex: '0', 'aria-label': 'GraphQL query' }, code),
    hasVariables ? [
      h('h3', { class: 'code-title' }, 'Variables'),
      h('pre', { class: 'code', tabindex: '0', 'aria-label': 'Variables' },
        h('code', {}, JSON.stringify(variables, null, 2))),
    ] : null,
    h('details', { class: 'request-body' },
      h('summary', {}, 'The HTTP request body'),
      h('pre', { class: 'code', tabindex: '0' }, h('code', {}, body))));
}

/** A failed view: what happened, in words, and a way to try again. */
export function errorView(error, { retry, title = 'This view could not be loaded' } = {}) {
  const network = error instanceof ApiError && (error.kind === 'network' || error.kind === 'timeout');
  const limited = error instanceof ApiError && error.kind === 'rate-limited';
  const details = error instanceof ApiError && !limited ? error.details : [];
  return h('div', { class: 'state state-error' },
    h('h1', { tabindex: '-1' }, network ? 'The server did not answer' : limited ? 'Too many requests' : title),
    h('p', {}, network
      ? `Nothing came back from ${ENDPOINT}${error.kind === 'timeout' ? ' in time' : ''}. Check that citylinks is running, then try again.`
      : error.message || 'Something went wrong.'),
    details.length ? h('ul', { class: 'error-list' }, details.map((e) => h('li', {},
      e.extensions && e.extensions.code ? h('code', {}, e.extensions.code) : null,
      e.extensions && e.extensions.code ? ' ' : null, e.message))) : null,
    h('p', { class: 'state-actions' },
      retry ? h('button', { type: 'button', class: 'button', onclick: retry }, 'Try again') : null,
      ' ', navLink('/', { class: 'button button-quiet' }, 'Back to the start')));
}

export function loadingView(text) {
  return h('div', { class: 'state state-loading' },
    h('p', { class: 'loading' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text));
}

export function sectionTitle(id, text, extra) {
  return h('h2', { id }, text, extra ? [' ', h('span', { class: 'count' }, extra)] : null);
}
