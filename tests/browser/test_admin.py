"""Plugins, health and matrices in a real Chromium: a plugin uploaded through the page is
activated (and rolled back with the token), the health view shows readiness, source errors
and calculate latency and engages the kill switch with a reason after a confirmation, and the
matrices view shows the latest blended matrix of each granularity and the scores over time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import REPO, artifacts_dir, eventually


def fixture_plugin(name: str) -> Path:
    """A test plugin component, built by scripts/build-plugins.sh --tests (tests/browser/run.sh
    runs it)."""
    target = Path(os.environ.get("CARGO_TARGET_DIR") or Path.home() / ".cache" / "cgaf-target")
    for folder in ("fixture", "hostile"):
        p = target / "plugins" / folder / f"{name}.wasm"
        if p.is_file():
            return p
    pytest.fail(f"no {name}.wasm under {target}/plugins: run scripts/build-plugins.sh --tests ({REPO})")


def use_token(page, server):
    page.fill("#token", server.token())
    page.click("#token-use")
    page.wait_for_function("() => document.getElementById('token-state').textContent.includes('token set')")


def test_a_plugin_uploaded_through_the_page_activates_and_rolls_back(server, page):
    page.goto(f"{server.base}/#/plugins")
    use_token(page, server)
    page.wait_for_selector("#plugins-body a[href='#/plugins?plugin=gadf']")
    page.set_input_files("#plugin-file", str(fixture_plugin("gadf-next")))
    assert page.is_checked("#plugin-activate")
    page.click("#plugin-upload-button")
    page.wait_for_function("() => document.getElementById('plugin-upload-status').textContent.includes('active')")
    page.wait_for_function("() => location.hash.includes('plugin=gadf')")
    page.wait_for_function("() => document.getElementById('plugin-active')?.textContent === '1.1.0'")
    assert server.get_json("/api/plugins/gadf")["active_version"] == "1.1.0"
    assert page.inner_text(".active-version[data-plugin='gadf']") == "1.1.0"
    assert page.locator("#plugin-versions tr[data-version='1.1.0']").count() == 1
    page.screenshot(path=str(artifacts_dir() / "plugins.png"), full_page=True)
    # Back to the built-in with the roll-back button, and forward again with Activate.
    page.click("#plugin-rollback")
    page.wait_for_function("() => document.getElementById('plugin-active')?.textContent !== '1.1.0'")
    assert server.get_json("/api/plugins/gadf")["active_version"] != "1.1.0"
    page.click("#plugin-versions tr[data-version='1.1.0'] button.activate")
    page.wait_for_function("() => document.getElementById('plugin-active')?.textContent === '1.1.0'")
    page.click("#plugin-rollback")
    page.wait_for_function("() => document.getElementById('plugin-active')?.textContent !== '1.1.0'")


def test_health_shows_readiness_and_latency_and_engages_the_kill_switch(server, page):
    page.goto(f"{server.base}/#/health")
    page.wait_for_function("() => document.getElementById('health-ready').textContent.startsWith('Ready')")
    page.wait_for_selector("#health-body tr[data-product='BTC-USD']")
    row = page.inner_text("#health-body tr[data-product='BTC-USD']")
    assert " ms" in row, row
    use_token(page, server)
    # Without a reason nothing is sent.
    page.click("#kill-engage")
    assert "reason" in page.inner_text("#kill-error")
    page.fill("#kill-reason", "browser test")
    page.click("#kill-engage")
    page.wait_for_selector("#kill-confirm[open]")
    # Cancel: still released.
    page.click("#kill-confirm-no")
    assert server.get_json("/api/kill-switch")["engaged"] is False
    page.click("#kill-engage")
    page.click("#kill-confirm-yes")
    page.wait_for_selector("#kill-state[data-engaged='true']")
    k = server.get_json("/api/kill-switch")
    assert k["engaged"] is True and k["reason"] == "browser test"
    assert "browser test" in page.inner_text("#kill-state")
    page.screenshot(path=str(artifacts_dir() / "health.png"), full_page=True)
    page.click("#kill-release")
    page.click("#kill-confirm-yes")
    page.wait_for_selector("#kill-state[data-engaged='false']")
    assert server.get_json("/api/kill-switch")["engaged"] is False


def test_matrices_show_heatmaps_and_scores(server, page):
    def scored():
        rolling = server.get_json("/api/matrices/rolling")["scores"]
        return [s for s in rolling if s["product"] == "BTC-USD" and s["n"] >= 2]

    eventually("scored forecasts of BTC-USD", scored, 120, server.log)
    page.goto(f"{server.base}/#/matrices?product=BTC-USD")
    page.wait_for_selector("#mx-grid img.heatmap")
    page.wait_for_function("() => [...document.querySelectorAll('#mx-grid img.heatmap')].every(i => i.naturalWidth > 0)")
    page.wait_for_selector("#mx-grid .chart-line")
    assert page.locator("#mx-rolling tr").count() >= 1
    page.screenshot(path=str(artifacts_dir() / "matrices.png"), full_page=True)


def test_a_canary_started_from_the_page_is_promoted_and_shown_in_the_swap_history(server, page):
    # An identical gasf (1.0.1), uploaded without activating, then canaried from the page.
    page.goto(f"{server.base}/#/plugins?plugin=gasf")
    use_token(page, server)
    page.set_input_files("#plugin-file", str(fixture_plugin("gasf-same")))
    page.uncheck("#plugin-activate")
    page.click("#plugin-upload-button")
    page.wait_for_function("() => document.getElementById('plugin-upload-status').textContent.includes('1.0.1')")
    page.wait_for_selector("#canary-version option[value='1.0.1']", state="attached")
    page.select_option("#canary-version", "1.0.1")
    page.fill("#canary-calls", "10")
    # The identical plugin is judged on its outputs: its time over ten calls, on a loaded machine,
    # is noise (the default refuses a candidate 3x slower than the active version).
    page.fill("#canary-tolerance", '{"max_latency_ratio": 1000}')
    page.click("#canary-start")
    # The report grows while it runs (the page polls), then shows the verdict: promoted, or else
    # the row that says why not.
    ended = "#plugin-canaries tr[data-state='promoted'], #plugin-canaries tr[data-state='refused'], " \
        "#plugin-canaries tr[data-state='cancelled']"
    page.wait_for_selector(ended, timeout=90_000)
    row = page.inner_text(ended)
    assert page.locator("#plugin-canaries tr[data-state='promoted']").count() == 1, row
    assert "1.0.1 vs 1.0.0" in row, row
    page.wait_for_function("() => document.getElementById('plugin-active')?.textContent === '1.0.1'")
    assert server.get_json("/api/plugins/gasf")["active_version"] == "1.0.1"
    first = page.locator("#plugin-activations tbody tr").first.inner_text()
    assert "1.0.1" in first and "canary" in first, first
    page.screenshot(path=str(artifacts_dir() / "plugins-canary.png"), full_page=True)
    # Back to the built-in for the other tests.
    page.click("#plugin-rollback")
    page.wait_for_function("() => document.getElementById('plugin-active')?.textContent === '1.0.0'")
