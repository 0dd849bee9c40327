// Small SVG charts (no library): a line chart with its range labelled, and a drawdown series
// from an equity series. Colours come from the style sheet's classes.

const NS = "http://www.w3.org/2000/svg";
const W = 640;
const H = 220;
const PAD = { left: 64, right: 12, top: 12, bottom: 28 };

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Drawdown (fraction below the running peak, ≤ 0) of each point of `equity`. */
export function drawdown(equity) {
  let peak = -Infinity;
  return equity.map((p) => {
    peak = Math.max(peak, p.y);
    return { x: p.x, y: peak > 0 ? p.y / peak - 1 : 0 };
  });
}

/** A line chart of `points` ({x: time ms, y}) as an SVG with a title for screen readers.
 * `format` writes the y labels; `area` fills under (or over, for negatives) the line. */
export function lineChart(points, { title, format = (v) => v.toFixed(2), area = false, cls = "" } = {}) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: `chart ${cls}`, role: "img", "aria-label": title });
  root.append(svg("title", {}, title));
  if (!points.length) {
    root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-label" }, "no data yet"));
    return root;
  }
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (area) y1 = Math.max(y1, 0);
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (x) => PAD.left + ((x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const sy = (y) => PAD.top + (1 - (y - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
  const d = points.map((p, i) => `${i ? "L" : "M"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join("");
  root.append(svg("rect", { x: PAD.left, y: PAD.top, width: W - PAD.left - PAD.right, height: H - PAD.top - PAD.bottom, class: "chart-frame" }));
  if (area) {
    const base = sy(Math.min(Math.max(0, y0), y1));
    root.append(svg("path", { d: `${d}L${sx(x1).toFixed(1)},${base}L${sx(x0).toFixed(1)},${base}Z`, class: "chart-area" }));
  }
  root.append(svg("path", { d, class: "chart-line" }));
  const label = (x, y, text, anchor) => root.append(svg("text", { x, y, "text-anchor": anchor, class: "chart-label" }, text));
  label(PAD.left - 6, sy(y1) + 4, format(y1), "end");
  label(PAD.left - 6, sy(y0) + 4, format(y0), "end");
  label(sx(x0), H - 8, new Date(x0).toLocaleTimeString(), "start");
  label(sx(x1), H - 8, new Date(x1).toLocaleTimeString(), "end");
  return root;
}
