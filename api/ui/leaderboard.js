// The Leaderboard view: runs ranked by any metric, filtered by mode and a minimum of trades;
// the choice is in the URL (#/leaderboard?metric=sortino&mode=backtest&min_trades=5).

import { api, el } from "./api.js";
import { setParams } from "./app.js";

const METRICS = ["sharpe", "sortino", "total_return", "cagr", "calmar", "max_drawdown", "win_rate", "exposure", "volatility"];

function fmt(v) {
  if (typeof v !== "number") return v === null || v === undefined ? "—" : String(v);
  return Number.isInteger(v) ? v.toLocaleString() : v.toPrecision(5);
}

export function mount(main, params) {
  const metric = el("select", { id: "lb-metric", name: "metric" }, ...METRICS.map((m) => el("option", { value: m }, m)));
  const mode = el("select", { id: "lb-mode", name: "mode" }, el("option", { value: "" }, "any"), el("option", { value: "backtest" }, "backtest"), el("option", { value: "paper" }, "paper"));
  const minTrades = el("input", { id: "lb-min-trades", name: "min_trades", type: "number", min: "0", step: "1", value: "0" });
  const error = el("p", { class: "error", role: "alert", id: "lb-error" });
  const body = el("tbody", { id: "lb-body" });
  const form = el(
    "form",
    { class: "filters card", id: "lb-form" },
    el("div", { class: "field" }, el("label", { for: "lb-metric" }, "Metric"), metric),
    el("div", { class: "field" }, el("label", { for: "lb-mode" }, "Mode"), mode),
    el("div", { class: "field" }, el("label", { for: "lb-min-trades" }, "Minimum trades"), minTrades),
    el("button", { type: "submit", class: "primary" }, "Rank"),
  );
  const valueHead = el("th", { scope: "col", id: "lb-value-head" }, "Value");
  main.append(
    el("h1", {}, "Leaderboard"),
    form,
    error,
    el(
      "div",
      { class: "table-wrap card", tabindex: "0", role: "region", "aria-label": "Leaderboard table" },
      el(
        "table",
        { id: "lb-table" },
        el("thead", {}, el("tr", {}, ...["Rank", "Run", "Strategy", "Product", "Mode", "Parameters", "Trades"].map((h) => el("th", { scope: "col" }, h)), valueHead, el("th", { scope: "col" }, "Status"))),
        body,
      ),
    ),
  );

  let alive = true;
  function read(p) {
    metric.value = METRICS.includes(p.get("metric")) ? p.get("metric") : "sharpe";
    mode.value = p.get("mode") || "";
    minTrades.value = p.get("min_trades") || "0";
  }

  async function load() {
    const q = new URLSearchParams({ metric: metric.value, min_trades: minTrades.value || "0" });
    if (mode.value) q.set("mode", mode.value);
    error.textContent = "";
    try {
      const board = await api(`/api/leaderboard?${q}`);
      if (!alive) return;
      valueHead.textContent = board.metric;
      body.replaceChildren(
        ...board.entries.map((e) =>
          el(
            "tr",
            {},
            el("td", {}, e.rank),
            el("td", {}, el("a", { href: `#/runs?run=${e.run_id}` }, `#${e.run_id}`)),
            el("td", {}, `${e.strategy} ${e.strategy_version}`),
            el("td", {}, e.product),
            el("td", {}, e.mode),
            el("td", {}, JSON.stringify(e.params)),
            el("td", {}, fmt(e.trades)),
            el("td", {}, fmt(e.value)),
            el("td", {}, e.status),
          ),
        ),
      );
      if (!board.entries.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 9 }, "No runs match.")));
    } catch (e) {
      error.textContent = e.message;
    }
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = { metric: metric.value, min_trades: minTrades.value || "0" };
    if (mode.value) p.mode = mode.value;
    setParams(p);
    load();
  });
  read(params);
  load();
  return {
    update(p) {
      read(p);
      load();
    },
    unmount() {
      alive = false;
    },
  };
}
