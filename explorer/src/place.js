// The place view: heading, partners, map, network, milestone timeline, suggestions, request.

import {
  KINDS, KINDS_SHORT, LEVELS, MILESTONES, ORGANIZATIONS, STATUSES, dateElement, formatCoordinates,
  formatKm, h, hasCoordinates, placeContext, placeName, plural,
} from './dom.js';
import {
  navLink, pathHref, placeHref, placeLink, requestPanel, sectionTitle,
} from './common.js';
import { renderMap } from './map.js';
import { renderNetwork } from './network.js';

const REGION_LEVELS = new Set(['PROVINCE', 'PREFECTURE', 'STATE', 'REGION', 'DISTRICT']);

/** One entry per partnership, with the place on this side ("own": this place or one inside it). */
function entriesOf(city) {
  const nodes = (city.partners && city.partners.nodes) || [];
  return nodes.map((partner, index) => {
    const cities = partner.partnership.cities || [];
    const own = cities.find((c) => c.id !== partner.city.id) || city;
    const ownCity = own.id === city.id ? { ...own, ...city } : own;
    return { index, partner, own: ownCity, inside: own.id !== city.id };
  });
}

function sameSource(a, b) {
  return a && b && (a.url || '') === (b.url || '') && a.title === b.title;
}

/** A source as a citation: its title linked when it has an address, else the title alone. */
function citation(source) {
  const title = source.url
    ? h('a', { href: source.url, rel: 'noopener noreferrer' }, source.title)
    : h('cite', {}, source.title);
  const extra = [source.publisher, source.publishedOn].filter(Boolean).join(', ');
  return [title, extra ? ` — ${extra}` : null, source.url ? null : h('span', { class: 'no-url' }, ' (no link)')];
}

function sourceRef(card, number, source) {
  return h('a', {
    href: `#source-${card}-${number}`, class: 'ref',
    title: source.title, 'aria-label': `source ${number}: ${source.title}`,
  }, `[${number}]`);
}

function milestoneLabel(milestone, kind) {
  const label = MILESTONES[milestone.kind] || milestone.kind;
  return milestone.kind === 'FORMALIZED' ? `${label}: ${KINDS_SHORT[kind] || ''}`.trim() : label;
}

function partnerCard(entry, city, level = 3) {
  const heading = `h${level}`;
  const label = `h${Math.min(level + 1, 6)}`;
  const { partner, own, inside, index } = entry;
  const p = partner.partnership;
  const card = `p${index}`;
  const sources = [...(p.sources || [])];
  for (const m of p.milestones || []) {
    if (m.source && !sources.some((s) => sameSource(s, m.source))) sources.push(m.source);
  }
  const refFor = (source) => {
    const i = sources.findIndex((s) => sameSource(s, source));
    return i >= 0 ? sourceRef(card, i + 1, sources[i]) : null;
  };
  const allRefs = (p.sources || []).map((s) => refFor(s));
  const other = partner.city;
  const context = [placeContext(other), formatKm(partner.distanceKm) && `${formatKm(partner.distanceKm)} away`]
    .filter(Boolean).join(' · ');

  return h('li', { class: 'partner-card', 'data-partner': other.id },
    h(heading, { class: 'partner-name' }, placeLink(other, placeName(other))),
    h('p', { class: 'partner-context' }, context),
    inside ? h('p', { class: 'partner-own' }, 'Partnership of ', placeLink(own, placeName(own)),
      `, inside ${city.name}`) : null,
    h('dl', { class: 'facts' },
      h('div', {}, h('dt', {}, 'Kind'), h('dd', {}, h('span', { class: `kind kind-${partner.kind.toLowerCase()}` }, KINDS[partner.kind] || partner.kind), ' ', allRefs)),
      h('div', {}, h('dt', {}, 'Status'), h('dd', {}, h('span', { class: `status status-${partner.status.toLowerCase()}` }, STATUSES[partner.status] || partner.status))),
      h('div', {}, h('dt', {}, 'Since'), h('dd', {}, partner.since ? dateElement(partner.since) : h('span', { class: 'unknown' }, 'not known'))),
      p.until ? h('div', {}, h('dt', {}, 'Until'), h('dd', {}, dateElement(p.until))) : null),
    partner.sectors.length
      ? h('ul', { class: 'chips', 'aria-label': 'Sectors' }, partner.sectors.map((s) => h('li', { class: 'chip', 'data-sector': s.slug }, s.name)))
      : h('p', { class: 'chips-empty' }, 'No sector recorded.'),
    p.description ? h('p', { class: 'partner-description' }, p.description) : null,
    (p.milestones || []).length ? h('div', { class: 'milestones' },
      h(label, { class: 'card-label' }, 'Milestones'),
      h('ol', { class: 'milestone-chain' }, p.milestones.map((m) => h('li', { class: 'milestone', 'data-kind': m.kind },
        m.date ? dateElement(m.date) : h('span', { class: 'unknown' }, 'date not known'), ' ',
        h('span', { class: 'milestone-kind' }, milestoneLabel(m, partner.kind)),
        m.source ? [' ', refFor(m.source)] : null)))) : null,
    (p.organizations || []).length ? h('p', { class: 'organizations' },
      h('span', { class: 'label' }, 'Organizations: '),
      p.organizations.map((o, i) => [i ? '; ' : '', o.name, ` (${ORGANIZATIONS[o.kind] || o.kind})`])) : null,
    sources.length ? h('div', { class: 'sources' },
      h(label, { class: 'card-label' }, sources.length === 1 ? 'Source' : 'Sources'),
      h('ol', {}, sources.map((s, i) => h('li', { id: `source-${card}-${i + 1}` }, citation(s))))) : null);
}

