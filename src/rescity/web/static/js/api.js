// Calls to the rescity API with the bearer token from the sign-in form.
const TOKEN_KEY = "rescity.token";
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** Tell the page that the server no longer accepts the token (it shows the sign-in form). */
export function unauthorized() {
  onUnauthorized();
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Sign in with the OAuth2 password flow; keeps the access token for this browser tab. */
export async function login(username, password) {
  const body = new URLSearchParams({ username, password, grant_type: "password" });
  const r = await fetch("/api/v1/auth/token", { method: "POST", body });
  if (!r.ok) {
    let msg = r.statusText;
    try {
      msg = (await r.json()).error.message;
    } catch (e) { /* keep the status text */ }
    throw new ApiError(r.status, msg);
  }
  const j = await r.json();
  sessionStorage.setItem(TOKEN_KEY, j.access_token);
  return j;
}

/** GET (or another method) an API path; JSON back. A 401 signs the user out. */
export async function api(path, { params = {}, method = "GET", json = undefined, signal } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => url.searchParams.append(k, x));
    else url.searchParams.set(k, v);
  }
  const headers = { Authorization: `Bearer ${token()}` };
  const init = { method, headers, signal };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  const r = await fetch(url, init);
  if (r.status === 401) {
    unauthorized();
    throw new ApiError(401, "unauthorized");
  }
  if (!r.ok) {
    let msg = r.statusText;
    try {
      msg = (await r.json()).error.message;
    } catch (e) { /* keep the status text */ }
    throw new ApiError(r.status, msg);
  }
  return r.json();
}
