// Composes the subgraphs given on stdin ([{name, url, sdl}]) with Apollo's composition
// library; prints {"errors": [...], "supergraphSdl": "..."} as JSON.
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const services = JSON.parse(input).map(({ name, url, sdl }) => ({
  name, url, typeDefs: parse(sdl),
}));
const result = composeServices(services);
process.stdout.write(JSON.stringify({
  errors: (result.errors ?? []).map((error) => error.message),
  supergraphSdl: result.supergraphSdl ?? null,
}));