/** Many partners (a hub): grouped by the partner's country, biggest group first, each group
 * folded but the first, with an index of the groups to jump to. */
function groupedByCountry(city, entries) {
  const groups = new Map();
  for (const e of entries) {
    const country = e.partner.city.country;
    if (!groups.has(country.code)) groups.set(country.code, { country, entries: [] });
    groups.get(country.code).entries.push(e);
  }
  const ordered = [...groups.values()].sort((a, b) => b.entries.length - a.entries.length
    || a.country.name.localeCompare(b.country.name));
  return [
    h('h3', { class: 'group-title', id: 'partners-by-country' }, 'By country'),
    h('ul', { class: 'country-index' }, ordered.map((g) => h('li', {},
      h('a', { href: `#partners-${g.country.code}` }, g.country.name), ` ${g.entries.length}`))),
    ordered.map((g, i) => h('details', { class: 'country-group', id: `partners-${g.country.code}`, open: i === 0 },
      h('summary', {}, h('h3', { class: 'group-title' }, g.country.name, ' ',
        h('span', { class: 'count' }, plural(g.entries.length, 'partner')))),
      h('ul', { class: 'cards' }, g.entries.map((e) => partnerCard(e, city, 4))))),
  ];
}

function morePartnersControl(city, entries, onMore) {
  const total = city.partners.totalCount;
  const pageInfo = city.partners.pageInfo;
  if (!pageInfo || !pageInfo.hasNextPage || !onMore) return null;
  const status = h('span', { class: 'copy-status', role: 'status' });
  const button = h('button', {
    type: 'button', class: 'button',
    onclick: async () => {
      button.disabled = true;
      status.textContent = 'Loading more partners…';
      try {
        await onMore(pageInfo.endCursor);
      } catch (error) {
        button.disabled = false;
        status.textContent = `More partners could not be loaded: ${error.message}`;
      }
    },
  }, `Show ${Math.min(total - entries.length, 40)} more partners`);
  return h('p', { class: 'more-partners' }, button, ' ', status);
}

