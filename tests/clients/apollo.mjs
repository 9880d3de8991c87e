// Apollo Client 4 with the README's cache: pages through each connection two at a time,
// forwards with fetchMore({after: endCursor}) and backwards with fetchMore({before:
// startCursor}), and checks that the cache merged every page into the whole list.
// node apollo.mjs <http url of /graphql> <cases.json>
// cases.json: [{name, document, path, variables, expected: [node, ...]}]
import { readFileSync } from "node:fs";
import { ApolloClient, HttpLink, gql } from "@apollo/client";

const [url, casesFile] = process.argv.slice(2);
const cases = JSON.parse(readFileSync(casesFile, "utf8"));

function dig(data, path) {
  return path.reduce((value, key) => value?.[key], data);
}

// A fresh module instance per walk: the README's cache is one object.
async function freshCache() {
  const module = await import(`./apollo-cache.mjs?${Math.random()}`);
  return module.cache;
}

function strip(value) {
  // Apollo adds __typename to every selection: the expected nodes have none.
  if (Array.isArray(value)) return value.map(strip);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value)
      .filter(([key]) => key !== "__typename").map(([key, v]) => [key, strip(v)]));
  }
  return value;
}

async function walk(testCase, backwards) {
  const client = new ApolloClient({ link: new HttpLink({ uri: url }), cache: await freshCache() });
  const query = gql(testCase.document);
  const variables = { ...testCase.variables, ...(backwards ? { last: 2 } : { first: 2 }) };
  const observable = client.watchQuery({ query, variables, fetchPolicy: "network-only" });
  let result = await observable.refetch();
  let page = dig(result.data, testCase.path);
  let pages = 1;
  while (backwards ? page.pageInfo.hasPreviousPage : page.pageInfo.hasNextPage) {
    if (pages++ > 50) throw new Error("more than 50 pages");
    const more = backwards
      ? { before: page.pageInfo.startCursor } : { after: page.pageInfo.endCursor };
    result = await observable.fetchMore({ variables: more });
    page = dig(result.data, testCase.path);
  }
  const merged = dig(client.readQuery({ query, variables }), testCase.path);
  client.stop();
  return { pages, nodes: strip(merged.edges.map((edge) => edge.node)) };
}

const failures = [];
const walked = [];
for (const testCase of cases) {
  for (const backwards of [false, true]) {
    const direction = backwards ? "backwards" : "forwards";
    try {
      const { pages, nodes } = await walk(testCase, backwards);
      const expected = JSON.stringify(testCase.expected);
      if (JSON.stringify(nodes) !== expected) {
        failures.push(`${testCase.name} ${direction}: the cache holds ${JSON.stringify(nodes)}, ` +
                      `the connection has ${expected}`);
      }
      walked.push({ name: testCase.name, direction, pages, nodes: nodes.length });
    } catch (error) {
      failures.push(`${testCase.name} ${direction}: ${error.stack ?? error}`);
    }
  }
}
console.log(JSON.stringify({ walked, failures }));
process.exit(failures.length ? 1 : 0);
