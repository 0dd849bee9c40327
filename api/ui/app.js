// The page's router: `#/VIEW?key=value` selects a view and its parameters, so any view can be
// shared as a link. Each view module exports `mount(main, params)`, which returns
// `{update(params), unmount()}`.

import { setToken, token } from "./api.js";
import * as health from "./health.js";
import * as images from "./images.js";
import * as leaderboard from "./leaderboard.js";
import * as matrices from "./matrices.js";
import * as plugins from "./plugins.js";
import * as runs from "./runs.js";
import * as sweeps from "./sweeps.js";

const VIEWS = { images, runs, leaderboard, sweeps, plugins, matrices, health };
const DEFAULT_VIEW = "images";

let current = null; // { name, view }

/** The view name and parameters of the location's hash. */
export function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [name, query = ""] = hash.split("?");
  return { name: VIEWS[name] ? name : DEFAULT_VIEW, params: new URLSearchParams(query) };
}

/** Sets the location's parameters of the current view without reloading it. */
export function setParams(params) {
  const { name } = route();
  const q = new URLSearchParams(params).toString();
  const hash = `#/${name}${q ? "?" + q : ""}`;
  if (location.hash !== hash) location.hash = hash;
}

function show() {
  const { name, params } = route();
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.view === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (current && current.name === name) {
    current.view.update(params);
    return;
  }
  if (current) current.view.unmount();
  const main = document.getElementById("main");
  main.replaceChildren();
  document.title = `crypto-gaf · ${name}`;
  current = { name, view: VIEWS[name].mount(main, params) };
}

// The write token: entered once, kept in this browser session (sessionStorage) only, sent only
// as an Authorization header; never shown, never in a URL.
function tokenForm() {
  const form = document.getElementById("token-form");
  const input = document.getElementById("token");
  const state = document.getElementById("token-state");
  const say = () => (state.textContent = token() ? "token set for this session" : "no token: reading only");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
    input.value = "";
    say();
  });
  document.getElementById("token-forget").addEventListener("click", () => {
    setToken("");
    input.value = "";
    say();
  });
  say();
}

tokenForm();
window.addEventListener("hashchange", show);
show();