function partnersSection(city, entries, onMore) {
  const total = city.partners.totalCount;
  const section = h('section', { class: 'panel partners', id: 'partners', 'aria-labelledby': 'partners-title' },
    sectionTitle('partners-title', 'Partners', String(total)));
  if (!entries.length) {
    section.append(h('div', { class: 'state state-empty' },
      h('p', {}, `${city.name} has no recorded partnerships.`),
      city.parent ? h('p', {}, `It lies inside ${city.parent.name}: `,
        placeLink(city.parent, `see the partnerships of ${city.parent.name}`), '.') : null));
    return section;
  }
  if (total > entries.length) {
    section.append(h('p', { class: 'notice' }, `Showing ${entries.length} of ${total} partnerships.`));
  }
  const more = morePartnersControl(city, entries, onMore);
  const ownEntries = entries.filter((e) => !e.inside);
  const insideEntries = entries.filter((e) => e.inside);
  if (!insideEntries.length) {
    section.append(...(ownEntries.length > 12 ? groupedByCountry(city, ownEntries).flat()
      : [h('ul', { class: 'cards' }, ownEntries.map((e) => partnerCard(e, city)))]));
    if (more) section.append(more);
    return section;
  }
  if (ownEntries.length) {
    section.append(h('h3', { class: 'group-title' }, `Partnerships of ${city.name} itself`),
      h('ul', { class: 'cards' }, ownEntries.map((e) => partnerCard(e, city, 4))));
  }
  const byPlace = new Map();
  for (const e of insideEntries) {
    if (!byPlace.has(e.own.id)) byPlace.set(e.own.id, []);
    byPlace.get(e.own.id).push(e);
  }
  section.append(h('h3', { class: 'group-title' }, `Partnerships of places inside ${city.name}`));
  for (const group of byPlace.values()) {
    const own = group[0].own;
    section.append(h('h4', { class: 'subgroup-title' }, placeLink(own, placeName(own)), ' ',
      h('span', { class: 'count' }, plural(group.length, 'partner'))),
    h('ul', { class: 'cards' }, group.map((e) => partnerCard(e, city, 5))));
  }
  if (more) section.append(more);
  return section;
}

function mapSection(city, entries) {
  const section = h('section', { class: 'panel map-panel', id: 'map', 'aria-labelledby': 'map-title' },
    sectionTitle('map-title', 'Map'));
  const points = new Map();
  const addPoint = (c, role) => {
    if (!hasCoordinates(c) || points.has(c.id)) return;
    points.set(c.id, { id: c.id, name: c.name, lat: c.latitude, lon: c.longitude, role });
  };
  addPoint(city, 'home');
  const arcs = [];
  const missing = [];
  for (const e of entries) {
    addPoint(e.own, 'inside');
    addPoint(e.partner.city, 'partner');
    if (hasCoordinates(e.own) && hasCoordinates(e.partner.city)) {
      arcs.push({
        id: e.partner.city.id, kind: e.partner.kind, status: e.partner.status,
        from: points.get(e.own.id), to: points.get(e.partner.city.id), entry: e,
      });
    } else missing.push(e);
  }
  if (!points.size) {
    section.append(h('p', { class: 'state state-empty' },
      `${city.name} has no coordinates, and neither do its partners, so there is nothing to draw.`));
    return { section, draw: () => {} };
  }
  const label = arcs.length
    ? `World map of the partnerships of ${city.name}: ${plural(arcs.length, 'great-circle arc')}, to ${arcs.map((a) => a.entry.partner.city.name).join(', ')}.`
    : `World map showing ${city.name}, which has no partnership to draw.`;
  const figure = h('figure', { class: 'map-figure' });
  const legend = h('ul', { class: 'legend', 'aria-label': 'Legend' },
    h('li', {}, h('span', { class: 'swatch swatch-home', 'aria-hidden': 'true' }), city.name),
    ['SISTER_CITY', 'FRIENDSHIP', 'COOPERATION'].filter((k) => arcs.some((a) => a.kind === k))
      .map((k) => h('li', {}, h('span', { class: `swatch swatch-${k.toLowerCase()}`, 'aria-hidden': 'true' }), KINDS[k])),
    arcs.some((a) => a.status !== 'ACTIVE')
      ? h('li', {}, h('span', { class: 'swatch swatch-pending', 'aria-hidden': 'true' }), 'not yet or no longer active') : null);
  const list = h('ul', { class: 'fact-list' }, arcs.map((a) => h('li', {},
    placeLink(a.entry.own), ` (${formatCoordinates(a.from.lat, a.from.lon)}) to `,
    placeLink(a.entry.partner.city), `, ${a.entry.partner.city.country.name} (${formatCoordinates(a.to.lat, a.to.lon)})`,
    `: ${[KINDS[a.kind], STATUSES[a.status].toLowerCase(), formatKm(a.entry.partner.distanceKm)].filter(Boolean).join(', ')}.`)),
  missing.map((e) => h('li', {}, placeLink(e.partner.city),
    ` is not on the map: ${hasCoordinates(e.partner.city) ? `${e.own.name} has` : 'it has'} no coordinates.`)));
  section.append(figure, legend,
    h('details', { class: 'alternative' },
      h('summary', {}, 'The map as a list'),
      arcs.length || missing.length ? list : h('p', {}, `${city.name} has no partnership to draw.`)));
  const draw = () => renderMap(figure, { points: [...points.values()], arcs, label });
  return { section, draw };
}

