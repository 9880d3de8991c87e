// Runs graphql-http's server audits (the GraphQL over HTTP spec) against a running server
// and prints each audit's result; exits 1 when any MUST audit fails.
//
//   npm ci && node audit.mjs http://127.0.0.1:8000/graphql
import { serverAudits } from 'graphql-http';

const url = process.argv[2] ?? process.env.GRAPHQL_URL;
if (!url) {
  console.error('usage: node audit.mjs http://127.0.0.1:8000/graphql');
  process.exit(2);
}

const results = [];
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  results.push(result);
  const reason = result.status === 'ok' ? '' : `: ${result.reason}`;
  console.log(`${result.status.padEnd(6)} ${result.id} ${result.name}${reason}`);
}

const summary = {};
for (const { name, status } of results) {
  const level = name.split(' ', 1)[0];
  summary[level] ??= { ok: 0, failed: 0 };
  summary[level][status === 'ok' ? 'ok' : 'failed'] += 1;
}
const failedMust = results.filter((r) => r.name.startsWith('MUST') && r.status !== 'ok');
console.log(JSON.stringify({ summary, failedMust: failedMust.map((r) => r.id) }));
process.exit(failedMust.length ? 1 : 0);
