// The Matrices view: per granularity the latest blended matrix of a product as a heatmap
// (/api/matrices/heatmap.png), and the forecast scores over time (RMSE against the naive
// forecast's, and skill) from /api/matrices/scores; the rolling means from /api/matrices/rolling.

import { api, el } from "./api.js";
import { setParams } from "./app.js";
import { lineChart } from "./chart.js";

const POLL_MS = 5000;

export function mount(main, params) {
  const product = el("select", { id: "mx-product", name: "product" });
  const grid = el("div", { id: "mx-grid", class: "mx-grid" });
  const rollingBody = el("tbody", { id: "mx-rolling" });
  const error = el("p", { class: "error", role: "alert", id: "mx-error" });
  main.append(
    el("h1", {}, "Matrices"),
    el("div", { class: "toolbar" }, el("label", { for: "mx-product" }, "Product"), product),
    error,
    grid,
    el("section", { class: "card", "aria-labelledby": "mx-rolling-title" },
      el("h2", { id: "mx-rolling-title" }, "Rolling forecast scores"),
      el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Rolling forecast scores table" },
        el("table", {},
          el("thead", {}, el("tr", {}, ...["Product", "Granularity", "Blender", "Scores", "RMSE", "Naive RMSE", "Skill", "Drift"].map((h) => el("th", { scope: "col" }, h)))),
          rollingBody))),
  );
  let alive = true;
  let timer = null;
  let chosen = params.get("product") || "";
  let urls = []; // blob URLs of the heatmaps shown

  const f = (v) => (typeof v === "number" && Number.isFinite(v) ? v.toPrecision(4) : "—");

  async function load() {
    clearTimeout(timer);
    error.textContent = "";
    try {
      const [products, rolling] = await Promise.all([api("/api/products"), api("/api/matrices/rolling")]);
      if (!alive) return;
      const names = products.map((p) => p.product);
      if (product.options.length !== names.length) product.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
      if (!names.includes(chosen)) chosen = names[0] || "";
      product.value = chosen;
      rollingBody.replaceChildren(...rolling.scores.map((s) => el("tr", {},
        el("td", {}, s.product), el("td", {}, s.granularity), el("td", {}, s.blender), el("td", {}, s.n),
        el("td", {}, f(s.rmse)), el("td", {}, f(s.naive_rmse)), el("td", {}, f(s.skill)), el("td", {}, f(s.drift)))));
      if (!rolling.scores.length) rollingBody.replaceChildren(el("tr", {}, el("td", { colspan: 8 }, "No scores yet (the matrix pipeline scores a forecast when the next bucket closes).")));
      const granularities = [...new Set(rolling.scores.filter((s) => s.product === chosen).map((s) => s.granularity))];
      const old = urls;
      urls = [];
      const cards = await Promise.all(granularities.map((g) => card(chosen, g)));
      if (!alive) return;
      grid.replaceChildren(...cards);
      old.forEach((u) => URL.revokeObjectURL(u));
      if (!granularities.length) grid.replaceChildren(el("p", {}, `No blended matrices of ${chosen} yet.`));
    } catch (e) {
      error.textContent = e.message;
    }
    if (alive) timer = setTimeout(load, POLL_MS);
  }

  async function card(p, g) {
    const q = new URLSearchParams({ product: p, granularity: g, order: "desc", limit: "200" });
    const scores = await api(`/api/matrices/scores?${q}`);
    const rows = scores.rows.slice().reverse();
    let heatmap;
    try {
      const res = await api(`/api/matrices/heatmap.png?${new URLSearchParams({ product: p, granularity: g })}`, { raw: true });
      const url = URL.createObjectURL(await res.blob());
      urls.push(url);
      heatmap = el("img", { class: "heatmap", src: url, alt: `Latest blended matrix of ${p} at ${g}, as a heatmap` });
    } catch (e) {
      heatmap = el("p", { class: "error" }, e.message);
    }
    return el("section", { class: "card", "aria-labelledby": `mx-${g}-title` },
      el("h2", { id: `mx-${g}-title` }, `${p} · ${g}`),
      heatmap,
      el("h3", {}, "RMSE over time"),
      lineChart(rows.map((r) => ({ x: r.actual_ms, y: r.rmse })), { title: `Forecast RMSE of ${p} at ${g}`, format: (v) => v.toPrecision(3) }),
      el("h3", {}, "Skill over time (1 − RMSE / naive RMSE)"),
      lineChart(rows.filter((r) => r.skill !== null).map((r) => ({ x: r.actual_ms, y: r.skill })), { title: `Forecast skill of ${p} at ${g}`, format: (v) => v.toFixed(2) }));
  }

  product.addEventListener("change", () => {
    chosen = product.value;
    setParams({ product: chosen });
  });
  load();
  return {
    update(p) {
      if (p.get("product") && p.get("product") !== chosen) {
        chosen = p.get("product");
        load();
      }
    },
    unmount() {
      alive = false;
      clearTimeout(timer);
      urls.forEach((u) => URL.revokeObjectURL(u));
    },
  };
}
