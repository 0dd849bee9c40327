"""Observability as shipped: the chart's Grafana dashboards and PrometheusRule, checked with the
real tools.

- the dashboards' JSON (schema version, unique panel ids, the datasource variable, no hard-coded
  instance) and their ConfigMaps, on by default with the ServiceMonitor;
- the PrometheusRule: `promtool check rules`, and `promtool test rules` with the unit cases of
  chart-tests/alerts_test.yaml (every alert fires when it should and stays silent otherwise);
  every alert has a summary, a description and a runbook section in docs/operations.md;
- a real Prometheus (Debian's `prometheus`, installed by scripts/setup.sh) scraping a real
  `cgaf serve` on the simulator with a paper run going, loading the rendered rules: every query
  of every dashboard panel and variable returns data, and every alert expression evaluates, each
  series it reads exists, and the rule is healthy.

The last test needs the built binary (CGAF_BIN, or target/release/cgaf as for test_chart.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from test_chart import NAMESPACE, RELEASE, REPO, find_cgaf_binary, of_kind, render

DASHBOARDS = REPO / "chart" / "dashboards"
DASHBOARD_FILES = sorted(DASHBOARDS.glob("*.json"))
OPERATIONS = REPO / "docs" / "operations.md"
ALERTS_TEST = Path(__file__).resolve().parent / "alerts_test.yaml"
ON = {"metrics": {"serviceMonitor": {"enabled": True}}}
# What Grafana substitutes in the queries, for running them against Prometheus directly.
SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$job": ".*",
    "$product": ".*",
    "$plugin": ".*",
    "$run": ".*",
    "$topn": "10",
}


def dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in DASHBOARD_FILES}


def panels(dashboard: dict) -> list[dict]:
    out = []
    for p in dashboard["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def queries(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, expression) of every target of every panel."""
    return [(p["title"], t["expr"]) for p in panels(dashboard) for t in p.get("targets", [])]


def substitute(expr: str) -> str:
    for var, value in SUBSTITUTIONS.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"a variable is left in {expr}"
    return expr


def rule_doc(values: dict) -> dict:
    found = of_kind(render(values), "PrometheusRule")
    assert len(found) == 1, f"expected one PrometheusRule, found {len(found)}"
    return found[0]


def alerts(values: dict = ON) -> list[dict]:
    return [r for g in rule_doc(values)["spec"]["groups"] for r in g["rules"] if "alert" in r]


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is missing: scripts/setup.sh installs Debian's prometheus package with it")
    return path


# ------------------------------------------------------------------------------- the chart


def test_dashboards_and_rules_follow_the_service_monitor():
    docs = render({})
    assert not of_kind(docs, "PrometheusRule")
    assert not [d for d in of_kind(docs, "ConfigMap") if "grafana_dashboard" in d["metadata"]["labels"]]
    docs = render(ON)
    maps = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert sorted(k for m in maps for k in m["data"]) == [
        "crypto-gaf-plugins.json",
        "crypto-gaf-service.json",
        "crypto-gaf-strategies.json",
    ]
    for m in maps:
        (key, text), = m["data"].items()
        assert json.loads(text) == json.loads((DASHBOARDS / key.removeprefix("crypto-gaf-")).read_text())
    assert len(of_kind(docs, "PrometheusRule")) == 1
    # Each on its own, either way.
    off = {"metrics": {"serviceMonitor": {"enabled": True}, "dashboards": {"enabled": False},
                       "prometheusRule": {"enabled": False}}}
    docs = render(off)
    assert not of_kind(docs, "PrometheusRule")
    assert not [d for d in of_kind(docs, "ConfigMap") if "grafana_dashboard" in d["metadata"]["labels"]]
    alone = {"metrics": {"dashboards": {"enabled": True, "label": "my_dashboards", "labelValue": "yes",
                                        "annotations": {"grafana_folder": "crypto-gaf"}},
                         "prometheusRule": {"enabled": True, "labels": {"release": "kps"}}}}
    docs = render(alone)
    assert not of_kind(docs, "ServiceMonitor")
    maps = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["labels"].get("my_dashboards") == "yes"]
    assert len(maps) == 3 and all(m["metadata"]["annotations"] == {"grafana_folder": "crypto-gaf"} for m in maps)
    assert rule_doc(alone)["metadata"]["labels"]["release"] == "kps"


