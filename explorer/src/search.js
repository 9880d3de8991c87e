// Search as you type: an ARIA 1.2 combobox over the API's accent-insensitive `search`.

import { graphql } from './api.js';
import { h, placeContext, placeName } from './dom.js';
import { SEARCH_QUERY } from './queries.js';

let counter = 0;

/** Roughly the API's own folding: no accents, case, spaces or punctuation ("Đà Nẵng" -> "danang"). */
export function fold(text) {
  return (text || '').normalize('NFD').replace(/\p{M}/gu, '').replace(/[đĐ]/g, 'd')
    .toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');
}

/** The alias that matched when the name and local name did not: "München" for Munich. */
export function matchedAlias(city, text) {
  const key = fold(text);
  if (!key || [city.name, city.localName].some((n) => fold(n).includes(key))) return null;
  return (city.aliases || []).find((a) => fold(a).includes(key)) || null;
}

/** "Springfield, Massachusetts · US": the words that tell same-name places apart. */
function placeLine(city) {
  return [city.region ? `, ${city.region}` : '', city.country ? ` · ${city.country.code}` : ''].join('');
}

function searchPlaces(text, signal) {
  return graphql(SEARCH_QUERY, { text }, { signal });
}

/**
 * Wire a text input as a place picker. `popup` holds the `listbox` and a `status` line;
 * `onChoose(city)` runs when a place is picked with Enter, a click or a tap.
 */
export function attachCombobox({ input, popup, listbox, status, onChoose }) {
  const prefix = `${listbox.id || `places-${(counter += 1)}`}-option`;
  let results = [];
  let active = -1;
  let timer = null;
  let inflight = null;
  let lastText = null;

  function open() {
    popup.hidden = false;
    input.setAttribute('aria-expanded', 'true');
  }

  function close() {
    popup.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  }

  function setStatus(text) {
    status.textContent = text;
    status.hidden = !text;
  }

  function highlight(index) {
    active = index;
    for (const [i, option] of [...listbox.children].entries()) {
      option.setAttribute('aria-selected', i === index ? 'true' : 'false');
    }
    if (index >= 0) {
      const option = listbox.children[index];
      input.setAttribute('aria-activedescendant', option.id);
      option.scrollIntoView({ block: 'nearest' });
    } else input.removeAttribute('aria-activedescendant');
  }

  function choose(index) {
    const city = results[index];
    if (!city) return;
    close();
    onChoose(city);
  }

  function render(text) {
    listbox.replaceChildren(...results.map((city, i) => h('li', {
      id: `${prefix}-${i}`, role: 'option', 'aria-selected': 'false', class: 'option',
      onmousedown: (event) => event.preventDefault(),
      onclick: () => choose(i),
    },
    h('span', { class: 'option-title' }, placeName(city, { tag: 'span' }),
      h('span', { class: 'option-where' }, placeLine(city))),
    matchedAlias(city, text) ? h('span', { class: 'option-alias' }, ` (${matchedAlias(city, text)} → ${city.name})`) : null,
    h('span', { class: 'visually-hidden' }, ', '),
    h('span', { class: 'option-context' }, placeContext(city),
      city.partnerCount ? ` · ${city.partnerCount === 1 ? '1 partner' : `${city.partnerCount} partners`}` : ''))));
    active = -1;
    input.removeAttribute('aria-activedescendant');
    if (results.length) setStatus(results.length === 1 ? '1 place found' : `${results.length} places found`);
    else setStatus(`No place matches “${text}”.`);
    open();
  }

  async function run(text) {
    if (inflight) inflight.abort();
    const controller = new AbortController();
    inflight = controller;
    setStatus('Searching…');
    open();
    try {
      const { data } = await searchPlaces(text, controller.signal);
      if (controller.signal.aborted) return;
      results = (data && data.search) || [];
      render(text);
    } catch (error) {
      if (controller.signal.aborted) return;
      results = [];
      listbox.replaceChildren();
      setStatus(`Search failed: ${error.message}`);
      open();
    } finally {
      if (inflight === controller) inflight = null;
    }
  }

  function schedule() {
    const text = input.value.trim();
    clearTimeout(timer);
    if (!text) {
      if (inflight) inflight.abort();
      results = [];
      lastText = null;
      listbox.replaceChildren();
      close();
      return;
    }
    if (text === lastText && results.length) {
      open();
      return;
    }
    lastText = text;
    timer = setTimeout(() => run(text), 120);
  }

  input.addEventListener('input', schedule);
  input.addEventListener('focus', () => {
    if (input.value.trim() && results.length) open();
  });
  input.addEventListener('blur', () => setTimeout(close, 150));
  input.addEventListener('keydown', (event) => {
    const count = results.length;
    switch (event.key) {
      case 'ArrowDown':
        event.preventDefault();
        if (popup.hidden) schedule();
        if (count) highlight(active < count - 1 ? active + 1 : 0);
        break;
      case 'ArrowUp':
        event.preventDefault();
        if (count) highlight(active > 0 ? active - 1 : count - 1);
        break;
      case 'Home':
      case 'End':
        if (!popup.hidden && count && event.altKey === false && active >= 0) {
          event.preventDefault();
          highlight(event.key === 'Home' ? 0 : count - 1);
        }
        break;
      case 'Enter':
        if (count && !popup.hidden) {
          event.preventDefault();
          choose(active >= 0 ? active : 0);
        } else if (input.value.trim()) {
          event.preventDefault();
          clearTimeout(timer);
          lastText = input.value.trim();
          run(lastText);
        }
        break;
      case 'Escape':
        if (!popup.hidden) {
          event.preventDefault();
          close();
        } else if (input.value) {
          event.preventDefault();
          input.value = '';
          schedule();
        }
        break;
      default:
        break;
    }
  });

  return { close, clear: () => { input.value = ''; schedule(); } };
}

/** A labelled place picker built from scratch, for the path finder's From and To fields. */
export function placePicker({ id, label, hint, value, onChoose }) {
  const input = h('input', {
    id, type: 'text', role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false',
    'aria-controls': `${id}-results`, autocomplete: 'off', autocapitalize: 'off',
    spellcheck: 'false', placeholder: hint, 'aria-describedby': `${id}-chosen`,
  });
  const listbox = h('ul', { id: `${id}-results`, role: 'listbox', 'aria-label': `${label}: matching places` });
  const status = h('p', { class: 'search-status', role: 'status' });
  const popup = h('div', { class: 'search-popup' }, listbox, status);
  popup.hidden = true;
  const chosen = h('p', { id: `${id}-chosen`, class: 'picker-chosen' });
  const field = h('div', { class: 'picker' },
    h('label', { for: id }, label),
    h('div', { class: 'picker-combo' }, input, popup),
    chosen);
  let current = null;

  function set(city) {
    current = city;
    if (city) {
      input.value = city.localName && city.localName !== city.name
        ? `${city.name} (${city.localName})` : city.name;
      chosen.textContent = `Chosen: ${city.name}, ${placeContext(city)}.`;
    } else {
      chosen.textContent = '';
    }
  }

  attachCombobox({
    input, popup, listbox, status,
    onChoose: (city) => {
      set(city);
      if (onChoose) onChoose(city);
    },
  });
  input.addEventListener('input', () => {
    if (current) {
      current = null;
      chosen.textContent = '';
    }
  });
  set(value || null);
  return { field, input, get value() { return current; } };
}