function networkSection(city, entries, onOpen) {
  const section = h('section', { class: 'panel network-panel', id: 'network', 'aria-labelledby': 'network-title' },
    sectionTitle('network-title', 'Network: partners of partners'));
  if (!entries.length) {
    section.append(h('p', { class: 'state state-empty' }, `${city.name} has no partners, so it has no network yet.`));
    return { section, draw: () => {} };
  }
  const nodes = new Map([[city.id, { id: city.id, name: city.name, role: 'home' }]]);
  const links = new Map();
  const addNode = (c, role) => { if (!nodes.has(c.id)) nodes.set(c.id, { id: c.id, name: c.name, role }); };
  const addLink = (a, b, relation, kind) => {
    const key = [a, b].sort().join('|');
    if (a !== b && !links.has(key)) links.set(key, { source: a, target: b, relation, kind });
  };
  const facts = [];
  // A hub's partners of partners would be a hairball: draw those of the best-connected few,
  // and the rest on demand (the list below always has them all).
  const drawSecondFor = new Set(entries.length > 15
    ? [...entries].sort((a, b) => ((b.partner.city.partners || {}).totalCount || 0)
      - ((a.partner.city.partners || {}).totalCount || 0)).slice(0, 8).map((e) => e.partner.city.id)
    : entries.map((e) => e.partner.city.id));
  const hidden = { nodes: new Map(), links: new Map() };
  for (const e of entries) {
    const partner = e.partner.city;
    if (e.inside) {
      addNode(e.own, 'inside');
      addLink(city.id, e.own.id, 'inside');
    }
    addNode(partner, 'partner');
    addLink(e.own.id, partner.id, 'partner', e.partner.kind);
    const theirs = ((partner.partners && partner.partners.nodes) || [])
      .filter((q) => q.city.id !== e.own.id && q.city.id !== city.id);
    for (const q of theirs) {
      if (drawSecondFor.has(partner.id)) {
        addNode(q.city, 'second');
        addLink(partner.id, q.city.id, 'partner', q.kind);
      } else {
        if (!nodes.has(q.city.id)) hidden.nodes.set(q.city.id, { id: q.city.id, name: q.city.name, role: 'second' });
        hidden.links.set([partner.id, q.city.id].sort().join('|'), { source: partner.id, target: q.city.id, relation: 'partner', kind: q.kind });
      }
    }
    const more = ((partner.partners && partner.partners.totalCount) || 0)
      - ((partner.partners && partner.partners.nodes.length) || 0);
    facts.push(h('li', {},
      placeLink(partner), ` (${partner.country.name}), ${KINDS_SHORT[e.partner.kind]} of `, placeLink(e.own), '. ',
      theirs.length
        ? [`Its other partners: `, theirs.map((q, i) => [i ? ', ' : '', placeLink(q.city), ` (${q.city.country.name})`]),
          more > 0 ? ` and ${more} more` : null, '.']
        : 'It has no other recorded partners.'));
  }
  for (const id of nodes.keys()) hidden.nodes.delete(id);
  const second = [...nodes.values()].filter((n) => n.role === 'second').length;
  const labelFor = (count) => `Network of ${city.name}: ${plural(entries.length, 'partner')} and ${plural(count, 'partner')} of partners.`;
  const label = labelFor(second);
  const figure = h('figure', { class: 'network-figure' });
  let showAll = null;
  if (hidden.nodes.size) {
    showAll = h('p', { class: 'network-more' },
      `Drawn: the partners of partners of ${city.name}'s 8 best-connected partners. `,
      h('button', {
        type: 'button', class: 'button button-quiet',
        onclick: () => {
          for (const [id, n] of hidden.nodes) nodes.set(id, n);
          for (const [key, l] of hidden.links) if (!links.has(key)) links.set(key, l);
          const all = [...nodes.values()];
          renderNetwork(figure, { nodes: all, links: [...links.values()], label: labelFor(all.filter((n) => n.role === 'second').length), onOpen });
          showAll.remove();
        },
      }, `Show all (${hidden.nodes.size} more places)`));
  }
  section.append(
    h('p', { class: 'panel-intro' }, second
      ? `${city.name}'s partners and the other places they are partnered with.`
      : `None of ${city.name}'s partners has another recorded partner yet.`),
    // Element.append writes a null out as the text "null".
    figure, ...(showAll ? [showAll] : []),
    h('ul', { class: 'legend', 'aria-label': 'Legend' },
      h('li', {}, h('span', { class: 'swatch swatch-home', 'aria-hidden': 'true' }), city.name),
      entries.some((e) => e.inside) ? h('li', {}, h('span', { class: 'swatch swatch-inside', 'aria-hidden': 'true' }), `places inside ${city.name}`) : null,
      h('li', {}, h('span', { class: 'swatch swatch-partner', 'aria-hidden': 'true' }), 'partners'),
      second ? h('li', {}, h('span', { class: 'swatch swatch-second', 'aria-hidden': 'true' }), 'partners of partners') : null),
    h('details', { class: 'alternative' },
      h('summary', {}, 'The network as a list'),
      h('ul', { class: 'fact-list' }, facts)));
  const draw = () => renderNetwork(figure, { nodes: [...nodes.values()], links: [...links.values()], label, onOpen });
  return { section, draw };
}

