// The Plugins view: every plugin, its versions (which is active, which are quarantined and
// why), this replica's call statistics, its canaries (a stored version in shadow beside the
// active one: the report and the verdict) and its swap history (the activation log, paged);
// upload a component, activate a version, roll back, start or cancel a canary — writes with the
// session's token.

import { api, el, when } from "./api.js";
import { setParams } from "./app.js";

function secs(v) {
  return typeof v === "number" ? `${(v * 1e3).toFixed(3)} ms` : "—";
}

function ratio(v) {
  return typeof v === "number" ? `${v.toFixed(2)}×` : "—";
}

/** One row of the activation log. */
function activationRow(a) {
  return el("tr", { "data-activation": a.id }, el("td", {}, when(a.activated_at)), el("td", {}, a.version), el("td", {}, a.reason));
}

/** One canary report as a table row. */
function canaryRow(c) {
  const t = c.tally || {};
  const outputs = c.kind === "strategy"
    ? `${(t.decisions_agreed ?? 0).toLocaleString()} of ${(t.decisions ?? 0).toLocaleString()} decisions agree; max |PnL diff| ${t.max_abs_pnl_diff ?? 0}`
    : `${(t.values_changed ?? 0).toLocaleString()} of ${(t.values_compared ?? 0).toLocaleString()} values changed; max |diff| ${t.max_abs_diff ?? 0}; ${(t.pixels_changed ?? 0).toLocaleString()} pixels`;
  return el("tr", { "data-canary": c.id, "data-state": c.state },
    el("td", {}, String(c.id)),
    el("td", {}, `${c.candidate_version} vs ${c.active_version}`),
    el("td", { class: `canary-state ${c.state}` }, c.state),
    el("td", {}, (t.calls ?? 0).toLocaleString()),
    el("td", {}, outputs),
    el("td", {}, (t.candidate_errors ?? 0).toLocaleString()),
    el("td", {}, ratio(c.latency_ratio)),
    el("td", {}, ratio(c.memory_ratio)),
    el("td", {}, c.reason || ""));
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
  let poll = null;

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

  async function act(path, json, method = "POST") {
    const error = detail.querySelector(".actions-error");
    if (error) error.textContent = "";
    try {
      await api(path, { method, json, auth: true });
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
      const canaries = p.canaries || [];
      const running = canaries.find((c) => c.state === "running");
      const candidates = versions.filter((v) => !v.active && !v.quarantined_at);
      const activationsBody = el("tbody", {}, ...(p.activations || []).map(activationRow));
      const older = el("button", { type: "button", id: "plugin-activations-older", hidden: (p.activations || []).length < 20 }, "Older activations");
      older.addEventListener("click", async () => {
        const rows = activationsBody.querySelectorAll("tr[data-activation]");
        const before = rows.length ? rows[rows.length - 1].dataset.activation : "";
        try {
          const page = await api(`/api/plugins/${encodeURIComponent(p.name)}/activations?limit=50${before ? `&before=${before}` : ""}`);
          activationsBody.append(...page.activations.map(activationRow));
          older.hidden = page.next_before == null;
        } catch (e) {
          older.replaceWith(el("p", { class: "error", role: "alert" }, e.message));
        }
      });
      const canaryVersion = el("select", { id: "canary-version", name: "version", required: true },
        ...candidates.map((v) => el("option", { value: v.version }, v.version)));
      const canaryCalls = el("input", { id: "canary-calls", name: "calls", type: "number", min: "1", step: "1", value: "200" });
      const canaryDuration = el("input", { id: "canary-duration", name: "duration", type: "text", placeholder: "e.g. 5m (instead of calls)" });
      const canaryTolerance = el("textarea", { id: "canary-tolerance", name: "tolerance", rows: "2", placeholder: '{"max_latency_ratio": 3} (empty: strict defaults)' });
      const canaryForm = el("form", { id: "canary-form", "aria-labelledby": "canary-title" },
        el("div", { class: "field" }, el("label", { for: "canary-version" }, "Candidate version"), canaryVersion),
        el("div", { class: "field" }, el("label", { for: "canary-calls" }, "Live calls to compare"), canaryCalls),
        el("div", { class: "field" }, el("label", { for: "canary-duration" }, "Or a duration"), canaryDuration),
        el("div", { class: "field" }, el("label", { for: "canary-tolerance" }, "Tolerance (JSON)"), canaryTolerance),
        el("button", { type: "submit", class: "primary", id: "canary-start", disabled: !!running || !candidates.length || !p.active_version }, "Start canary"),
        running ? el("button", { type: "button", id: "canary-cancel", onclick: () => act(`/api/plugins/${encodeURIComponent(p.name)}/canary`, undefined, "DELETE") }, "Cancel the running canary") : "",
      );
      canaryForm.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const body = { version: canaryVersion.value };
        if (canaryDuration.value.trim()) body.duration = canaryDuration.value.trim();
        else body.calls = Number(canaryCalls.value);
        if (canaryTolerance.value.trim()) {
          try {
            body.tolerance = JSON.parse(canaryTolerance.value);
          } catch (e) {
            const err = detail.querySelector(".actions-error");
            if (err) err.textContent = `The tolerance is not JSON: ${e.message}`;
            return;
          }
        }
        act(`/api/plugins/${encodeURIComponent(p.name)}/canary`, body);
      });
      clearTimeout(poll);
      // A running canary's report grows as the replicas add what they compared.
      if (running) poll = setTimeout(() => alive && n === name && loadPlugin(), 1000);
      detail.replaceChildren(
        el("h2", { id: "plugin-title" }, `${p.name} (${p.kind})`),
        el("p", {}, "Active version: ", el("strong", { id: "plugin-active" }, p.active_version || "none")),
        el("div", { class: "pager" },
          el("button", { type: "button", id: "plugin-rollback", onclick: () => act(`/api/plugins/${encodeURIComponent(p.name)}/rollback`) }, "Roll back to the previous version")),
        el("p", { class: "error actions-error", role: "alert" }),
        el("h3", {}, "Versions"),
        el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Versions table" },
          el("table", { id: "plugin-versions" },
            el("thead", {}, el("tr", {}, ...["Version", "Active", "Built in", "Contract", "Uploaded", "Size", "Quarantined", "Reason", ""].map((h) => el("th", { scope: "col" }, h)))),
            el("tbody", {}, ...versions.map((v) => el("tr", { "data-version": v.version },
              el("td", {}, v.version),
              el("td", {}, v.active ? "active" : ""),
              el("td", {}, v.builtin ? "yes" : ""),
              el("td", { title: "The WIT contract version this replica serves it through (blank when not compiled here)" }, v.contract || ""),
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
        el("h3", { id: "canary-title" }, "Canary"),
        el("p", {}, "Run a stored version in shadow on the active version's live inputs; it is promoted on every replica when within tolerance, refused with the reason otherwise."),
        canaryForm,
        el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Canaries table" },
          el("table", { id: "plugin-canaries" },
            el("thead", {}, el("tr", {}, ...["Id", "Candidate", "State", "Calls", "Outputs", "Candidate errors", "Time", "Memory", "Reason"].map((h) => el("th", { scope: "col" }, h)))),
            el("tbody", {}, ...(canaries.length ? canaries.map(canaryRow) : [el("tr", {}, el("td", { colspan: 9 }, "No canary yet."))])))),
        el("h3", {}, "Swap history (newest first)"),
        el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Activation log" },
          el("table", { id: "plugin-activations" },
            el("thead", {}, el("tr", {}, ...["When", "Version", "Why"].map((h) => el("th", { scope: "col" }, h)))),
            activationsBody)),
        older,
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
      // Viewing that plugin already: show the new version now (the URL does not change).
      if (name === res.name) await loadPlugin();
      else setParams({ plugin: res.name });
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
      clearTimeout(poll);
    },
  };
}
