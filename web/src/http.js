// REST calls to the gateway: same origin, the session cookie goes along by itself (the page never sees it).

/** An answer the gateway refused, with its error code and message. */
export class Refused extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Return the JSON of a GET, or throw Refused. */
export async function get(path, params = {}) {
  const query = new URLSearchParams(params).toString();
  return answer(await fetch(query ? `${path}?${query}` : path, { credentials: "same-origin" }));
}

/** Return the JSON answer of a POST of `body`, or throw Refused. */
export async function post(path, body) {
  const init = { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" } };
  return answer(await fetch(path, body === undefined ? init : { ...init, body: JSON.stringify(body) }));
}

async function answer(response) {
  if (response.status === 204) return null;
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body?.error ?? { code: "http_" + response.status, message: response.statusText };
    throw new Refused(response.status, error.code, error.message);
  }
  return body;
}
