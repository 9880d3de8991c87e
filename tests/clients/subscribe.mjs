// graphql-ws, as Apollo's GraphQLWsLink, urql and browsers' clients use it: one place's
// partnership changes, subscribed over WebSocket while the writes go over HTTP.
// node subscribe.mjs <http url of /graphql> <editor token> <place id> <another place id>
// Prints the events received as JSON; exits non-zero, saying why, on any failure.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, place, other] = process.argv.slice(2);
const TIMEOUT_MS = 20000;

async function http(query, variables) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`${query}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const events = [];
const socketErrors = [];
const client = createClient({
  url: url.replace(/^http/, "ws"),
  webSocketImpl: WebSocket,
  retryAttempts: 0,
  on: {
    closed: (event) => {
      if (event?.code && event.code !== 1000) socketErrors.push(`closed ${event.code} ${event.reason}`);
    },
    error: (error) => socketErrors.push(String(error?.message ?? error)),
  },
});

let wake = () => {};
const subscription = client.iterate({
  query: `subscription Changes($city: ID) {
    partnershipChanged(city: $city) { action partnershipId partnership { id description } } }`,
  variables: { city: place },
});
const reader = (async () => {
  for await (const result of subscription) {
    if (result.errors) throw new Error(`subscription errors: ${JSON.stringify(result.errors)}`);
    events.push(result.data.partnershipChanged);
    wake();
  }
})();

function until(predicate, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(
      `timed out waiting for ${what}; events: ${JSON.stringify(events)}; ` +
      `socket: ${JSON.stringify(socketErrors)}`)), TIMEOUT_MS);
    const check = () => {
      if (predicate()) { clearTimeout(timer); resolve(); }
    };
    wake = check;
    check();
  });
}

try {
  const UPDATE = `mutation ($id: ID!, $text: String) {
    updatePartnership(id: $id, input: {description: $text}) { id } }`;
  const CREATE = `mutation ($a: ID!, $b: ID!) {
    createPartnership(input: {cities: [$a, $b], kind: COOPERATION, status: PROPOSED}) { id } }`;
  const DELETE = `mutation ($id: ID!) { deletePartnership(id: $id) }`;
  // The protocol has no "subscribed" answer: probe with a write until its event arrives.
  const { city } = await http(`query ($id: ID!) { city(id: $id) {
    partnerships(first: 1) { nodes { id } } } }`, { id: place });
  const probed = city.partnerships.nodes[0].id;
  for (let n = 0; !events.length; n++) {
    if (n > 100) throw new Error(`no event after ${n} probes; socket: ${JSON.stringify(socketErrors)}`);
    await http(UPDATE, { id: probed, text: `probe ${n}` });
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const { createPartnership: created } = await http(CREATE, { a: place, b: other });
  await http(UPDATE, { id: created.id, text: "seen by graphql-ws" });
  // a change to another place's partnership is not this subscription's business
  const { city: otherCity } = await http(`query ($id: ID!) { city(id: $id) {
    partnerships(first: 1) { nodes { id } } } }`, { id: other });
  const elsewhere = otherCity.partnerships.nodes[0].id;
  await http(UPDATE, { id: elsewhere, text: "elsewhere" });
  await http(DELETE, { id: created.id });
  const about = (id) => events.filter((event) => event.partnershipId === id);
  await until(() => about(created.id).length >= 3, "created, updated and deleted");
  await new Promise((resolve) => setTimeout(resolve, 300));
  console.log(JSON.stringify({ events, created: created.id, probed, elsewhere, socketErrors }));
  await subscription.return();
  await reader;
  await client.dispose();
  process.exit(0);
} catch (error) {
  console.error(error.stack ?? String(error));
  process.exit(1);
}
