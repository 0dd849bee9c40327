// The Images view: the original crypto-gaf's 2×2 grid, each image rotated so that its "now"
// corner points at the centre (order book 180°, buys 270°, sells 90°, midpoint GADF as is),
// the product and midpoint over the middle. Live: a server-sent-event stream says when the
// images change; each changed PNG is fetched with its ETag and crossfaded in.

import { api, ApiError, el, hideBanner, showBanner, when } from "./api.js";
import { setParams } from "./app.js";

/** The four cells: image, label, rotation in degrees (clockwise), as in the original. */
const CELLS = [
  { image: "orderbook", label: "Order book", rotation: 180 },
  { image: "buy", label: "Buys", rotation: 270 },
  { image: "sell", label: "Sells", rotation: 90 },
  { image: "midpoint-gadf", label: "Midpoint GADF", rotation: 0 },
];

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 10000;

export function mount(main, params) {
  const select = el("select", { id: "product", name: "product" });
  const pause = el("button", { type: "button", id: "pause", "aria-pressed": "false" }, "Pause");
  const status = el("span", { id: "images-status", class: "status", role: "status" });
  const overlayProduct = el("div", { class: "overlay-product", id: "overlay-product" });
  const overlayMidpoint = el("div", { class: "overlay-midpoint", id: "overlay-midpoint" });
  const grid = el("div", { class: "grid", id: "grid", role: "group", "aria-label": "Images" });
  const cells = CELLS.map((c) => {
    const a = el("img", { class: "frame", alt: "" });
    const b = el("img", { class: "frame", alt: "" });
    const button = el(
      "button",
      {
        type: "button",
        class: `cell rot-${c.rotation}`,
        "data-image": c.image,
        "data-rotation": c.rotation,
        "aria-label": `${c.label}, rotated ${c.rotation}°: show unrotated with details`,
      },
      a,
      b,
    );
    grid.append(button);
    const cell = { ...c, button, frames: [a, b], front: 0, etag: null, url: null, info: null };
    button.addEventListener("click", () => openDetail(cell));
    return cell;
  });
  grid.append(el("div", { class: "overlay", "aria-hidden": "true" }, overlayProduct, overlayMidpoint));
  const detail = el("dialog", { id: "detail", "aria-labelledby": "detail-title" });
  const view = el(
    "section",
    { class: "images-view", "aria-labelledby": "images-title" },
    el("h1", { id: "images-title", class: "visually-hidden" }, "Images"),
    el("div", { class: "toolbar" }, el("label", { for: "product" }, "Product"), select, pause, status),
    el("div", { class: "stage" }, grid),
    detail,
  );
  main.append(view);

  let product = params.get("product") || "";
  let source = null; // EventSource
  let retryMs = RETRY_MIN_MS;
  let retryTimer = null;
  let paused = false;
  let pending = null; // the newest event while paused
  let generation = 0;
  let firstPaintStart = 0; // the navigation start (performance.now() counts from it)
  let firstPaintDone = false;
  let alive = true;

  function setStatus(text) {
    status.textContent = text;
  }

  async function loadProducts() {
    try {
      const products = await api("/api/products");
      if (!alive) return;
      hideBanner();
      const names = products.map((p) => p.product);
      select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
      if (!names.length) {
        setStatus("No products: add one with POST /api/products");
        return;
      }
      if (!names.includes(product)) {
        product = names[0];
        setParams({ product });
      }
      select.value = product;
      connect();
    } catch (e) {
      if (!alive) return;
      showBanner(e.status === 0 ? "API unavailable — retrying…" : `API error: ${e.message} — retrying…`);
      retryTimer = setTimeout(loadProducts, retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    }
  }

  function disconnect() {
    if (source) source.close();
    source = null;
    clearTimeout(retryTimer);
  }

  function connect() {
    disconnect();
    const p = product;
    const es = new EventSource(`/api/gaf/events?product=${encodeURIComponent(p)}`);
    source = es;
    es.addEventListener("open", () => {
      retryMs = RETRY_MIN_MS;
      hideBanner();
    });
    es.addEventListener("images", (ev) => {
      if (source !== es) return;
      hideBanner();
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      if (paused) pending = data;
      else apply(data);
    });
    es.addEventListener("error", () => {
      if (source !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // The server answered with an error (or not a stream): find out why, then retry.
        showBanner("API unavailable — reconnecting…");
        retryTimer = setTimeout(() => reconnectAfterError(p), retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      } else {
        showBanner("Connection lost — reconnecting…");
      }
    });
  }

  async function reconnectAfterError(p) {
    if (!alive || p !== product) return;
    try {
      // The same question as the stream, answered as JSON: shows the API's own message.
      await api(`/api/gaf/image.png?product=${encodeURIComponent(p)}&image=midpoint-gadf`, { raw: true });
    } catch (e) {
      if (e.status === 404 || e.status === 400) {
        showBanner(`API error: ${e.message}`);
        return;
      }
      if (e.code !== "not_computed") {
        showBanner(e.status === 0 ? "API unavailable — reconnecting…" : `API error: ${e.message} — reconnecting…`);
        retryTimer = setTimeout(() => reconnectAfterError(p), retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
        return;
      }
    }
    connect();
  }

  async function fetchPng(p, image) {
    const res = await api(`/api/gaf/image.png?product=${encodeURIComponent(p)}&image=${image}`, { raw: true });
    return { blob: await res.blob(), etag: res.headers.get("ETag") };
  }

  async function apply(data) {
    if (data.product !== product) return;
    overlayProduct.textContent = data.product.split("-")[0];
    overlayMidpoint.textContent = data.midpoint || "";
    if (!data.computed) {
      setStatus("Waiting for images: they need at least 21 samples");
      return;
    }
    const mine = ++generation;
    const wanted = CELLS.map((c) => data.images.find((i) => i.image === c.image));
    try {
      const fetched = await Promise.all(
        cells.map((cell, i) => (wanted[i] && wanted[i].etag !== cell.etag ? fetchPng(data.product, cell.image) : null)),
      );
      if (mine !== generation || data.product !== product || !alive) return;
      await Promise.all(cells.map((cell, i) => (fetched[i] ? swap(cell, fetched[i], wanted[i], data) : null)));
      cells.forEach((cell, i) => wanted[i] && (cell.info = { ...wanted[i], size: data.size, computed_at: data.computed_at }));
      grid.dataset.generation = String(mine);
      setStatus(`Updated ${when(data.computed_at)}`);
      if (!firstPaintDone) {
        firstPaintDone = true;
        grid.dataset.firstPaintMs = String(Math.round(performance.now() - firstPaintStart));
      }
    } catch (e) {
      if (e instanceof ApiError && e.code === "not_computed") setStatus("Waiting for images: they need at least 21 samples");
      else if (e instanceof ApiError) showBanner(e.status === 0 ? "API unavailable — reconnecting…" : `API error: ${e.message}`);
      else throw e;
    }
  }

  /** Loads `png` into the hidden frame of `cell`, then crossfades to it. */
  function swap(cell, png, version, data) {
    return new Promise((resolve) => {
      const back = cell.frames[1 - cell.front];
      const front = cell.frames[cell.front];
      const url = URL.createObjectURL(png.blob);
      back.onload = () => {
        back.classList.add("on");
        front.classList.remove("on");
        back.dataset.etag = png.etag || version.etag;
        const old = cell.url;
        cell.url = url;
        cell.etag = png.etag || version.etag;
        cell.front = 1 - cell.front;
        cell.button.dataset.etag = cell.etag;
        // The old frame's blob is freed once it has faded out.
        setTimeout(() => old && URL.revokeObjectURL(old), 1000);
        resolve();
      };
      back.onerror = () => {
        URL.revokeObjectURL(url);
        resolve();
      };
      back.alt = `${cell.label} at ${when(data.computed_at)}`;
      front.alt = "";
      back.src = url;
    });
  }

  function openDetail(cell) {
    if (!cell.url || !cell.info) return;
    const info = cell.info;
    detail.replaceChildren(
      el("h2", { id: "detail-title" }, `${cell.label} (${info.image}), unrotated`),
      el("img", { src: cell.url, class: "detail-image", alt: `${cell.label} of ${product}, unrotated` }),
      el(
        "dl",
        {},
        el("dt", {}, "Product"),
        el("dd", {}, product),
        el("dt", {}, "Image"),
        el("dd", {}, info.image),
        el("dt", {}, "Size"),
        el("dd", {}, `${info.size} × ${info.size} px, ${info.bytes.toLocaleString()} bytes`),
        el("dt", {}, "Computed"),
        el("dd", {}, `${when(info.computed_at)} (${info.computed_at})`),
        el("dt", {}, "Shown here rotated"),
        el("dd", {}, `${cell.rotation}°`),
      ),
      el("form", { method: "dialog" }, el("button", { type: "submit", autofocus: true }, "Close")),
    );
    detail.showModal();
  }

  select.addEventListener("change", () => setParams({ product: select.value }));
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume" : "Pause";
    if (!paused && pending) {
      const p = pending;
      pending = null;
      apply(p);
    }
  });

  function switchTo(next) {
    product = next;
    select.value = next;
    pending = null;
    generation++;
    firstPaintStart = performance.now();
    firstPaintDone = false;
    delete grid.dataset.firstPaintMs;
    delete grid.dataset.generation;
    for (const cell of cells) {
      cell.etag = null;
      cell.info = null;
      cell.button.removeAttribute("data-etag");
    }
    overlayProduct.textContent = next.split("-")[0];
    overlayMidpoint.textContent = "";
    connect();
  }

  loadProducts();

  return {
    update(next) {
      const p = next.get("product");
      if (p && p !== product) switchTo(p);
    },
    unmount() {
      alive = false;
      disconnect();
      for (const cell of cells) if (cell.url) URL.revokeObjectURL(cell.url);
    },
  };
}