function timelineSection(city, entries) {
  const section = h('section', { class: 'panel timeline-panel', id: 'timeline', 'aria-labelledby': 'timeline-title' },
    sectionTitle('timeline-title', 'Timeline'));
  const items = [];
  for (const e of entries) {
    for (const m of e.partner.partnership.milestones || []) items.push({ m, e });
  }
  if (!items.length) {
    section.append(h('p', { class: 'state state-empty' }, entries.length
      ? `No milestone of ${city.name}'s partnerships is recorded yet.`
      : `${city.name} has no partnerships, so no milestones.`));
    return section;
  }
  // Oldest first; a partial date sorts before the fuller dates it contains; undated last.
  items.sort((a, b) => {
    if (!a.m.date || !b.m.date) return (a.m.date ? 0 : 1) - (b.m.date ? 0 : 1);
    return a.m.date < b.m.date ? -1 : a.m.date > b.m.date ? 1 : 0;
  });
  section.append(h('ol', { class: 'timeline' }, items.map(({ m, e }) => h('li', { class: 'timeline-item', 'data-kind': m.kind },
    h('p', { class: 'timeline-date' }, m.date ? dateElement(m.date) : 'Date not known'),
    h('p', { class: 'timeline-what' },
      h('strong', {}, milestoneLabel(m, e.partner.kind)), ' · ',
      e.inside ? [placeLink(e.own), ' – '] : null, placeLink(e.partner.city)),
    m.description ? h('p', { class: 'timeline-description' }, m.description) : null,
    m.source ? h('p', { class: 'timeline-source' }, 'Source: ', citation(m.source)) : null))));
  return section;
}

function suggestionsSection(city, data, missing, errors) {
  const section = h('section', { class: 'panel suggestions-panel', id: 'suggestions', 'aria-labelledby': 'suggestions-title' },
    sectionTitle('suggestions-title', 'Suggested partners'));
  if (missing) {
    section.append(h('p', { class: 'notice notice-warn' },
      'Partner suggestions are not available: this server does not offer the ', h('code', {}, 'suggestPartners'),
      ' field yet. ', h('span', { class: 'server-said' }, `(The server said: ${missing})`)));
    return section;
  }
  const failed = errors.filter((e) => e.path && e.path[0] === 'suggestPartners');
  if (failed.length || !Array.isArray(data.suggestPartners)) {
    section.append(h('p', { class: 'notice notice-warn' },
      `Partner suggestions could not be loaded: ${failed.map((e) => e.message).join(' ') || 'no answer'}`));
    return section;
  }
  const suggestions = data.suggestPartners;
  if (!suggestions.length) {
    section.append(h('p', { class: 'state state-empty' }, `The API has no partner suggestions for ${city.name}.`));
    return section;
  }
  section.append(h('p', { class: 'panel-intro' }, 'Places the API suggests as partners, with its reasons.'),
    h('ol', { class: 'suggestions' }, suggestions.map((s) => h('li', { class: 'suggestion' },
      h('h3', { class: 'suggestion-name' }, placeLink(s.city, placeName(s.city))),
      h('p', { class: 'suggestion-context' }, placeContext(s.city), ' · ',
        h('span', { class: 'score' }, `score ${Number(s.score).toFixed(2)}`)),
      s.reasons.length ? h('ul', { class: 'reasons', 'aria-label': 'Reasons' }, s.reasons.map((r) => h('li', {}, r))) : null,
      s.sharedSectors.length ? h('ul', { class: 'chips', 'aria-label': 'Shared sectors' },
        s.sharedSectors.map((x) => h('li', { class: 'chip', 'data-sector': x.slug }, x.name))) : null))));
  return section;
}

