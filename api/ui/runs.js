// The Runs view: start a backtest or paper run from a form (the strategy's parameters come
// from its plugin's info()), the runs so far, and one run: progress, equity curve and
// drawdown, metrics, and the decision log as a paged, filterable table with a CSV download.

import { api, el, when } from "./api.js";
import { setParams } from "./app.js";
import { drawdown, lineChart } from "./chart.js";

const PAGE = 50;
const POLL_MS = 1000;

function field(label, input, hint) {
  const id = input.id;
  return el("div", { class: "field" }, el("label", { for: id }, label), input, hint ? el("small", { id: id + "-hint" }, hint) : null);
}

function number(id, attrs = {}) {
  return el("input", { id, name: id, type: "number", step: "any", ...attrs });
}

function fmt(v) {
  if (typeof v === "number") return Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toLocaleString() : v.toPrecision(6);
  if (v === null || v === undefined) return "—";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

/** The parameters of a plugin version's info(): [{name, kind, default, doc}]. */
function paramSpecs(version) {
  const p = version && version.params;
  if (Array.isArray(p)) return p;
  if (p && typeof p === "object") return Object.entries(p).map(([name, s]) => ({ name, ...s }));
  return [];
}

/** A parameter's value as the API takes it: a number when it reads as one, true/false, or text. */
function paramValue(text, kind) {
  const t = text.trim();
  if (/bool/i.test(kind) && /^(true|false)$/i.test(t)) return t.toLowerCase() === "true";
  if (/int|float/i.test(kind) && t !== "" && !Number.isNaN(Number(t))) return Number(t);
  return t;
}

export function mount(main, params) {
  const formError = el("p", { id: "run-form-error", class: "error", role: "alert" });
  const strategy = el("select", { id: "run-strategy", name: "strategy", required: true });
  const paramBox = el("fieldset", { id: "run-params" }, el("legend", {}, "Parameters"));
  const product = el("select", { id: "run-product", name: "product", required: true });
  const mode = el("select", { id: "run-mode", name: "mode" }, el("option", { value: "backtest" }, "backtest"), el("option", { value: "paper" }, "paper"));
  const from = el("input", { id: "run-from", name: "from", type: "datetime-local", step: "1" });
  const to = el("input", { id: "run-to", name: "to", type: "datetime-local", step: "1" });
  const interval = el("input", { id: "run-interval", name: "bar_interval", type: "text", value: "1s", "aria-describedby": "run-interval-hint" });
  const fee = number("run-fee", { value: "0", min: "0" });
  const slippage = number("run-slippage", { value: "0", min: "0" });
  const cash = number("run-cash", { value: "10000", min: "0" });
  const maxPosition = number("run-max-position", { min: "0", max: "1", "aria-describedby": "run-max-position-hint" });
  const maxDrawdown = number("run-max-drawdown", { min: "0", max: "1", "aria-describedby": "run-max-drawdown-hint" });
  const allowGaps = el("input", { id: "run-allow-gaps", name: "allow_gaps", type: "checkbox" });
  const submit = el("button", { type: "submit", class: "primary", id: "run-start" }, "Start run");
  const form = el(
    "form",
    { id: "run-form", class: "card", "aria-labelledby": "run-form-title" },
    el("h2", { id: "run-form-title" }, "New run"),
    field("Strategy", strategy),
    paramBox,
    field("Product", product),
    field("Mode", mode),
    field("From", from),
    field("To", to),
    field("Bar interval", interval, "e.g. 1s, 1m, 5m"),
    field("Fee (bps)", fee),
    field("Slippage (bps)", slippage),
    field("Starting cash", cash),
    field("Max position", maxPosition, "fraction of equity, 0–1 (empty: 1)"),
    field("Max drawdown", maxDrawdown, "flatten and stop below this fraction of the peak (empty: none)"),
    el("div", { class: "field checkbox" }, allowGaps, el("label", { for: "run-allow-gaps" }, "Run even if the history has gaps")),
    submit,
    formError,
  );
  const listBody = el("tbody", { id: "runs-body" });
  const list = el(
    "section",
    { class: "card", "aria-labelledby": "runs-title" },
    el("h2", { id: "runs-title" }, "Runs"),
    el(
      "div",
      { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Runs table" },
      el("table", { id: "runs-table" }, el("thead", {}, el("tr", {}, ...["Run", "Strategy", "Product", "Mode", "Status", "Progress", "Created"].map((h) => el("th", { scope: "col" }, h)))), listBody),
    ),
  );
  const detail = el("section", { id: "run-detail", class: "card", "aria-live": "polite" });
  main.append(
    el("h1", {}, "Runs"),
    el("div", { class: "columns" }, form, el("div", { class: "stack" }, detail, list)),
  );

  let alive = true;
  let strategies = [];
  let timer = null;
  let runId = params.get("run");
  let decisionsState = null;
  let wasEnded = false; // whether the shown run had ended at the last poll

  function renderParams() {
    const s = strategies.find((x) => x.name === strategy.value);
    const version = s && s.versions.find((v) => v.version === s.active_version);
    const specs = paramSpecs(version);
    paramBox.replaceChildren(el("legend", {}, specs.length ? `Parameters of ${strategy.value}` : "Parameters (none)"));
    for (const spec of specs) {
      const id = `param-${spec.name}`;
      const input = el("input", { id, name: spec.name, type: "text", placeholder: spec.default, "data-kind": spec.kind, "aria-describedby": id + "-hint" });
      paramBox.append(field(`${spec.name} (${spec.kind})`, input, `${spec.doc}${spec.default ? ` Default ${spec.default}.` : ""}`));
    }
  }

  async function loadForm() {
    try {
      const [plugins, products] = await Promise.all([api("/api/plugins"), api("/api/products")]);
      if (!alive) return;
      strategies = plugins.filter((p) => p.kind === "strategy" && p.active_version);
      strategy.replaceChildren(...strategies.map((s) => el("option", { value: s.name }, `${s.name} ${s.active_version}`)));
      product.replaceChildren(...products.map((p) => el("option", { value: p.product }, p.product)));
      renderParams();
    } catch (e) {
      formError.textContent = e.message;
    }
  }

  function request() {
    const body = { strategy: strategy.value, product: product.value, mode: mode.value, params: {} };
    for (const input of paramBox.querySelectorAll("input")) {
      if (input.value.trim() !== "") body.params[input.name] = paramValue(input.value, input.dataset.kind || "");
    }
    if (from.value) body.from = new Date(from.value).toISOString();
    if (to.value) body.to = new Date(to.value).toISOString();
    if (interval.value.trim()) body.bar_interval = interval.value.trim();
    if (fee.value !== "") body.fee_bps = Number(fee.value);
    if (slippage.value !== "") body.slippage_bps = Number(slippage.value);
    if (cash.value !== "") body.starting_cash = Number(cash.value);
    const risk = {};
    if (maxPosition.value !== "") risk.max_position = Number(maxPosition.value);
    if (maxDrawdown.value !== "") risk.max_drawdown = Number(maxDrawdown.value);
    if (Object.keys(risk).length) body.risk = risk;
    if (allowGaps.checked) body.allow_gaps = true;
    return body;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError.textContent = "";
    submit.disabled = true;
    try {
      const created = await api("/api/runs", { method: "POST", json: request(), auth: true });
      setParams({ run: created.run_id });
    } catch (e) {
      formError.textContent = e.message;
    } finally {
      submit.disabled = false;
    }
  });
  strategy.addEventListener("change", renderParams);

  async function loadList() {
    try {
      const { runs } = await api("/api/runs?limit=50");
      if (!alive) return;
      listBody.replaceChildren(
        ...runs.map((r) =>
          el(
            "tr",
            {},
            el("td", {}, el("a", { href: `#/runs?run=${r.run_id}` }, `#${r.run_id}`)),
            el("td", {}, `${r.strategy} ${r.strategy_version}`),
            el("td", {}, r.product),
            el("td", {}, r.mode),
            el("td", {}, r.status),
            el("td", {}, r.bars_total ? `${r.bars_done} / ${r.bars_total}` : String(r.bars_done)),
            el("td", {}, when(r.created_at)),
          ),
        ),
      );
    } catch (e) {
      listBody.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "error" }, e.message)));
    }
  }

  async function loadRun() {
    clearTimeout(timer);
    if (!runId) {
      detail.replaceChildren(el("h2", {}, "Run"), el("p", {}, "Start a run, or pick one from the list."));
      return;
    }
    const id = runId;
    try {
      const run = await api(`/api/runs/${encodeURIComponent(id)}`);
      if (!alive || id !== runId) return;
      renderRun(run);
      if (run.status === "pending" || run.status === "running") timer = setTimeout(loadRun, POLL_MS);
      else loadList();
    } catch (e) {
      detail.replaceChildren(el("h2", {}, `Run #${id}`), el("p", { class: "error", role: "alert" }, e.message));
    }
  }

  function renderRun(run) {
    const ended = !(run.status === "pending" || run.status === "running");
    const equity = (run.equity_curve || []).map((p) => ({ x: p.time_ms, y: p.equity }));
    const progress = run.bars_total
      ? el("progress", { id: "run-progress", max: run.bars_total, value: run.bars_done, "aria-label": "Bars done" })
      : el("progress", { id: "run-progress", "aria-label": "Bars done" });
    const metrics = run.metrics || {};
    const keep = detail.querySelector("#decisions");
    detail.replaceChildren(
      el("h2", { id: "run-title" }, `Run #${run.run_id}: ${run.strategy} ${run.strategy_version} on ${run.product} (${run.mode})`),
      el("p", {}, el("span", { id: "run-status", "data-status": run.status }, `Status: ${run.status}`), run.status_reason ? ` — ${run.status_reason}` : "", " · ", `${run.bars_done}${run.bars_total ? " / " + run.bars_total : ""} bars`),
      progress,
      run.mode === "paper" && !ended ? el("button", { type: "button", id: "run-stop", onclick: () => stopRun(run.run_id) }, "Stop run") : "",
      el("h3", {}, "Equity"),
      lineChart(equity, { title: `Equity of run ${run.run_id}`, format: (v) => v.toFixed(0), cls: "equity" }),
      el("h3", {}, "Drawdown"),
      lineChart(drawdown(equity), { title: `Drawdown of run ${run.run_id}`, format: (v) => (v * 100).toFixed(1) + "%", area: true, cls: "drawdown" }),
      el("h3", {}, "Metrics"),
      el(
        "dl",
        { id: "run-metrics" },
        ...Object.entries(metrics).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, fmt(v))]),
      ),
      keep || decisionsSection(run.run_id),
    );
    // The log grows while the run goes on: reloaded with each poll and once when it has ended.
    const reload = !keep || !ended || !wasEnded;
    wasEnded = ended;
    if (reload) loadDecisions();
  }

  async function stopRun(id) {
    try {
      await api(`/api/runs/${id}/stop`, { method: "POST", auth: true });
      loadRun();
    } catch (e) {
      detail.append(el("p", { class: "error", role: "alert" }, e.message));
    }
  }

  function decisionsSection(id) {
    const dFrom = el("input", { id: "dec-from", type: "datetime-local", step: "1" });
    const dTo = el("input", { id: "dec-to", type: "datetime-local", step: "1" });
    const only = el("select", { id: "dec-only" }, el("option", { value: "" }, "every bar"), el("option", { value: "fills" }, "bars with a fill"), el("option", { value: "gate" }, "bars the risk gate changed"));
    const body = el("tbody", { id: "decisions-body" });
    const prev = el("button", { type: "button", id: "dec-prev", disabled: true }, "Previous");
    const next = el("button", { type: "button", id: "dec-next", disabled: true }, "Next");
    const csv = el("a", { id: "dec-csv", href: `/api/runs/${id}/decisions?format=csv`, download: `run-${id}-decisions.csv` }, "Download CSV");
    const info = el("span", { id: "dec-info", role: "status" });
    decisionsState = { id, dFrom, dTo, only, body, prev, next, csv, info, cursors: [null], page: 0 };
    const filters = el(
      "form",
      { class: "filters", id: "dec-filters" },
      field("From", dFrom),
      field("To", dTo),
      field("Show", only),
      el("button", { type: "submit" }, "Filter"),
    );
    filters.addEventListener("submit", (ev) => {
      ev.preventDefault();
      decisionsState.cursors = [null];
      decisionsState.page = 0;
      loadDecisions();
    });
    prev.addEventListener("click", () => {
      decisionsState.page = Math.max(0, decisionsState.page - 1);
      loadDecisions();
    });
    next.addEventListener("click", () => {
      decisionsState.page += 1;
      loadDecisions();
    });
    const heads = ["#", "Bar close", "Close", "Target", "Gate", "Order", "Fill", "Position", "Equity", "Reason"];
    return el(
      "section",
      { id: "decisions", "aria-labelledby": "decisions-title" },
      el("h3", { id: "decisions-title" }, "Decision log"),
      filters,
      el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Decision log table" }, el("table", { id: "decisions-table" }, el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", { scope: "col" }, h)))), body)),
      el("div", { class: "pager" }, prev, next, info, csv),
    );
  }

  function rangeQuery() {
    const s = decisionsState;
    const q = new URLSearchParams();
    if (s.dFrom.value) q.set("from", new Date(s.dFrom.value).toISOString());
    if (s.dTo.value) q.set("to", new Date(s.dTo.value).toISOString());
    return q;
  }

  async function loadDecisions() {
    const s = decisionsState;
    if (!s) return;
    const q = rangeQuery();
    s.csv.setAttribute("href", `/api/runs/${s.id}/decisions?${new URLSearchParams([...q, ["format", "csv"]])}`);
    q.set("limit", String(PAGE));
    const cursor = s.cursors[s.page];
    if (cursor) q.set("cursor", cursor);
    try {
      const page = await api(`/api/runs/${s.id}/decisions?${q}`);
      if (!alive || s !== decisionsState) return;
      s.cursors[s.page + 1] = page.next_cursor;
      let rows = page.decisions;
      if (s.only.value === "fills") rows = rows.filter((d) => d.fill_quantity);
      if (s.only.value === "gate") rows = rows.filter((d) => d.gate);
      s.body.replaceChildren(
        ...rows.map((d) =>
          el(
            "tr",
            {},
            el("td", {}, d.seq),
            el("td", {}, when(d.time_ms)),
            el("td", {}, fmt(d.market && d.market.close)),
            el("td", {}, fmt(d.target)),
            el("td", {}, d.gate || ""),
            el("td", {}, fmt(d.order_target)),
            el("td", {}, d.fill_quantity ? `${fmt(d.fill_quantity)} @ ${fmt(d.fill_price)}` : ""),
            el("td", {}, fmt(d.position)),
            el("td", {}, fmt(d.equity)),
            el("td", {}, d.reason || ""),
          ),
        ),
      );
      s.prev.disabled = s.page === 0;
      s.next.disabled = !page.next_cursor;
      s.info.textContent = `Page ${s.page + 1}: ${rows.length} of ${page.decisions.length} rows shown`;
    } catch (e) {
      s.body.replaceChildren(el("tr", {}, el("td", { colspan: 10, class: "error", role: "alert" }, e.message)));
    }
  }

  loadForm();
  loadList();
  loadRun();

  return {
    update(next) {
      const id = next.get("run");
      if (id !== runId) {
        runId = id;
        decisionsState = null;
        wasEnded = false;
        detail.replaceChildren();
        loadRun();
        loadList();
      }
    },
    unmount() {
      alive = false;
      clearTimeout(timer);
    },
  };
}
