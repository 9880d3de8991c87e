// The start page: what the explorer is, a few figures, and places to start from.

import { h, placeContext, placeName, plural } from './dom.js';
import { navLink, placeLink, requestPanel } from './common.js';

export function homeView(result) {
  const { data, query, variables } = result;
  const stats = data.stats;
  const places = data.cities.nodes.filter((c) => c.partnerCount > 0);
  const element = h('div', { class: 'home' },
    h('header', { class: 'page-header hero' },
      h('h1', { tabindex: '-1' }, 'City partnerships across borders'),
      h('p', { class: 'lede' },
        'Sister cities, friendship cities and cooperation agreements, with the sectors they cover, ',
        'their milestones and the source behind every fact. Search for a place above — any spelling, ',
        'with or without accents — or start from one below.'),
      h('ul', { class: 'stats', 'aria-label': 'In this database' },
        h('li', {}, h('strong', {}, String(stats.cities)), stats.cities === 1 ? ' place' : ' places'),
        h('li', {}, h('strong', {}, String(stats.partnerships)), stats.partnerships === 1 ? ' partnership' : ' partnerships'),
        h('li', {}, h('strong', {}, String(stats.countries)), stats.countries === 1 ? ' country' : ' countries'))),
    h('section', { class: 'panel', 'aria-labelledby': 'places-title' },
      h('h2', { id: 'places-title' }, 'Places with the most partnerships'),
      places.length
        ? h('ul', { class: 'place-list' }, places.map((c) => h('li', {},
          placeLink(c, placeName(c)),
          h('span', { class: 'place-list-context' }, placeContext(c)),
          h('span', { class: 'place-list-count' }, plural(c.partnerCount, 'partner')))))
        : h('p', { class: 'state state-empty' }, 'No partnership is recorded yet. Add some through the API (see the README), then come back.')),
    h('section', { class: 'panel', 'aria-labelledby': 'path-title' },
      h('h2', { id: 'path-title' }, 'How are two places connected?'),
      h('p', {}, 'The path finder shows the shortest chain of partnerships between two places. ',
        navLink('/?view=path', {}, 'Open the path finder'), '.')),
    requestPanel({ query, variables }));
  return { element, title: null, afterMount: () => {} };
}