function placeHeader(city) {
  const crumbs = [h('li', {}, city.country.name)];
  if (city.parent) crumbs.push(h('li', {}, placeLink(city.parent, placeName(city.parent, { local: false }))));
  else if (city.region) crumbs.push(h('li', {}, city.region));
  const facts = [
    LEVELS[city.level] || 'Place',
    formatCoordinates(city.latitude, city.longitude),
    typeof city.population === 'number' ? `population ${city.population.toLocaleString('en-US')}` : null,
  ].filter(Boolean);
  const entries = entriesOf(city);
  const insideCount = entries.filter((e) => e.inside).length;
  const total = city.partners.totalCount;
  const summary = !entries.length ? 'No recorded partnerships.'
    : total > entries.length ? `${plural(total, 'partnership')}, ${entries.length} shown below.`
      : `${plural(entries.length - insideCount, 'partnership')} of its own${insideCount ? `, ${insideCount} of places inside it` : ''}.`;
  return h('header', { class: 'place-header' },
    h('nav', { 'aria-label': 'Where this place lies' }, h('ol', { class: 'breadcrumbs' }, crumbs)),
    h('h1', { tabindex: '-1' }, placeName(city)),
    h('p', { class: 'place-facts' }, facts.join(' · ')),
    h('p', { class: 'place-summary' }, summary),
    h('p', { class: 'place-actions' },
      navLink(pathHref(city.id), { class: 'button button-quiet' }, `Find a path from ${city.name}`),
      city.wikidataId ? [' ', h('a', { class: 'button button-quiet', href: `https://www.wikidata.org/wiki/${city.wikidataId}`, rel: 'noopener noreferrer' }, `Wikidata ${city.wikidataId}`)] : null));
}

/** Build the view. Returns the element and a function to draw the map and the network once
 * the element is in the page (they are drawn at their real width). */
export function placeView(result, { onOpen, onMore = null }) {
  const { data, errors, query, variables, missing } = result;
  const city = data.city;
  const entries = entriesOf(city);
  const map = mapSection(city, entries);
  const network = networkSection(city, entries, onOpen);
  const notes = missing.suggestPartners
    ? ['This server does not know suggestPartners yet, so the page asked again without it: this is the request it answered.']
    : [];
  const onThisPage = h('nav', { class: 'on-this-page', 'aria-label': 'On this page' }, h('ul', {},
    [['partners', 'Partners'], ['timeline', 'Timeline'], ['map', 'Map'], ['network', 'Network'],
      ['suggestions', 'Suggestions'], ['request', 'Request']]
      .map(([id, text]) => h('li', {}, h('a', { href: `#${id}` }, text)))));
  const generalErrors = errors.filter((e) => !(e.path && e.path[0] === 'suggestPartners'));
  const element = h('article', { class: 'place', 'data-place': city.id, 'aria-labelledby': 'place-title' },
    placeHeader(city),
    onThisPage,
    generalErrors.length ? h('div', { class: 'notice notice-warn', role: 'note' },
      h('p', {}, 'Part of this view could not be loaded:'),
      h('ul', {}, generalErrors.map((e) => h('li', {}, e.message)))) : null,
    h('div', { class: 'place-grid' },
      h('div', { class: 'place-main' },
        partnersSection(city, entries, onMore && ((after) => onMore(after, result))),
        timelineSection(city, entries)),
      h('div', { class: 'place-side' },
        map.section,
        network.section,
        suggestionsSection(city, data, missing.suggestPartners, errors))),
    requestPanel({ query, variables, notes }));
  element.querySelector('h1').id = 'place-title';
  return {
    element,
    title: city.name,
    afterMount: () => {
      map.draw();
      network.draw();
    },
  };
}

export function notFoundView(id) {
  return h('div', { class: 'state state-empty' },
    h('h1', { tabindex: '-1' }, 'No such place'),
    h('p', {}, 'No place has this id: it may have been removed, or the address was cut short. Search for the place by name above.'),
    h('p', {}, navLink('/', { class: 'button' }, 'Back to the start')),
    h('p', { class: 'muted' }, 'Id: ', h('code', {}, id)));
}

export { placeHref };
