"""Runs, leaderboard and sweeps in a real Chromium: a backtest started from the form (the token
entered once, kept in the session, sent only as a bearer header) finishes and shows its equity
curve, drawdown, metrics and decision log (paged, with a CSV download); an API error shows the
API's own message; the leaderboard ranks by the chosen metric; a sweep shows its heatmap."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from conftest import artifacts_dir


def use_token(page, server):
    page.fill("#token", server.token())
    page.click("#token-use")
    page.wait_for_function("() => document.getElementById('token-state').textContent.includes('token set')")
    assert page.input_value("#token") == "", "the token stays in the field"


def start_form(page, server, fast: str, slow: str):
    page.goto(f"{server.base}/#/runs")
    page.wait_for_selector("#run-strategy option[value='sma-cross']", state="attached")
    page.select_option("#run-strategy", "sma-cross")
    page.wait_for_selector("#param-fast")
    page.fill("#param-fast", fast)
    page.fill("#param-slow", slow)
    page.select_option("#run-product", "BTC-USD")
    page.check("#run-allow-gaps")


def test_a_backtest_started_from_the_form_finishes_and_shows_its_results(server, page):
    token = server.token()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{server.base}/#/runs")
    use_token(page, server)
    start_form(page, server, "2", "4")
    page.click("#run-start")
    page.wait_for_function("() => /run=\\d+/.test(location.hash)")
    page.wait_for_selector("#run-status[data-status='finished']", timeout=90_000)
    run_id = int(page.evaluate("() => new URLSearchParams(location.hash.split('?')[1]).get('run')"))

    # The equity curve and the drawdown are drawn from the run's curve.
    detail = server.get_json(f"/api/runs/{run_id}")
    points = len(detail["equity_curve"])
    assert points >= 5, detail["equity_curve"]
    d = page.get_attribute(".equity .chart-line", "d")
    assert d.count("L") == points - 1
    assert page.locator(".drawdown .chart-line").count() == 1
    assert "null" not in page.inner_text("#run-detail").split("Decision log")[0]
    # Its metrics.
    metrics = page.inner_text("#run-metrics")
    for name in detail["metrics"]:
        assert name in metrics
    # The decision log: a page of rows, the next page, the CSV.
    page.wait_for_selector("#decisions-body tr")
    first = page.inner_text("#decisions-body tr:first-child td:first-child")
    assert first == "0"
    total = server.get_json(f"/api/runs/{run_id}/decisions?limit=10000")["decisions"]
    shown = page.locator("#decisions-body tr").count()
    assert shown == min(50, len(total))
    if len(total) > 50:
        page.click("#dec-next")
        page.wait_for_function("() => document.querySelector('#decisions-body tr td').textContent === '50'")
        page.click("#dec-prev")
        page.wait_for_function("() => document.querySelector('#decisions-body tr td').textContent === '0'")
    page.select_option("#dec-only", "fills")
    page.click("#dec-filters button[type=submit]")
    page.wait_for_function("() => document.getElementById('dec-info').textContent.includes('rows shown')")
    href = page.get_attribute("#dec-csv", "href")
    assert "format=csv" in href
    with server.get(href) as r:
        csv = r.read().decode()
    assert csv.splitlines()[0].startswith("seq") or "," in csv.splitlines()[0]
    assert len(csv.splitlines()) == len(total) + 1
    page.screenshot(path=str(artifacts_dir() / "runs.png"), full_page=True)

    # The token went only into a header: in no URL the page requested, not in the page's URL.
    assert all(token not in u for u in requests) and token not in page.url
    assert page.evaluate("() => sessionStorage.getItem('cgaf-token')") == token
    assert token not in server.log.read_text(errors="replace")


@pytest.mark.network_failures
def test_an_api_error_shows_the_apis_message(server, page):
    page.goto(f"{server.base}/#/runs")
    # Without a token: the page says what to do.
    start_form(page, server, "2", "4")
    page.click("#run-start")
    page.wait_for_function("() => document.getElementById('run-form-error').textContent.includes('token')")
    # With the token, an invalid parameter: the API's own message.
    use_token(page, server)
    start_form(page, server, "0", "4")
    page.click("#run-start")
    body = {"strategy": "sma-cross", "params": {"fast": 0, "slow": 4}, "product": "BTC-USD", "mode": "backtest",
            "bar_interval": "1s", "fee_bps": 0, "slippage_bps": 0, "starting_cash": 10000, "allow_gaps": True}
    req = urllib.request.Request(f"{server.base}/api/runs", data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {server.token()}", "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("the API accepted fast=0")
    except urllib.error.HTTPError as e:
        message = json.loads(e.read())["error"]["message"]
    page.wait_for_function("() => document.getElementById('run-form-error').textContent.length > 0")
    assert page.inner_text("#run-form-error") == message
    assert "fast" in message
    page.screenshot(path=str(artifacts_dir() / "runs-api-error.png"))
    # A run that does not exist: its message, not a blank page.
    page.goto(f"{server.base}/#/runs?run=999999")
    page.wait_for_selector("#run-detail .error")
    assert "999999" in page.inner_text("#run-detail .error") or "not" in page.inner_text("#run-detail .error")


def test_the_leaderboard_ranks_by_the_chosen_metric(server, page):
    page.goto(f"{server.base}/#/leaderboard?metric=total_return&mode=backtest&min_trades=0")
    page.wait_for_selector("#lb-body tr td a")
    assert page.input_value("#lb-metric") == "total_return"
    assert page.inner_text("#lb-value-head") == "total_return"
    board = server.get_json("/api/leaderboard?metric=total_return&mode=backtest&min_trades=0")
    assert page.locator("#lb-body tr").count() == len(board["entries"]) > 0
    page.select_option("#lb-metric", "sortino")
    page.fill("#lb-min-trades", "1000000")
    page.click("#lb-form button[type=submit]")
    page.wait_for_function("() => location.hash.includes('metric=sortino') && location.hash.includes('min_trades=1000000')")
    page.wait_for_function("() => document.getElementById('lb-body').textContent.includes('No runs match')")
    page.screenshot(path=str(artifacts_dir() / "leaderboard.png"))


def test_a_sweep_shows_its_heatmap(server, page):
    body = {"strategy": "sma-cross", "product": "BTC-USD", "grid": {"fast": [2, 3], "slow": [5, 6]}, "allow_gaps": True,
            "bar_interval": "1s"}
    req = urllib.request.Request(f"{server.base}/api/sweeps", data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {server.token()}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        sweep_id = json.loads(r.read())["sweep_id"]
    page.goto(f"{server.base}/#/sweeps?sweep={sweep_id}")
    page.wait_for_selector("#sweep-detail img.heatmap", timeout=90_000)
    page.wait_for_function("() => document.querySelector('#sweep-detail img.heatmap').naturalWidth > 0")
    assert page.locator(f"#sweeps-body a[href='#/sweeps?sweep={sweep_id}']").count() == 1
    page.screenshot(path=str(artifacts_dir() / "sweeps.png"), full_page=True)