def test_thresholds_are_values():
    values = {"metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {
        "alertLabels": {"team": "quants"},
        "thresholds": {"drawdownRatio": 0.35, "noSamplesFor": "1h30m", "minRollingSharpe": -0.5}}}}
    by_name = {a["alert"]: a for a in alerts(values)}
    assert by_name["CgafPaperRunDrawdown"]["expr"].endswith("> 0.35")
    assert by_name["CgafNoSamples"]["expr"].endswith("> 5400")
    assert by_name["CgafPaperRunLowSharpe"]["expr"].endswith("< -0.5")
    assert all(a["labels"]["team"] == "quants" for a in by_name.values())
    # Only this release's targets.
    selector = f'job=~"{RELEASE}-crypto-gaf-api|{RELEASE}-crypto-gaf-worker", namespace="{NAMESPACE}"'
    for a in by_name.values():
        for m in re.finditer(r"\b(cgaf_[a-z_]+|up)\{([^}]*)\}", a["expr"]):
            assert m.group(2) == selector, f"{a['alert']}: {m.group(0)}"


def test_every_alert_has_a_summary_description_and_runbook_section():
    text = OPERATIONS.read_text()
    headings = {h.strip() for h in re.findall(r"^###\s+(.+)$", text, re.M)}
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names)) == 9
    for a in alerts():
        ann = a["annotations"]
        assert ann.get("summary") and ann.get("description"), a["alert"]
        assert ann["runbook_url"].endswith("docs/operations.md#" + a["alert"].lower()), ann["runbook_url"]
        assert a["alert"] in headings, f"no '### {a['alert']}' runbook section in docs/operations.md"
        section = text.split(f"### {a['alert']}", 1)[1].split("\n### ", 1)[0]
        for part in ("**Means**", "**Check**", "**Fix**"):
            assert part in section, f"{a['alert']}'s runbook lacks {part}"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_json(path):
    d = json.loads(path.read_text())
    assert d["schemaVersion"] >= 36 and d["uid"] and d["title"]
    ids = [p["id"] for p in panels(d)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert "job" in variables
    for p in panels(d):
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"], f"panel {p['title']} has no query"
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}", p["title"]
    text = json.dumps(d)
    assert not re.search(r'instance\s*=~?\s*\\"[^$\\]', text), "a hard-coded instance"
    assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b|localhost:\d+", text), "a hard-coded address"
    for title, expr in queries(d):
        for m in re.finditer(r"\b(cgaf_[a-z_]+|up)\{([^}]*)\}", expr):
            assert 'job=~"$job"' in m.group(2), f"{title}: {m.group(0)} is not limited to $job"
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARD_FILES]
    assert len(uids) == len(set(uids))


