"""The Images view in a real Chromium: the four images appear and update from the event stream,
the picker switches products (and the choice is in the URL), each image is rotated as in the
original crypto-gaf (checked on the pixels of a screenshot against the PNGs), an image is shown
unrotated with its details, a lost connection is announced and recovered from by itself, and
the page's headers hold a strict Content-Security-Policy."""

from __future__ import annotations

import urllib.error

import pytest
from PIL import Image, ImageChops

from conftest import Server, artifacts_dir, eventually, free_port

# The original's cells: image and clockwise rotation in degrees.
ROTATIONS = {"orderbook": 180, "buy": 270, "sell": 90, "midpoint-gadf": 0}


def first_paint(page) -> str:
    page.wait_for_selector("#grid[data-generation]", timeout=30_000)
    return page.get_attribute("#grid", "data-first-paint-ms")


def shown_etags(page) -> dict[str, str]:
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#grid .cell')].map(c => [c.dataset.image, c.dataset.etag]))"
    )


def settled(page) -> bool:
    """True when no crossfade is running: in every cell one frame is opaque, the other clear."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#grid .cell')].every(c => {
            const o = [...c.querySelectorAll('img')].map(i => getComputedStyle(i).opacity).sort();
            return o[0] === '0' && o[1] === '1';
        })"""
    )


