// The GraphQL documents behind each view: one request per view, shown to the reader as is.

export const SEARCH_QUERY = `query Search($text: String!) {
  search(text: $text, first: 8) {
    id name localName level
    country { code name }
    parent { name }
  }
}`;

export const HOME_QUERY = `query Home {
  stats { cities partnerships countries }
  cities(first: 24, orderBy: { field: PARTNER_COUNT, direction: DESC }) {
    totalCount
    nodes {
      id name localName level partnerCount
      country { code name }
      parent { name }
    }
  }
}`;

const SUGGESTIONS = `
  suggestPartners(city: $id, first: 5) {
    score reasons
    city { id name localName level country { code name } }
    sharedSectors { slug name }
  }`;

/**
 * The place view: the place, its partners with everything shown about them (and, for a
 * province, the partners of the places inside it), partners of partners for the network,
 * and suggestions. `suggestPartners: false` leaves out a field the server may not have yet.
 */
export function placeQuery({ suggestPartners = true } = {}) {
  return `query Place($id: ID!) {
  city(id: $id) {
    id name localName level latitude longitude population wikidataId
    country { code name }
    parent { id name localName level }
    partners(first: 100, includeSubdivisions: true) {
      totalCount
      nodes {
        kind status since distanceKm
        sectors { slug name }
        city {
          id name localName level latitude longitude
          country { code name }
          parent { id name }
          partners(first: 20) {
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
      }
    }
  }${suggestPartners ? SUGGESTIONS : ''}
}`;
}

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
