// GraphQL over fetch to the API that served this page, with the bearer token.
import { storedToken } from './token.js';

export class RequestFailed extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

export async function gql(query, variables = {}) {
  const headers = { 'content-type': 'application/json' };
  const token = storedToken();
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
    });
  } catch (exc) {
    throw new RequestFailed(String(exc), 'NETWORK');
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new RequestFailed(`HTTP ${response.status}`, 'HTTP');
  }
  if (body.errors?.length) {
    const first = body.errors[0];
    throw new RequestFailed(first.message, first.extensions?.code || `HTTP ${response.status}`);
  }
  return body.data;
}

// A mutation's payload; its userErrors become one RequestFailed naming each of them.
export async function mutate(query, variables, field) {
  const data = await gql(query, variables);
  const payload = data[field];
  if (payload.userErrors?.length) {
    const text = payload.userErrors
      .map((e) => (e.field ? `${e.field}: ${e.message}` : e.message))
      .join('; ');
    throw new RequestFailed(text, payload.userErrors[0].code);
  }
  return payload;
}
