// apollo-cache.mjs: Apollo Client's cache for citylinks' connections (README, "Frontend").
import { InMemoryCache } from "@apollo/client";
import { relayStylePagination } from "@apollo/client/utilities";

export const cache = new InMemoryCache({
  typePolicies: {
    Query: {
      fields: {
        cities: relayStylePagination(["filter", "orderBy"]),
        partnerships: relayStylePagination(["filter", "orderBy"]),
        organizations: relayStylePagination(["filter"]),
      },
    },
    Country: { fields: { cities: relayStylePagination(["filter"]) } },
    City: {
      fields: {
        children: relayStylePagination(),
        partners: relayStylePagination(["filter", "includeSubdivisions"]),
        partnerships: relayStylePagination(["filter", "includeSubdivisions"]),
      },
    },
    Sector: { fields: { partnerships: relayStylePagination(["filter"]) } },
  },
});
