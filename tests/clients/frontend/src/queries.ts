// Three queries a frontend writes, typed by GraphQL Code Generator's client preset and
// run through Apollo Client: `tsc --noEmit` checks that the generated types fit them.
import { ApolloClient } from "@apollo/client";
import { graphql } from "./gql";

export const PlacePartners = graphql(`
  query PlacePartners($id: ID!, $after: String, $withSubdivisions: Boolean) {
    city(id: $id) {
      id
      name
      localName
      country { code }
      partners(first: 10, after: $after, includeSubdivisions: $withSubdivisions) {
        totalCount
        edges {
          cursor
          node {
            kind
            status
            since
            city { id name country { code } }
            partnership { id milestones { date kind description } }
          }
        }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
`);

export const SearchPlaces = graphql(`
  query SearchPlaces($text: String!) {
    search(text: $text, first: 5) { id name level partnerCount }
  }
`);

export const PathBetween = graphql(`
  query PathBetween($from: ID!, $to: ID!) {
    path(from: $from, to: $to) {
      hops
      cities { id name }
      partnerships { id kind since }
    }
  }
`);

export type Kind = "SISTER_CITY" | "FRIENDSHIP" | "COOPERATION";

export async function partnersOf(client: ApolloClient, id: string): Promise<string[]> {
  const { data } = await client.query({ query: PlacePartners, variables: { id } });
  const edges = data?.city?.partners.edges ?? [];
  return edges.map((edge) => {
    const since: string | null | undefined = edge.node.since; // PartialDate is a string
    const kind: Kind = edge.node.kind;
    return `${edge.node.city.name} (${kind}, ${since ?? "undated"})`;
  });
}

export async function firstMatch(client: ApolloClient, text: string): Promise<string | null> {
  const { data } = await client.query({ query: SearchPlaces, variables: { text } });
  const place = data?.search[0];
  const count: number | undefined = place?.partnerCount;
  return place ? `${place.name}: ${count ?? 0}` : null;
}

export async function hops(client: ApolloClient, from: string, to: string): Promise<number> {
  const { data } = await client.query({ query: PathBetween, variables: { from, to } });
  return data?.path?.hops ?? -1;
}