def shown_images(page) -> dict[str, Image.Image]:
    """The pixels each cell shows: its opaque frame drawn unrotated on a canvas (the page's CSP
    keeps even the page itself from fetching its blob: URLs)."""
    shown = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#grid .cell')].map(c => {
            const img = c.querySelector('img.on');
            const canvas = document.createElement('canvas');
            canvas.width = img.naturalWidth;
            canvas.height = img.naturalHeight;
            const ctx = canvas.getContext('2d');
            ctx.drawImage(img, 0, 0);
            const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            return [c.dataset.image, {w: canvas.width, h: canvas.height, data: Array.from(data)}];
        }))"""
    )
    return {k: Image.frombytes("RGBA", (v["w"], v["h"]), bytes(v["data"])).convert("RGB") for k, v in shown.items()}


def match_ratio(shot: Image.Image, box: dict, png: Image.Image, exclude: list[dict]) -> float:
    """Share of `png`'s pixels equal (±10 per channel) to the screenshot at their centres in
    `box` (pixels under the overlay's text are left out)."""
    n = png.width
    same = total = 0
    for y in range(n):
        for x in range(n):
            sx = box["x"] + (x + 0.5) * box["width"] / n
            sy = box["y"] + (y + 0.5) * box["height"] / n
            if any(r["x"] - 24 <= sx <= r["x"] + r["width"] + 24 and r["y"] - 24 <= sy <= r["y"] + r["height"] + 24 for r in exclude):
                continue
            total += 1
            a = shot.getpixel((int(sx), int(sy)))[:3]
            b = png.getpixel((x, y))[:3]
            same += all(abs(p - q) <= 10 for p, q in zip(a, b))
    assert total > n * n // 2, "the overlay hides most of the image"
    return same / total


def test_images_appear_update_and_are_rotated_as_the_original(server, page):
    page.goto(f"{server.base}/#/images?product=BTC-USD")
    ms = first_paint(page)
    print(f"\nfirst paint of BTC-USD's images: {ms} ms (aim < 1000 ms; not asserted)")
    assert page.input_value("#product") == "BTC-USD"
    assert page.text_content("#overlay-product") == "BTC"
    midpoint = page.text_content("#overlay-midpoint")
    assert midpoint and float(midpoint) > 0
    before = shown_etags(page)
    assert all(before.values()), before

    # Live: new images arrive without a reload (the simulator moves every 100 ms).
    eventually("new images from the event stream", lambda: shown_etags(page) != before, 30)

    # Each cell shows its PNG rotated as in the original.
    page.click("#pause")
    eventually("the crossfade to end", lambda: settled(page), 10)
    pngs = shown_images(page)
    assert all(p.size == (30, 30) for p in pngs.values()), {k: p.size for k, p in pngs.items()}
    grid = page.locator("#grid")
    shot_path = artifacts_dir() / "images.png"
    grid.screenshot(path=str(shot_path))
    page.screenshot(path=str(artifacts_dir() / "images-page.png"))
    shot = Image.open(shot_path).convert("RGB")
    origin = grid.bounding_box()

    def rel(b):
        return {"x": b["x"] - origin["x"], "y": b["y"] - origin["y"], "width": b["width"], "height": b["height"]}

    text_boxes = [rel(page.locator(s).bounding_box()) for s in ("#overlay-product", "#overlay-midpoint")]
    for image, rotation in ROTATIONS.items():
        cell = rel(page.locator(f'#grid .cell[data-image="{image}"]').bounding_box())
        png = pngs[image]
        right = match_ratio(shot, cell, png.rotate(-rotation), text_boxes)
        print(f"{image}: {right:.3f} of the pixels match the PNG rotated {rotation}°")
        assert right >= 0.97, f"{image} rotated {rotation}°: only {right:.3f} of its pixels match"
        for other in (0, 90, 180, 270):
            wrong_png = png.rotate(-other)
            diff = ImageChops.difference(wrong_png, png.rotate(-rotation)).convert("L")
            differs = sum(1 for v in diff.tobytes() if v)
            if other != rotation and differs > png.width * png.height // 4:
                wrong = match_ratio(shot, cell, wrong_png, text_boxes)
                assert wrong < right - 0.2, f"{image}: {other}° matches as well as {rotation}° ({wrong:.3f})"
    page.click("#pause")


def test_an_image_is_shown_unrotated_with_its_details(server, page):
    page.goto(f"{server.base}/#/images?product=BTC-USD")
    first_paint(page)
    page.click("#pause")
    page.focus('#grid .cell[data-image="orderbook"]')
    page.keyboard.press("Enter")
    dialog = page.locator("#detail")
    dialog.wait_for(state="visible")
    text = dialog.inner_text()
    assert "orderbook" in text and "30 × 30 px" in text and "bytes" in text and "Computed" in text
    img = dialog.locator("img")
    assert img.evaluate("i => getComputedStyle(i).transform") == "none"
    assert img.evaluate("i => i.naturalWidth") == 30
    page.screenshot(path=str(artifacts_dir() / "images-detail.png"))
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")


def test_the_picker_switches_products_and_the_url_shares_the_choice(server, page):
    page.goto(f"{server.base}/#/images?product=BTC-USD")
    first_paint(page)
    btc = shown_etags(page)
    page.select_option("#product", "ETH-USD")
    page.wait_for_function("() => location.hash.includes('product=ETH-USD')")
    first_paint(page)
    assert page.text_content("#overlay-product") == "ETH"
    eth = shown_etags(page)
    assert all(eth.values()) and not set(eth.values()) & set(btc.values())
    # The URL is the view: opened afresh it shows ETH-USD.
    page.goto("about:blank")
    page.goto(f"{server.base}/#/images?product=ETH-USD")
    first_paint(page)
    assert page.input_value("#product") == "ETH-USD"
    assert page.text_content("#overlay-product") == "ETH"


def test_page_headers_and_ui_flag(server):
    with server.get("/") as r:
        csp = r.headers["Content-Security-Policy"]
        assert r.headers["Content-Type"].startswith("text/html")
        etag = r.headers["ETag"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "img-src 'self' data: blob:" in csp
    with server.get("/ui/app.js") as r:
        assert r.headers["Content-Type"].startswith("text/javascript")
    with pytest.raises(urllib.error.HTTPError) as e:
        server.get("/", headers={"If-None-Match": etag})
    assert e.value.code == 304


@pytest.mark.network_failures
def test_a_lost_connection_is_announced_and_recovered_from(tmp_path, page):
    s = Server(tmp_path, port=free_port())
    try:
        s.start()
        eventually("images", lambda: s.images_computed(("BTC-USD",)), 60, s.log)
        page.goto(f"{s.base}/#/images?product=BTC-USD")
        first_paint(page)
        banner = page.locator("#banner")
        assert banner.is_hidden()
        # The server goes away (its event stream ends at shutdown; the stop is prompt).
        s.stop()
        banner.wait_for(state="visible")
        assert "reconnecting" in banner.inner_text()
        page.screenshot(path=str(artifacts_dir() / "images-connection-lost.png"))
        # It comes back on the same address: the page reconnects by itself.
        s.start()
        banner.wait_for(state="hidden", timeout=60_000)
        before = shown_etags(page)
        eventually("images after reconnecting", lambda: shown_etags(page) != before, 60)
    finally:
        s.stop()


def test_ui_false_turns_the_page_off(tmp_path):
    s = Server(tmp_path, extra=["--ui=false", "--roles", "api"])
    try:
        s.start()
        for path in ("/", "/ui/app.js"):
            with pytest.raises(urllib.error.HTTPError) as e:
                s.get(path)
            assert e.value.code == 404, path
        assert s.get_json("/api/products") is not None
    finally:
        s.stop()