def test_plain_grafana_provisioning_points_at_the_dashboards():
    provider = yaml.safe_load((REPO / "deploy" / "grafana" / "provisioning" / "dashboards" / "crypto-gaf.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"
    datasource = yaml.safe_load((REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "crypto-gaf.yaml").read_text())
    assert datasource["datasources"][0]["type"] == "prometheus"


# --------------------------------------------------------------------------------- promtool


def rules_files(tmp_path: Path) -> tuple[Path, Path]:
    """The rendered rules as a Prometheus rule file (full), and without annotations for the unit
    tests (promtool compares annotations too; their templates are checked by `check rules`)."""
    spec = rule_doc(ON)["spec"]
    full = tmp_path / "full.yaml"
    full.write_text(yaml.safe_dump(spec))
    for g in spec["groups"]:
        for r in g["rules"]:
            r.pop("annotations", None)
    bare = tmp_path / "rules.yaml"
    bare.write_text(yaml.safe_dump(spec))
    return full, bare


def test_promtool_checks_the_rendered_rules(tmp_path):
    full, _ = rules_files(tmp_path)
    proc = subprocess.run([need("promtool"), "check", "rules", str(full)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 9 rules found" in proc.stdout, proc.stdout


def test_promtool_unit_tests_cover_every_alert(tmp_path):
    rules_files(tmp_path)
    cases = yaml.safe_load(ALERTS_TEST.read_text())
    for alert in (a["alert"] for a in alerts()):
        evals = [t for case in cases["tests"] for t in case["alert_rule_test"] if t["alertname"] == alert]
        assert any(t["exp_alerts"] for t in evals), f"no case where {alert} fires"
        assert any(not t["exp_alerts"] for t in evals), f"no case where {alert} stays silent"
    shutil.copy(ALERTS_TEST, tmp_path / "alerts_test.yaml")
    proc = subprocess.run(
        [need("promtool"), "test", "rules", "alerts_test.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------- a real Prometheus, a real cgaf


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
        return None


def eventually(what: str, check, timeout: float, logs: list[Path]):
    """Polls `check` until it returns something truthy, up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last and last[0]:
            return last[0]
        time.sleep(0.25)
    tails = "\n".join(f"--- {p.name}:\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())
    pytest.fail(f"timed out waiting for {what}: {last[1] if last else ''}\n{tails}")


class Process:
    def __init__(self, args: list[str], log: Path, env: dict | None = None):
        self.log = log
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log.open("wb"), env=env)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def stack(tmp_path):
    """`cgaf serve` on the simulator with a paper run, and Prometheus scraping it every second
    with the chart's rules loaded."""
    binary = find_cgaf_binary()
    if binary is None:
        pytest.fail("no cgaf binary: set CGAF_BIN=/path/to/cgaf or build it (cargo build --release -p cgaf)")
    prometheus = need("prometheus")
    started: list[Process] = []
    try:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CGAF_") and k != "DATABASE_URL"}
        env["CGAF_LOG"] = "info"
        cgaf = Process(
            [str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "data"),
             "--products", "BTC-USD:30,ETH-USD:30", "--collect-schedule", "100ms",
             "--calculate-schedule", "200ms", "--trade-schedule", "100ms"],
            tmp_path / "cgaf.log", env,
        )
        started.append(cgaf)
        base = f"http://127.0.0.1:{port}"
        logs = [cgaf.log]

        def ready():
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=5) as r:
                    return (r.status == 200, "ready")
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                return (False, str(e))

        eventually("cgaf readiness", ready, 120, logs)
        token = (tmp_path / "data" / "api-token").read_text().strip()
        body = {"strategy": "sma-cross", "params": {"fast": 2, "slow": 4}, "product": "BTC-USD", "mode": "paper",
                "bar_interval": "200ms", "risk": {"max_position": 0.5}}
        req = urllib.request.Request(f"{base}/api/runs", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 201

        full, _ = rules_files(tmp_path)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(full)],
            "scrape_configs": [{
                "job_name": f"{RELEASE}-crypto-gaf-worker",
                "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"namespace": NAMESPACE}}],
            }],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        prom_port = free_port()
        prom = Process(
            [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            tmp_path / "prometheus.log",
        )
        started.append(prom)
        yield f"http://127.0.0.1:{prom_port}", [cgaf.log, prom.log]
        # The log went to a file: no colour codes in it.
        assert b"\x1b" not in cgaf.log.read_bytes(), "ANSI escapes in a log written to a file"
    finally:
        for p in reversed(started):
            p.stop()
        # The private PostgreSQL cluster and the TSDB are large; the logs stay for a failure.
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
        shutil.rmtree(tmp_path / "tsdb", ignore_errors=True)


def query(prom: str, expr: str) -> tuple[list, str]:
    r = get_json(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if r is None:
        return [], "no answer"
    if r.get("status") != "success":
        return [], f"error: {r.get('error')}"
    return r["data"]["result"], "ok"


def test_a_real_prometheus_sees_every_panel_and_alert(stack):
    prom, logs = stack
    # Every panel query of every dashboard returns data.
    pending = [(name, title, substitute(expr)) for name, d in dashboards().items() for title, expr in queries(d)]
    assert len(pending) > 30

    def all_panels():
        nonlocal pending
        pending = [(n, t, e) for n, t, e in pending if not query(prom, e)[0]]
        return (not pending, f"{len(pending)} panel queries without data, e.g. {pending[:3]}")

    eventually("data in every dashboard panel", all_panels, 90, logs)

    # Every query variable lists values.
    for name, d in dashboards().items():
        for v in d["templating"]["list"]:
            if v["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", v["definition"])
            assert m, v["definition"]
            series = get_json(f"{prom}/api/v1/series?" + urllib.parse.urlencode({"match[]": substitute(m.group(1))}))
            assert series and any(m.group(2) in s for s in series["data"]), f"{name}: variable {v['name']} is empty"

    # Every alert expression evaluates, and every series it reads exists.
    for a in alerts():
        result, status = query(prom, a["expr"])
        assert status == "ok", f"{a['alert']}: {status}"
        for m in re.finditer(r"\b(cgaf_[a-z_]+|up)\{[^}]*\}", a["expr"]):
            assert query(prom, m.group(0))[0], f"{a['alert']}: no data for {m.group(0)}"

    # The rules loaded and evaluate without error; on this healthy install none fires.
    def rules_evaluated():
        r = get_json(f"{prom}/api/v1/rules")
        if not r:
            return (False, "no answer")
        rules = [rule for g in r["data"]["groups"] for rule in g["rules"]]
        bad = [(x["name"], x.get("lastError")) for x in rules if x.get("health") != "ok"]
        return (len(rules) == 9 and not bad, f"{len(rules)} rules, unhealthy: {bad}")

    eventually("healthy rules", rules_evaluated, 30, logs)
    firing = get_json(f"{prom}/api/v1/alerts")["data"]["alerts"]
    assert not [x for x in firing if x["state"] == "firing"], firing
