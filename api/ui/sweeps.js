// The Sweeps view: parameter sweeps with their progress, and a finished sweep's result, heatmap
// and results CSV (#/sweeps?sweep=ID).

import { api, el, when } from "./api.js";

const POLL_MS = 1000;

export function mount(main, params) {
  const body = el("tbody", { id: "sweeps-body" });
  const detail = el("section", { id: "sweep-detail", class: "card", "aria-live": "polite" });
  main.append(
    el("h1", {}, "Sweeps"),
    el("div", { class: "columns" },
      el("section", { class: "card", "aria-labelledby": "sweeps-title" },
        el("h2", { id: "sweeps-title" }, "Sweeps"),
        el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Sweeps table" },
          el("table", { id: "sweeps-table" },
            el("thead", {}, el("tr", {}, ...["Sweep", "Strategy", "Product", "Status", "Jobs", "Created"].map((h) => el("th", { scope: "col" }, h)))),
            body))),
      detail),
  );
  let alive = true;
  let sweepId = params.get("sweep");
  let timer = null;

  async function loadList() {
    try {
      const { sweeps } = await api("/api/sweeps");
      if (!alive) return;
      body.replaceChildren(...sweeps.map((s) => el("tr", {},
        el("td", {}, el("a", { href: `#/sweeps?sweep=${s.sweep_id}` }, `#${s.sweep_id}`)),
        el("td", {}, (s.request && s.request.strategy) || ""),
        el("td", {}, (s.request && s.request.product) || ""),
        el("td", {}, s.status),
        el("td", {}, s.jobs_total ? `${s.jobs_done} / ${s.jobs_total}` : String(s.jobs_done)),
        el("td", {}, when(s.created_at)))));
      if (!sweeps.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 6 }, "No sweeps yet (POST /api/sweeps or cgaf sweep).")));
    } catch (e) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "error", role: "alert" }, e.message)));
    }
  }

  async function loadSweep() {
    clearTimeout(timer);
    if (!sweepId) {
      detail.replaceChildren(el("h2", {}, "Sweep"), el("p", {}, "Pick a sweep from the list."));
      return;
    }
    const id = sweepId;
    try {
      const s = await api(`/api/sweeps/${encodeURIComponent(id)}`);
      if (!alive || id !== sweepId) return;
      const done = s.status !== "pending" && s.status !== "running";
      detail.replaceChildren(
        el("h2", {}, `Sweep #${s.sweep_id}`),
        el("p", {}, `Status: ${s.status}`, s.status_reason ? ` — ${s.status_reason}` : ""),
        el("progress", { max: s.jobs_total || 1, value: s.jobs_done, "aria-label": "Jobs done" }),
        s.status === "finished"
          ? el("div", {},
              el("img", { src: `/api/sweeps/${s.sweep_id}/heatmap.png`, class: "heatmap", alt: `Heatmap of sweep ${s.sweep_id}: the metric over the grid` }),
              el("p", {}, el("a", { href: `/api/sweeps/${s.sweep_id}/results.csv`, download: `sweep-${s.sweep_id}.csv` }, "Download results CSV")),
              el("details", {}, el("summary", {}, "Result"), el("pre", {}, JSON.stringify(s.result, null, 2))))
          : "",
        el("details", {}, el("summary", {}, "Request"), el("pre", {}, JSON.stringify(s.request, null, 2))),
      );
      if (!done) timer = setTimeout(loadSweep, POLL_MS);
    } catch (e) {
      detail.replaceChildren(el("h2", {}, `Sweep #${id}`), el("p", { class: "error", role: "alert" }, e.message));
    }
  }

  loadList();
  loadSweep();
  return {
    update(p) {
      if (p.get("sweep") !== sweepId) {
        sweepId = p.get("sweep");
        loadSweep();
      }
    },
    unmount() {
      alive = false;
      clearTimeout(timer);
    },
  };
}
