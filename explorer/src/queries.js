// The GraphQL documents behind each view: one request per view, shown to the reader as is.

export const SEARCH_QUERY = `query Search($text: String!) {
  search(text: $text, first: 8) {
    id name localName level aliases partnerCount region
    country { code name }
    parent { name }
  }
}`;

const SUGGESTIONS = `
  suggestPartners(city: $id, first: 5) {
    score reasons
    city { id name localName level country { code name } }
    sharedSectors { slug name }
  }`;

/** Partners a page: a hub (a capital with 100+ partners) comes in pages, so that the first
 * answer stays small; partners of partners are a few each, the rest counted. */
export const PARTNER_PAGE = 40;
const PARTNER_PAGE_FIELDS = `
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        kind status since distanceKm
        sectors { slug name }
        city {
          id name localName level latitude longitude
          country { code name }
          parent { id name }
          partners(first: 6) {
            totalCount
            nodes { kind city { id name localName level country { code name } } }
          }
        }
        partnership {
          id description until
          cities { id name localName level latitude longitude country { code } }
          milestones { date kind description source { url title publisher publishedOn } }
          sources { url title publisher publishedOn }
          organizations { name kind }
        }
      }`;

/**
 * The place view: the place, its partners with everything shown about them (and, for a
 * province, the partners of the places inside it), partners of partners for the network,
 * and suggestions. `suggestPartners: false` leaves out a field the server may not have yet.
 */
export function placeQuery({ suggestPartners = true } = {}) {
  return `query Place($id: ID!) {
  city(id: $id) {
    id name localName level latitude longitude population wikidataId region
    country { code name }
    parent { id name localName level }
    partners(first: ${PARTNER_PAGE}, includeSubdivisions: true) {${PARTNER_PAGE_FIELDS}
    }
  }${suggestPartners ? SUGGESTIONS : ''}
}`;
}

/** The next page of a place's partners (a hub has more than one page), the same fields. */
export const MORE_PARTNERS_QUERY = `query MorePartners($id: ID!, $after: String!) {
  city(id: $id) {
    id
    partners(first: ${PARTNER_PAGE}, after: $after, includeSubdivisions: true) {${PARTNER_PAGE_FIELDS}
    }
  }
}`;

/** A place chosen in advance for the path finder (its name fills the form in). */
export const PICKED_QUERY = `query Picked($id: ID!) {
  city(id: $id) { id name localName level country { code name } }
}`;

/** The path view; `path: false` asks only for the two places, for a server without `path`. */
export function pathQuery({ path = true } = {}) {
  const place = 'id name localName level country { code name }';
  return `query Path($from: ID!, $to: ID!) {
  from: city(id: $from) { ${place} }
  to: city(id: $to) { ${place} }${path ? `
  path(from: $from, to: $to, maxHops: 6) {
    hops
    cities { ${place} latitude longitude }
    partnerships {
      id kind status since
      cities { id name }
      sectors { slug name }
      sources { url title publisher publishedOn }
    }
  }` : ''}
}`;
}

/** Arcs that fit the map's filter and are within the area zoomed in on (a map interaction). */
export const ARCS_QUERY = `query MapArea($filter: PartnershipFilter, $within: BoundingBoxInput!) {
  partnershipStats(filter: $filter) {
    arcs(first: 1000, within: $within) { id names coordinates }
  }
}`;

/**
 * The world (no country) or one country, under the filters in the address bar: counts,
 * flows between countries, rankings and charts; arcs too once a filter narrows the set.
 */
export function atlasQuery({ country = false, arcs = false } = {}) {
  return `query ${country ? 'Country' : 'World'}($filter: PartnershipFilter${country ? ', $code: String!' : ''}) {
  partnershipStats(filter: $filter) {
    partnerships undated places countries
    byKind { key count }
    byStatus { key count }
    byDecade { key count }
    bySector(first: 20) { key count }
    countryPairs(first: 100) { count countries { code name } }
    byCountry(first: 100) { count latitude longitude country { code name } }
    topPlaces(first: ${country ? 20 : 10}${country ? ', country: $code' : ''}) {
      count
      city { id name localName level region country { code name } parent { name } }
    }${country ? `
    partnerCountries(first: 100) { count country { code name } }
    byRegion(first: 15) { key count }` : ''}${arcs ? `
    arcs(first: 1000) { id names coordinates }` : ''}
  }${country ? `
  country(code: $code) { code name }` : ''}
  countries { code name }
  sectors { slug name }
}`;
}
