// The Health view: readiness, per product the source errors, calculate latency and image lag
// (from /metrics), and the kill switch — engaged with a reason, after a confirmation.

import { api, el, when } from "./api.js";

const POLL_MS = 5000;

/** Prometheus text → [{name, labels, value}]. */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The `q` quantile of a histogram's cumulative buckets (the bucket's upper bound). */
function quantile(buckets, q) {
  const total = buckets.length ? buckets[buckets.length - 1].count : 0;
  if (!total) return null;
  const b = buckets.find((x) => x.count >= q * total);
  return b ? b.le : null;
}

function ms(s) {
  return s === null || s === undefined || !Number.isFinite(s) ? "—" : `${(s * 1e3).toFixed(1)} ms`;
}

export function mount(main) {
  const ready = el("p", { id: "health-ready", role: "status" }, "…");
  const body = el("tbody", { id: "health-body" });
  const switchState = el("p", { id: "kill-state" });
  const reason = el("input", { id: "kill-reason", name: "reason", type: "text", "aria-required": "true", "aria-describedby": "kill-hint" });
  const killError = el("p", { class: "error", role: "alert", id: "kill-error" });
  const engage = el("button", { type: "submit", class: "danger", id: "kill-engage" }, "Engage the kill switch");
  const release = el("button", { type: "button", id: "kill-release" }, "Release");
  const confirm = el("dialog", { id: "kill-confirm", "aria-labelledby": "kill-confirm-title" });
  const form = el(
    "form",
    { id: "kill-form", "aria-labelledby": "kill-title" },
    el("div", { class: "field" }, el("label", { for: "kill-reason" }, "Reason"), reason, el("small", { id: "kill-hint" }, "Engaging flattens and stops every paper run and refuses new ones.")),
    el("div", { class: "pager" }, engage, release),
    killError,
  );
  main.append(
    el("h1", {}, "Health"),
    el("div", { class: "stack" },
      el("section", { class: "card", "aria-labelledby": "ready-title" }, el("h2", { id: "ready-title" }, "Readiness"), ready),
      el("section", { class: "card", "aria-labelledby": "products-health-title" },
        el("h2", { id: "products-health-title" }, "Products"),
        el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Products table" },
          el("table", { id: "health-table" },
            el("thead", {}, el("tr", {}, ...["Product", "Samples", "Source errors", "Calculate (mean)", "Calculate (p99 ≤)", "Image lag"].map((h) => el("th", { scope: "col" }, h)))),
            body))),
      el("section", { class: "card", "aria-labelledby": "kill-title" }, el("h2", { id: "kill-title" }, "Kill switch"), switchState, form),
      confirm,
    ),
  );

  let alive = true;
  let timer = null;

  async function loadReady() {
    try {
      const r = await api("/readyz");
      ready.textContent = `Ready (${r.status})`;
      ready.className = "good";
    } catch (e) {
      ready.textContent = `Not ready: ${e.message}`;
      ready.className = "error";
    }
  }

  async function loadMetrics() {
    try {
      const res = await api("/metrics", { raw: true });
      const samples = parseMetrics(await res.text());
      const now = Date.now() / 1000;
      const per = {};
      const get = (p) => (per[p] ||= { samples: 0, errors: {}, sum: 0, count: 0, buckets: [], lastImage: null });
      for (const s of samples) {
        const p = s.labels.product;
        if (!p) continue;
        if (s.name === "cgaf_samples_total") get(p).samples = s.value;
        else if (s.name === "cgaf_source_errors_total") get(p).errors[s.labels.kind] = s.value;
        else if (s.name === "cgaf_calculate_seconds_sum") get(p).sum = s.value;
        else if (s.name === "cgaf_calculate_seconds_count") get(p).count = s.value;
        else if (s.name === "cgaf_calculate_seconds_bucket") get(p).buckets.push({ le: Number(s.labels.le), count: s.value });
        else if (s.name === "cgaf_last_image_timestamp_seconds") get(p).lastImage = s.value;
      }
      if (!alive) return;
      body.replaceChildren(...Object.entries(per).sort().map(([p, h]) => {
        const errs = Object.entries(h.errors).filter(([, v]) => v > 0);
        const total = errs.reduce((a, [, v]) => a + v, 0);
        return el("tr", { "data-product": p },
          el("td", {}, p),
          el("td", {}, h.samples.toLocaleString()),
          el("td", {}, total ? `${total} (${errs.map(([k, v]) => `${k}: ${v}`).join(", ")})` : "0"),
          el("td", {}, h.count ? ms(h.sum / h.count) : "—"),
          el("td", {}, ms(quantile(h.buckets.sort((a, b) => a.le - b.le), 0.99))),
          el("td", {}, h.lastImage ? `${Math.max(0, now - h.lastImage).toFixed(1)} s` : "—"));
      }));
      if (!Object.keys(per).length) body.replaceChildren(el("tr", {}, el("td", { colspan: 6 }, "No product metrics in this process (its roles run no collect or calculate).")));
    } catch (e) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "error", role: "alert" }, e.message)));
    }
  }

  async function loadSwitch() {
    try {
      const k = await api("/api/kill-switch");
      switchState.textContent = k.engaged ? `Engaged since ${when(k.changed_at)}: ${k.reason || "no reason given"}` : `Released (since ${when(k.changed_at)})`;
      switchState.className = k.engaged ? "error" : "good";
      switchState.dataset.engaged = String(k.engaged);
    } catch (e) {
      switchState.textContent = e.message;
      switchState.className = "error";
    }
  }

  async function refresh() {
    await Promise.all([loadReady(), loadMetrics(), loadSwitch()]);
    if (alive) timer = setTimeout(refresh, POLL_MS);
  }

  function ask(question, yes) {
    confirm.replaceChildren(
      el("h2", { id: "kill-confirm-title" }, question),
      el("form", { method: "dialog", class: "pager" },
        el("button", { type: "submit", value: "yes", class: "danger", id: "kill-confirm-yes" }, "Yes"),
        el("button", { type: "submit", value: "no", autofocus: true, id: "kill-confirm-no" }, "Cancel")),
    );
    confirm.returnValue = "";
    confirm.onclose = () => confirm.returnValue === "yes" && yes();
    confirm.showModal();
  }

  async function set(engaged) {
    killError.textContent = "";
    try {
      await api("/api/kill-switch", { method: "POST", json: { engaged, reason: reason.value.trim() || undefined }, auth: true });
      await loadSwitch();
    } catch (e) {
      killError.textContent = e.message;
    }
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!reason.value.trim()) {
      killError.textContent = "Give a reason first.";
      reason.focus();
      return;
    }
    ask(`Engage the kill switch? Every paper run is flattened and stopped: “${reason.value.trim()}”`, () => set(true));
  });
  release.addEventListener("click", () => ask("Release the kill switch? New paper runs are accepted again.", () => set(false)));

  refresh();
  return {
    update() {},
    unmount() {
      alive = false;
      clearTimeout(timer);
    },
  };
}
