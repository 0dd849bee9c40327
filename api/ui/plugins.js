// The Plugins view: every plugin, its versions (which is active, which are quarantined and
// why), this replica's call statistics, when each version was last activated; upload a
// component, activate a version, roll back — writes with the session's token.

import { api, el, when } from "./api.js";
import { setParams } from "./app.js";

function secs(v) {
  return typeof v === "number" ? `${(v * 1e3).toFixed(3)} ms` : "—";
}

export function mount(main, params) {
  const listBody = el("tbody", { id: "plugins-body" });
  const detail = el("section", { id: "plugin-detail", class: "card", "aria-live": "polite" });
  const file = el("input", { id: "plugin-file", name: "file", type: "file", accept: ".wasm,application/wasm", required: true });
  const activate = el("input", { id: "plugin-activate", name: "activate", type: "checkbox", checked: true });
  const uploadError = el("p", { class: "error", role: "alert", id: "plugin-upload-error" });
  const uploadDone = el("p", { role: "status", id: "plugin-upload-status" });
  const upload = el(
    "form",
    { id: "plugin-upload", class: "card", "aria-labelledby": "plugin-upload-title" },
    el("h2", { id: "plugin-upload-title" }, "Upload a plugin"),
    el("div", { class: "field" }, el("label", { for: "plugin-file" }, "Component (.wasm)"), file),
    el("div", { class: "field checkbox" }, activate, el("label", { for: "plugin-activate" }, "Activate at once")),
    el("button", { type: "submit", class: "primary", id: "plugin-upload-button" }, "Upload"),
    uploadError,
    uploadDone,
  );
  main.append(
    el("h1", {}, "Plugins"),
    el(
      "div",
      { class: "columns" },
      el("div", { class: "stack" },
        upload,
        el("section", { class: "card", "aria-labelledby": "plugins-title" },
          el("h2", { id: "plugins-title" }, "Plugins"),
          el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Plugins table" },
            el("table", { id: "plugins-table" },
              el("thead", {}, el("tr", {}, ...["Plugin", "Kind", "Active", "Versions"].map((h) => el("th", { scope: "col" }, h)))),
              listBody)))),
      detail,
    ),
  );

  let alive = true;
  let name = params.get("plugin");

  async function loadList() {
    try {
      const plugins = await api("/api/plugins");
      if (!alive) return;
      listBody.replaceChildren(...plugins.map((p) => el("tr", {},
        el("td", {}, el("a", { href: `#/plugins?plugin=${encodeURIComponent(p.name)}` }, p.name)),
        el("td", {}, p.kind),
        el("td", { "data-plugin": p.name, class: "active-version" }, p.active_version || "none"),
        el("td", {}, p.versions.length))));
    } catch (e) {
      listBody.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "error", role: "alert" }, e.message)));
    }
  }

  async function act(path, json) {
    const error = detail.querySelector(".actions-error");
    if (error) error.textContent = "";
    try {
      await api(path, { method: "POST", json, auth: true });
      await Promise.all([loadPlugin(), loadList()]);
    } catch (e) {
      const err = detail.querySelector(".actions-error");
      if (err) err.textContent = e.message;
    }
  }

  async function loadPlugin() {
    if (!name) {
      detail.replaceChildren(el("h2", {}, "Plugin"), el("p", {}, "Pick a plugin from the list."));
      return;
    }
    const n = name;
    try {
      const p = await api(`/api/plugins/${encodeURIComponent(n)}`);
      if (!alive || n !== name) return;
      const versions = p.versions;
      const statsRows = Object.entries(p.stats || {});
      const activations = versions.filter((v) => v.activated_at).sort((a, b) => b.activated_at.localeCompare(a.activated_at));
      detail.replaceChildren(
        el("h2", { id: "plugin-title" }, `${p.name} (${p.kind})`),
        el("p", {}, "Active version: ", el("strong", { id: "plugin-active" }, p.active_version || "none")),
        el("div", { class: "pager" },
          el("button", { type: "button", id: "plugin-rollback", onclick: () => act(`/api/plugins/${encodeURIComponent(p.name)}/rollback`) }, "Roll back to the previous version")),
        el("p", { class: "error actions-error", role: "alert" }),
        el("h3", {}, "Versions"),
        el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Versions table" },
          el("table", { id: "plugin-versions" },
            el("thead", {}, el("tr", {}, ...["Version", "Active", "Built in", "Uploaded", "Size", "Quarantined", "Reason", ""].map((h) => el("th", { scope: "col" }, h)))),
            el("tbody", {}, ...versions.map((v) => el("tr", { "data-version": v.version },
              el("td", {}, v.version),
              el("td", {}, v.active ? "active" : ""),
              el("td", {}, v.builtin ? "yes" : ""),
              el("td", {}, when(v.uploaded_at)),
              el("td", {}, `${v.size.toLocaleString()} B`),
              el("td", {}, v.quarantined_at ? when(v.quarantined_at) : ""),
              el("td", {}, v.quarantine_reason || ""),
              el("td", {}, v.active ? "" : el("button", { type: "button", class: "activate", "aria-label": `Activate ${p.name} ${v.version}`, onclick: () => act(`/api/plugins/${encodeURIComponent(p.name)}/activate`, { version: v.version }) }, "Activate"))))))),
        el("h3", {}, "Call statistics (this replica)"),
        el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Call statistics table" },
          el("table", { id: "plugin-stats" },
            el("thead", {}, el("tr", {}, ...["Version", "Calls", "Errors", "Faults in a row", "Mean", "Max", "Last error"].map((h) => el("th", { scope: "col" }, h)))),
            el("tbody", {}, ...(statsRows.length ? statsRows.map(([ver, s]) => el("tr", {},
              el("td", {}, ver), el("td", {}, s.calls.toLocaleString()), el("td", {}, s.errors.toLocaleString()),
              el("td", {}, s.consecutive_faults), el("td", {}, secs(s.mean_seconds)), el("td", {}, secs(s.max_seconds)),
              el("td", {}, s.last_error || ""))) : [el("tr", {}, el("td", { colspan: 7 }, "No calls yet."))])))),
        el("h3", {}, "Activations (newest first; the last activation of each version)"),
        el("ol", { id: "plugin-activations" }, ...activations.map((v) => el("li", {}, `${v.version} at ${when(v.activated_at)}${v.active ? " (active)" : ""}`))),
      );
    } catch (e) {
      detail.replaceChildren(el("h2", {}, n), el("p", { class: "error", role: "alert" }, e.message));
    }
  }

  upload.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    uploadError.textContent = "";
    uploadDone.textContent = "";
    const f = file.files[0];
    if (!f) return;
    try {
      const body = await f.arrayBuffer();
      const q = activate.checked ? "?activate=true" : "";
      const res = await api(`/api/plugins${q}`, { method: "POST", body, auth: true, headers: { "Content-Type": "application/wasm" } });
      uploadDone.textContent = `Uploaded ${res.name} ${res.version}${res.active ? ", active" : ""}.`;
      await loadList();
      setParams({ plugin: res.name });
    } catch (e) {
      uploadError.textContent = e.message;
    }
  });

  loadList();
  loadPlugin();
  return {
    update(p) {
      name = p.get("plugin");
      loadPlugin();
    },
    unmount() {
      alive = false;
    },
  };
}
