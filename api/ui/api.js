// The API as the page uses it: JSON requests whose failures carry the API's own message, the
// write token (kept in this browser session only, sent only as a bearer header), and the
// banner that says when the API cannot be reached.

const TOKEN_KEY = "cgaf-token";

/** An API failure: the HTTP status (0 when the API was not reached), the error code and the
 * API's message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The token of this browser session, or "". */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

/** Keeps `value` as the token of this session ("" forgets it). */
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The error of a failed answer: the API's JSON message when there is one. */
async function failure(res) {
  let code = "http_" + res.status;
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch (_) {
    // Not JSON: keep the status line.
  }
  return new ApiError(res.status, code, message);
}

/** Sends a request; resolves to the parsed JSON (or the Response with `raw`), throws ApiError.
 * `auth` adds the session's token as `Authorization: Bearer`. */
export async function api(path, { method = "GET", json, body, auth = false, raw = false, headers = {} } = {}) {
  const h = { ...headers };
  if (json !== undefined) {
    h["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  if (auth) {
    const t = token();
    if (!t) throw new ApiError(401, "no_token", "enter the API token first (it is kept for this browser session only)");
    h["Authorization"] = "Bearer " + t;
  }
  let res;
  try {
    res = await fetch(path, { method, body, headers: h, cache: "no-cache" });
  } catch (e) {
    throw new ApiError(0, "unreachable", "API unavailable: " + e.message);
  }
  if (!res.ok) throw await failure(res);
  if (raw) return res;
  if (res.status === 204) return null;
  return res.json();
}

const banner = () => document.getElementById("banner");

/** Shows `text` in the banner at the top of the page. */
export function showBanner(text) {
  const b = banner();
  if (b.textContent !== text) b.textContent = text;
  b.hidden = false;
}

/** Hides the banner. */
export function hideBanner() {
  banner().hidden = true;
}

/** Creates an element: `el("p", {class: "x"}, "text", child)`. Attributes set with
 * setAttribute; `on*` functions become listeners. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

/** Time `ms` (epoch milliseconds or an ISO string) as local date and time. */
export function when(t) {
  if (t === null || t === undefined) return "—";
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString();
}
