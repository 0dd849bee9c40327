"""Accessibility and use on a phone, in a real Chromium: every view passes axe-core (vendored,
tests/browser/vendor/axe-core) with zero violations in the light and the dark theme (taken from
the system setting), works from the keyboard, and fits a phone-sized viewport without sideways
scrolling."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import artifacts_dir

AXE = (Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js").read_text()

# Each view and what shows that it has loaded its data.
VIEWS = {
    "images": "#grid[data-generation]",
    "runs": "#run-strategy option",
    "leaderboard": "#lb-body tr",
    "sweeps": "#sweeps-body tr",
    "plugins": "#plugins-body tr",
    "matrices": "#mx-rolling tr",
    "health": "#health-body tr",
}


def axe_violations(page) -> list[dict]:
    # Evaluated through the DevTools protocol, which the page's CSP does not govern (the page
    # itself may not run inline or eval'd code).
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE)
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]} for v in result]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("view", list(VIEWS))
def test_every_view_passes_axe(server, page, view, scheme):
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{server.base}/#/{view}")
    page.wait_for_selector(VIEWS[view], state="attached", timeout=60_000)
    violations = axe_violations(page)
    page.screenshot(path=str(artifacts_dir() / f"a11y-{view}-{scheme}.png"), full_page=True)
    assert not violations, f"{view} ({scheme}): {violations}"


def test_the_page_follows_the_system_colour_scheme(server, page):
    page.goto(f"{server.base}/#/runs")
    colours = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        colours[scheme] = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert colours["light"] == "rgb(255, 255, 255)" and colours["dark"] != colours["light"], colours


def test_keyboard_navigation(server, page):
    page.goto(f"{server.base}/#/images")
    page.wait_for_selector("#grid[data-generation]")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "skip"
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.getAttribute('href')") == "#/images"
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.getAttribute('href')") == "#/runs"
    page.keyboard.press("Enter")
    page.wait_for_selector("#run-strategy option", state="attached")
    assert page.get_attribute("#nav a[href='#/runs']", "aria-current") == "page"
    # The focus ring is visible.
    page.focus("#nav a[href='#/runs']")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    # Every control of the form has a label.
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('main input, main select, main textarea')]
            .filter(e => !e.labels || !e.labels.length).map(e => e.id)"""
    )
    assert not unlabelled, unlabelled


def test_a_phone_sized_viewport_needs_no_sideways_scrolling(server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        for view, ready in VIEWS.items():
            page.goto(f"{server.base}/#/{view}")
            page.wait_for_selector(ready, state="attached", timeout=60_000)
            overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{view}: {overflow} px wider than the phone"
            page.screenshot(path=str(artifacts_dir() / f"phone-{view}.png"), full_page=True)
        # The images grid is square and fills the phone's width.
        page.goto(f"{server.base}/#/images")
        page.wait_for_selector("#grid[data-generation]")
        box = page.locator("#grid").bounding_box()
        assert abs(box["width"] - box["height"]) < 2 and box["width"] > 300, box
    finally:
        context.close()
