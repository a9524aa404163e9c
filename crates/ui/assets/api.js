// Every call to the daemon: the CSRF token on each change, Docker's error
// messages surfaced as they are, streams read as JSON lines.

let csrf = null;
let onLoggedOut = () => {};

export function setSession(token, loggedOut) {
  csrf = token;
  if (loggedOut) onLoggedOut = loggedOut;
}
export const csrfToken = () => csrf;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function request(method, path, body, contentType, extraHeaders = {}) {
  const headers = { ...extraHeaders };
  if (csrf && method !== 'GET') headers['X-CSRF-Token'] = csrf;
  let payload;
  if (body instanceof Blob || typeof body === 'string') {
    payload = body;
    headers['Content-Type'] = contentType || 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  const r = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  if (r.status === 401 && !path.startsWith('/auth/')) onLoggedOut();
  if (!r.ok) {
    const text = await r.text();
    let message = text;
    try { message = JSON.parse(text).message || text; } catch { /* plain text */ }
    throw new ApiError(r.status, (message || r.statusText).trim());
  }
  return r;
}

const base = '/api/docker';
export const docker = {
  get: async (path) => (await request('GET', base + path)).json(),
  post: (path, body, type) => request('POST', base + path, body, type),
  postJson: async (path, body) => {
    const r = await request('POST', base + path, body);
    const t = await r.text();
    return t ? JSON.parse(t) : {};
  },
  del: (path) => request('DELETE', base + path),
  stream: (method, path, body, type, headers) => request(method, base + path, body, type, headers),
};

// Yields each JSON document of a streaming answer (pull, build, events).
export async function* jsonLines(response) {
  const reader = response.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield JSON.parse(line);
    }
  }
  if (buf.trim()) yield JSON.parse(buf);
}

// A server-sent event stream of JSON documents; returns its closer.
export function subscribe(path, onDoc) {
  const es = new EventSource(path);
  es.onmessage = (e) => {
    try { onDoc(JSON.parse(e.data)); } catch { /* a malformed frame is skipped */ }
  };
  return () => es.close();
}

// Docker's X-Registry-Auth: base64url of the credentials' JSON.
export function registryAuth(username, password, serveraddress) {
  if (!username) return {};
  const json = JSON.stringify({ username, password, serveraddress });
  const b64 = btoa(String.fromCharCode(...new TextEncoder().encode(json)));
  return { 'X-Registry-Auth': b64.replace(/\+/g, '-').replace(/\//g, '_') };
}
