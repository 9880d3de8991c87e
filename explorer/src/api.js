// Talking to the citylinks GraphQL endpoint on the same origin, and the errors a person sees.

export const ENDPOINT = '/graphql';
const TIMEOUT_MS = 15000;

/** An error worth showing in words: what happened and, when known, what to do. */
export class ApiError extends Error {
  constructor(message, { kind = 'server', details = [], codes = [] } = {}) {
    super(message);
    this.kind = kind; // 'network' | 'timeout' | 'server' | 'graphql' | 'rate-limited'
    this.details = details;
    this.codes = codes;
  }
}

/**
 * POST one GraphQL request. Resolves to `data`; rejects with an ApiError when the server
 * does not answer or answers with errors and no usable data.
 */
export async function graphql(query, variables = {}, { signal } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort('timeout'), TIMEOUT_MS);
  const abort = () => controller.abort('cancelled');
  if (signal) {
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
  }
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/graphql-response+json, application/json',
      },
      body: JSON.stringify({ query, variables }),
      signal: controller.signal,
    });
  } catch (error) {
    if (controller.signal.aborted && controller.signal.reason === 'cancelled') throw error;
    if (controller.signal.aborted) {
      throw new ApiError(`The server did not answer within ${TIMEOUT_MS / 1000} seconds.`,
        { kind: 'timeout' });
    }
    throw new ApiError('The server did not answer. Check that citylinks is running, then try again.',
      { kind: 'network' });
  } finally {
    clearTimeout(timer);
    if (signal) signal.removeEventListener('abort', abort);
  }

  let body = null;
  try {
    body = await response.json();
  } catch {
    // A proxy error page or an empty answer: reported below with the status.
  }
  if (!body || typeof body !== 'object') {
    throw new ApiError(`The server answered with HTTP ${response.status} and no GraphQL result.`);
  }
  const errors = Array.isArray(body.errors) ? body.errors : [];
  if (errors.length && (body.data === null || body.data === undefined)) {
    const codes = errors.map((e) => (e.extensions && e.extensions.code) || 'ERROR');
    const limited = errors.find((e) => e.extensions && e.extensions.code === 'RATE_LIMITED');
    if (limited) {
      // The server's rate limit (HTTP 429): say when to come back rather than "an error".
      const after = Number(limited.extensions.retryAfter || response.headers.get('Retry-After')) || null;
      const wait = !after ? 'a minute' : after < 90 ? `${after} seconds`
        : `${Math.ceil(after / 60)} minutes`;
      const error = new ApiError(
        `The server is answering too many requests from this address; try again in ${wait}.`,
      { kind: 'rate-limited', details: errors, codes });
      error.retryAfter = after;
      throw error;
    }
    throw new ApiError(errors.map((e) => e.message).join(' '), {
      kind: 'graphql', details: errors, codes,
    });
  }
  return { data: body.data, errors };
}

/** Whether a GraphQL error says the schema has no such field or argument. */
export function missingFromSchema(error, name) {
  if (!(error instanceof ApiError) || error.kind !== 'graphql') return false;
  return error.details.some((e) => (e.extensions && e.extensions.code) === 'GRAPHQL_VALIDATION_FAILED'
    && new RegExp(`(field|argument) ['"]${name}['"]`).test(e.message));
}

/** The GraphiQL address that opens with this request filled in (Strawberry's GraphiQL reads q=). */
export function graphiqlUrl(query, variables) {
  const params = [`q=${encodeURIComponent(query)}`];
  if (variables && Object.keys(variables).length) {
    params.push(`variables=${encodeURIComponent(JSON.stringify(variables, null, 2))}`);
  }
  return `${ENDPOINT}?${params.join('&')}`;
}
