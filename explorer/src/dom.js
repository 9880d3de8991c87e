// A tiny element builder and the words the explorer uses for the API's enum values.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(element, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') element.setAttribute('class', value);
    else if (key === 'text') element.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** h('a', {href: '/'}, 'text', otherNode) */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export const LEVELS = {
  CITY: 'City', TOWN: 'Town', DISTRICT: 'District', PROVINCE: 'Province',
  PREFECTURE: 'Prefecture', STATE: 'State', REGION: 'Region', OTHER: 'Place',
};

export const KINDS = {
  SISTER_CITY: 'Sister city', FRIENDSHIP: 'Friendship city', COOPERATION: 'Cooperation agreement',
};

/** Short forms for the network's edge labels and the path chain. */
export const KINDS_SHORT = {
  SISTER_CITY: 'sister city', FRIENDSHIP: 'friendship', COOPERATION: 'cooperation',
};

export const STATUSES = {
  PROPOSED: 'Proposed', NEGOTIATING: 'Being negotiated', ACTIVE: 'Active',
  SUSPENDED: 'Suspended', ENDED: 'Ended',
};

export const MILESTONES = {
  PROPOSED: 'Proposed', AUTHORIZED: 'Authorized', MOU_SIGNED: 'MoU signed',
  AGREEMENT_SIGNED: 'Agreement signed', FORMALIZED: 'Formalized', VISIT: 'Visit',
  RENEWED: 'Renewed', SUSPENDED: 'Suspended', ENDED: 'Ended', OTHER: 'Milestone',
};

export const ORGANIZATIONS = {
  GOVERNMENT: 'government', UNIVERSITY: 'university', SCHOOL: 'school', COMPANY: 'company',
  PORT_AUTHORITY: 'port authority', ASSOCIATION: 'association', OTHER: 'organization',
};

// The language of a place's local name, so screen readers pronounce it (only where one
// language clearly dominates; otherwise no lang attribute).
const LANGUAGES = {
  VN: 'vi', JP: 'ja', FR: 'fr', DE: 'de', IT: 'it', ES: 'es', PT: 'pt', NL: 'nl', PL: 'pl',
  CZ: 'cs', SK: 'sk', HU: 'hu', RO: 'ro', SE: 'sv', NO: 'nb', DK: 'da', FI: 'fi', KR: 'ko',
  CN: 'zh', TW: 'zh', TH: 'th', ID: 'id', RU: 'ru', UA: 'uk', GR: 'el', TR: 'tr', US: 'en',
  GB: 'en', AU: 'en', NZ: 'en', IE: 'en', BR: 'pt', MX: 'es', AR: 'es', CL: 'es', KH: 'km',
  LA: 'lo',
};

export function languageOf(city) {
  return (city && city.country && LANGUAGES[city.country.code]) || null;
}

/** "Hai Phong" and, when it differs, the local name beside it in the place's language. */
export function placeName(city, { local = true, tag = 'span' } = {}) {
  const showLocal = local && city.localName && city.localName !== city.name;
  return h(tag, { class: 'place-name' }, city.name,
    showLocal ? [' ', h('span', { class: 'local-name', lang: languageOf(city) }, city.localName)] : null);
}

/** The words that tell same-name places apart: "City in Thua Thien Hue, Vietnam". */
export function placeContext(city) {
  const level = LEVELS[city.level] || 'Place';
  const where = [city.parent && city.parent.name, city.country && city.country.name]
    .filter(Boolean).join(', ');
  return where ? `${level} in ${where}` : level;
}

export function formatKm(km) {
  if (km === null || km === undefined) return null;
  return `${Math.round(km).toLocaleString('en-US')} km`;
}

export function formatCoordinates(lat, lon) {
  if (lat === null || lat === undefined || lon === null || lon === undefined) return null;
  const ns = lat >= 0 ? 'N' : 'S';
  const ew = lon >= 0 ? 'E' : 'W';
  return `${Math.abs(lat).toFixed(2)}° ${ns}, ${Math.abs(lon).toFixed(2)}° ${ew}`;
}

export function hasCoordinates(city) {
  return city && typeof city.latitude === 'number' && typeof city.longitude === 'number';
}

/** A partial date as the API gives it ("2009-04"), in a <time> element; never a made-up day. */
export function dateElement(value) {
  return h('time', { datetime: value }, value);
}

export function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}
