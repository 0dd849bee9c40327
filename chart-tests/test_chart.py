"""Lint and render the Helm chart with a real Helm (v4, embedded by helm-python-sdk) and check
the rendered objects.

Run: chart-tests/run.sh   (or: python3 -m pytest -q chart-tests)

Test (a) needs the built binary, to learn the real CGAF_* variables from its --help:
CGAF_BIN=/path/to/cgaf, else target/release/cgaf under $CARGO_TARGET_DIR,
$HOME/.cache/cgaf-target or the repository. Without a binary that test fails.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import subprocess
from pathlib import Path

import helm_python as helm
import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    tomllib = None

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CHART = REPO / "chart"
VALUES_DIR = HERE / "values"
VALUES_FILES = sorted(VALUES_DIR.glob("*.yaml"))
RELEASE = "demo"
NAMESPACE = "gaf"
WORKLOADS = {"Deployment", "StatefulSet", "Job"}
CGAF_UID = 10001
DATA_DIR = "/var/lib/cgaf"


# ------------------------------------------------------------------------------------ helpers


@functools.lru_cache(maxsize=None)
def chart() -> helm.Chart:
    return helm.Chart.load(str(CHART))


def load_values(name: str) -> dict:
    return yaml.safe_load((VALUES_DIR / name).read_text()) or {}


def render_files(values: dict, *, upgrade: bool = False) -> dict[str, str]:
    return chart().render(
        values, name=RELEASE, namespace=NAMESPACE, is_install=not upgrade, is_upgrade=upgrade
    )


def render(values: dict, *, upgrade: bool = False) -> list[dict]:
    docs = []
    for path, text in sorted(render_files(values, upgrade=upgrade).items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict], kind: str, component: str) -> dict:
    found = [
        d
        for d in of_kind(docs, kind)
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"expected one {kind} for component {component}, found {len(found)}"
    return found[0]


def pod_spec(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def containers(doc: dict, *, init: bool = True) -> list[dict]:
    spec = pod_spec(doc)
    return list(spec.get("initContainers", []) if init else []) + list(spec["containers"])


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def env_value(container: dict, name: str) -> str:
    entry = env_of(container)[name]
    assert "value" in entry, f"{name} is not a plain value: {entry}"
    return entry["value"]


def is_cgaf(container: dict) -> bool:
    """Containers running the cgaf image (not the bundled PostgreSQL)."""
    return container["name"] != "postgresql"


def hook_phases(doc: dict) -> set[str]:
    raw = doc["metadata"].get("annotations", {}).get("helm.sh/hook", "")
    return {p.strip() for p in raw.split(",") if p.strip()}


def hook_weight(doc: dict) -> int:
    return int(doc["metadata"].get("annotations", {}).get("helm.sh/hook-weight", "0"))


# --------------------------------------------------------------- the binary's real variables


def find_cgaf_binary() -> Path | None:
    explicit = os.environ.get("CGAF_BIN")
    if explicit:
        return Path(explicit)
    roots = []
    if os.environ.get("CARGO_TARGET_DIR"):
        roots.append(Path(os.environ["CARGO_TARGET_DIR"]))
    roots.append(Path.home() / ".cache" / "cgaf-target")
    roots.append(REPO / "target")
    for root in roots:
        candidate = root / "release" / "cgaf"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


ENV_IN_HELP = re.compile(r"\[env:\s*(CGAF_[A-Z0-9_]+)\s*[=\]]")


@functools.lru_cache(maxsize=None)
def real_env_names() -> frozenset[str]:
    binary = find_cgaf_binary()
    if binary is None:
        pytest.fail(
            "no cgaf binary: set CGAF_BIN=/path/to/cgaf, or build it "
            "(cargo build --release -p cgaf) so that target/release/cgaf exists under "
            "$CARGO_TARGET_DIR, $HOME/.cache/cgaf-target or the repository"
        )
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"CGAF_BIN={binary} is not an executable file")
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("CGAF_")}
    names: set[str] = set()
    for args in (["--help"], ["serve", "--help"], ["migrate", "--help"]):
        proc = subprocess.run(
            [str(binary), *args], capture_output=True, text=True, env=clean_env, timeout=60
        )
        if proc.returncode != 0:
            pytest.fail(f"`{binary} {' '.join(args)}` exited with {proc.returncode}: {proc.stderr}")
        # clap may wrap long lines anywhere there is a space, also inside "[env: NAME=...]".
        text = re.sub(r"\s+", " ", proc.stdout)
        names.update(ENV_IN_HELP.findall(text))
    if not names:
        pytest.fail(f"`{binary} serve --help` lists no [env: CGAF_...] variables")
    return frozenset(names)


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", params=[p.name for p in VALUES_FILES])
def values_case(request) -> tuple[str, dict, list[dict]]:
    values = load_values(request.param)
    return request.param, values, render(values)


def test_values_files_present():
    names = {p.name for p in VALUES_FILES}
    for needed in (
        "defaults.yaml",
        "external-secret.yaml",
        "external-url.yaml",
        "features.yaml",
        "original.yaml",
    ):
        assert needed in names


# ------------------------------------------------------------------------------ (i) helm lint


@pytest.mark.parametrize("values_file", [p.name for p in VALUES_FILES])
def test_helm_lint_is_clean(values_file):
    report = helm.lint(str(CHART), load_values(values_file), namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"], report["errors"]
    assert not problems, problems


# -------------------------------------------------------------- (a) only real CGAF_* variables


def test_every_cgaf_env_var_is_a_real_flag(values_case):
    name, _, docs = values_case
    real = real_env_names()
    used = set()
    for doc in docs:
        if doc["kind"] not in WORKLOADS:
            continue
        for c in containers(doc):
            for env_name in env_of(c):
                if env_name.startswith("CGAF_"):
                    used.add(env_name)
    unknown = sorted(used - real)
    assert not unknown, f"{name}: the chart sets variables cgaf does not know: {unknown}"


def test_cgaf_containers_are_configured_only_by_cgaf_variables(values_case):
    name, _, docs = values_case
    for doc in docs:
        if doc["kind"] not in WORKLOADS:
            continue
        for c in containers(doc):
            if is_cgaf(c):
                others = [n for n in env_of(c) if not n.startswith("CGAF_")]
                assert not others, f"{name}: {doc['metadata']['name']}/{c['name']} sets {others}"
                assert "envFrom" not in c


# ------------------------------------------------------------------------------------ (b) probes


def test_probes_hit_real_routes_on_the_container_port(values_case):
    name, _, docs = values_case
    deployments = of_kind(docs, "Deployment")
    assert {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments} == {
        "api",
        "worker",
    }
    for doc in deployments:
        c = pod_spec(doc)["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        listen_port = int(env_value(c, "CGAF_LISTEN").rsplit(":", 1)[1])
        assert env_value(c, "CGAF_LISTEN").startswith("0.0.0.0:")
        assert ports["http"] == listen_port
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = c[probe]["httpGet"]
            assert get["path"] == path, f"{name}: {probe} of {doc['metadata']['name']}"
            assert get["port"] in ("http", listen_port)


def test_api_service_targets_the_api_port():
    docs = render(load_values("original.yaml"))
    svc = one(docs, "Service", "api")
    api = pod_spec(one(docs, "Deployment", "api"))["containers"][0]
    assert svc["spec"]["ports"][0]["port"] == 4202
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    assert {p["name"] for p in api["ports"]} == {"http"}
    assert svc["spec"]["selector"] == one(docs, "Deployment", "api")["spec"]["selector"]["matchLabels"]


# -------------------------------------------------------------------------- (c) version match


def workspace_version() -> str:
    text = (REPO / "Cargo.toml").read_text()
    if tomllib is not None:
        return tomllib.loads(text)["workspace"]["package"]["version"]
    section = re.search(r"^\[workspace\.package\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert section, "no [workspace.package] in Cargo.toml"
    match = re.search(r'^version\s*=\s*"([^"]+)"', section.group(1), re.M)
    assert match, "no version in [workspace.package]"
    return match.group(1)


def test_app_version_matches_workspace_version():
    meta = chart().metadata
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == "crypto-gaf"
    assert meta["version"] == "3.0.0"
    assert meta["appVersion"] == workspace_version()


def test_default_image_tag_is_the_app_version():
    docs = render({})
    for doc in of_kind(docs, "Deployment") + of_kind(docs, "Job"):
        for c in containers(doc):
            assert c["image"] == f"crypto-gaf:{workspace_version()}"


# ----------------------------------------------------------------- (d) no plain-text passwords


SECRETISH = re.compile(r"PASSWORD|DATABASE_URL|TOKEN", re.I)


def test_no_password_in_plain_text(values_case):
    name, values, docs = values_case
    secrets = []
    for s in of_kind(docs, "Secret"):
        for v in (s.get("data") or {}).values():
            secrets.append(base64.b64decode(v).decode())
        secrets.extend((s.get("stringData") or {}).values())
    ext = values.get("externalDatabase", {})
    auth = values.get("postgresql", {}).get("auth", {})
    secrets.extend(
        v for v in (ext.get("url"), ext.get("password"), auth.get("password"),
                    auth.get("postgresPassword")) if v
    )
    for doc in docs:
        if doc["kind"] not in WORKLOADS:
            continue
        text = yaml.safe_dump(doc)
        for secret in secrets:
            assert secret not in text, f"{name}: a secret value appears in {doc['metadata']['name']}"
        for c in containers(doc):
            for env_name, entry in env_of(c).items():
                if SECRETISH.search(env_name):
                    assert "value" not in entry, f"{name}: {env_name} is a literal in {c['name']}"
                    assert "secretKeyRef" in entry["valueFrom"], f"{name}: {env_name}"


def test_external_url_and_password_live_in_secrets():
    docs = render(load_values("external-url.yaml"))
    api = pod_spec(one(docs, "Deployment", "api"))["containers"][0]
    ref = env_of(api)["CGAF_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    secret = next(s for s in of_kind(docs, "Secret") if s["metadata"]["name"] == ref["name"])
    assert base64.b64decode(secret["data"][ref["key"]]).decode() == load_values(
        "external-url.yaml"
    )["externalDatabase"]["url"]
    assert "CGAF_DB_HOST" not in env_of(api)

    docs = render(load_values("external-secret.yaml"))
    worker = pod_spec(one(docs, "Deployment", "worker"))["containers"][0]
    assert env_of(worker)["CGAF_DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "cgaf-db-credentials",
        "key": "pg-password",
    }
    assert env_value(worker, "CGAF_DB_HOST") == "pg.databases.svc.cluster.local"
    assert env_value(worker, "CGAF_DB_PORT") == "5433"
    assert env_value(worker, "CGAF_DB_USER") == "cgaf"
    assert env_value(worker, "CGAF_DB_NAME") == "cgaf"
    api = pod_spec(one(docs, "Deployment", "api"))["containers"][0]
    assert env_of(api)["CGAF_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "cgaf-api-token",
        "key": "token",
    }
    # Neither a database nor a token Secret is made when they already exist.
    assert of_kind(docs, "Secret") == []


def test_generated_api_token_secret():
    docs = render({})
    api = pod_spec(one(docs, "Deployment", "api"))["containers"][0]
    ref = env_of(api)["CGAF_API_TOKEN"]["valueFrom"]["secretKeyRef"]
    secret = next(s for s in of_kind(docs, "Secret") if s["metadata"]["name"] == ref["name"])
    assert len(base64.b64decode(secret["data"][ref["key"]])) >= 32
    assert "CGAF_API_TOKEN" not in env_of(pod_spec(one(docs, "Deployment", "worker"))["containers"][0])
    template = next(t["data"] for t in chart().templates if t["name"].endswith("api-token-secret.yaml"))
    assert "lookup" in template


def test_every_plugin_loading_pod_shares_one_generated_artifact_key():
    docs = render({})
    refs = []
    for component in ("api", "worker"):
        c = pod_spec(one(docs, "Deployment", component))["containers"][0]
        refs.append(env_of(c)["CGAF_PLUGIN_ARTIFACT_KEY"]["valueFrom"]["secretKeyRef"])
    assert refs[0] == refs[1], "api and worker pods must sign and check with the same key"
    secret = next(s for s in of_kind(docs, "Secret") if s["metadata"]["name"] == refs[0]["name"])
    assert len(base64.b64decode(secret["data"][refs[0]["key"]])) >= 32
    template = next(t["data"] for t in chart().templates if t["name"].endswith("plugin-artifact-key-secret.yaml"))
    assert "lookup" in template
    off = render({"plugins": {"shareCompiled": False}})
    for component in ("api", "worker"):
        c = pod_spec(one(off, "Deployment", component))["containers"][0]
        assert "CGAF_PLUGIN_ARTIFACT_KEY" not in env_of(c)
    assert not [s for s in of_kind(off, "Secret") if "plugin-artifact-key" in s["metadata"]["name"]]


# ------------------------------------------------------------------------ (e) non-root pods


def test_pods_run_non_root_with_read_only_root(values_case):
    name, _, docs = values_case
    for doc in docs:
        if doc["kind"] not in WORKLOADS:
            continue
        spec = pod_spec(doc)
        pod_sc = spec["securityContext"]
        label = f"{name}: {doc['kind']} {doc['metadata']['name']}"
        assert pod_sc["runAsNonRoot"] is True, label
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", label
        assert spec.get("automountServiceAccountToken") is False, label
        # Service links would inject e.g. CGAF_DB_PORT=tcp://... for a Service named cgaf-db.
        assert spec.get("enableServiceLinks") is False, label
        cgaf_pod = all(is_cgaf(c) for c in containers(doc))
        if cgaf_pod:
            assert pod_sc["runAsUser"] == CGAF_UID, label
        assert pod_sc["runAsUser"] != 0, label
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in containers(doc):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, f"{label}/{c['name']}"
            assert sc["allowPrivilegeEscalation"] is False, f"{label}/{c['name']}"
            assert sc["capabilities"]["drop"] == ["ALL"], f"{label}/{c['name']}"
            assert not sc.get("capabilities", {}).get("add"), f"{label}/{c['name']}"
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{label}/{c['name']}: /tmp"
            if is_cgaf(c):
                assert env_value(c, "CGAF_DATA_DIR") == DATA_DIR
                assert "emptyDir" in volumes[mounts[DATA_DIR]], f"{label}/{c['name']}"


# ------------------------------------------------------------------------- (f) migration hook


@pytest.mark.parametrize(
    "values_file,install_phase",
    [
        ("defaults.yaml", "post-install"),
        ("original.yaml", "post-install"),
        ("features.yaml", "post-install"),
        ("external-secret.yaml", "pre-install"),
        ("external-url.yaml", "pre-install"),
        ("external-password.yaml", "pre-install"),
    ],
)
def test_migration_hook(values_file, install_phase):
    docs = render(load_values(values_file))
    jobs = of_kind(docs, "Job")
    assert len(jobs) == 1
    job = jobs[0]
    assert hook_phases(job) == {install_phase, "pre-upgrade"}
    policy = job["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
    assert "before-hook-creation" in policy
    (c,) = pod_spec(job)["containers"]
    assert c.get("args") == ["migrate"] and "command" not in c, "the Job runs `cgaf migrate`"
    assert pod_spec(job)["restartPolicy"] == "Never"

    # Every Secret the Job reads exists when it runs: one created beforehand by the user, a
    # hook of the same phases with a lower weight, or (post-install / pre-upgrade only) a
    # regular object of the release.
    rendered = {s["metadata"]["name"]: s for s in of_kind(docs, "Secret")}
    for entry in env_of(c).values():
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if not ref or ref["name"] not in rendered:
            continue
        secret = rendered[ref["name"]]
        if install_phase == "pre-install" or hook_phases(secret):
            assert hook_phases(job) <= hook_phases(secret), ref["name"]
            assert hook_weight(secret) < hook_weight(job), ref["name"]
            assert ref["key"] in secret["data"]

    # The bundled database is a regular object, so it exists before a post-install hook.
    for doc in docs:
        if doc["metadata"]["labels"].get("app.kubernetes.io/component") == "postgresql":
            assert not hook_phases(doc), doc["metadata"]["name"]

    # No server starts before the schema exists: every cgaf pod migrates (waiting for the
    # database) in an init container first.
    for doc in of_kind(docs, "Deployment"):
        init = pod_spec(doc)["initContainers"]
        assert [i["name"] for i in init] == ["migrate"]
        assert init[0].get("args") == ["migrate"] and "command" not in init[0]
        assert init[0]["image"] == pod_spec(doc)["containers"][0]["image"]
        assert "CGAF_MIGRATE_WAIT" in env_of(init[0])
        assert env_of(init[0]).keys() >= {
            k for k in env_of(pod_spec(doc)["containers"][0]) if k.startswith(("CGAF_DB", "CGAF_DATABASE"))
        }


def test_migration_hook_secret_for_credentials_in_values():
    docs = render(load_values("external-password.yaml"))
    job = of_kind(docs, "Job")[0]
    deploy = one(docs, "Deployment", "worker")
    job_ref = env_of(pod_spec(job)["containers"][0])["CGAF_DB_PASSWORD"]["valueFrom"]["secretKeyRef"]
    app_ref = env_of(pod_spec(deploy)["containers"][0])["CGAF_DB_PASSWORD"]["valueFrom"][
        "secretKeyRef"
    ]
    assert job_ref["name"] != app_ref["name"]
    secrets = {s["metadata"]["name"]: s for s in of_kind(docs, "Secret")}
    assert not hook_phases(secrets[app_ref["name"]])
    assert secrets[job_ref["name"]]["data"] == secrets[app_ref["name"]]["data"]
    assert "hook-succeeded" in secrets[job_ref["name"]]["metadata"]["annotations"][
        "helm.sh/hook-delete-policy"
    ]


# ------------------------------------------------------------ (g) 2.x values: products, sizes


def test_original_values_products_and_sizes():
    docs = render(load_values("original.yaml"))
    worker = pod_spec(one(docs, "Deployment", "worker"))["containers"][0]
    assert env_value(worker, "CGAF_PRODUCTS") == "BTC-USD:600,ETH-USD:300"
    assert env_value(worker, "CGAF_SYNC_PRODUCTS") == "true"
    assert env_value(worker, "CGAF_ROLES") == "collect,calculate,trade"
    assert env_value(worker, "CGAF_SOURCE") == "coinbase-local"
    assert env_value(worker, "CGAF_SOURCE_URL") == "http://coinbase-local:4201"
    assert env_value(worker, "CGAF_COLLECT_SCHEDULE") == "250ms"
    assert env_value(worker, "CGAF_CALCULATE_SCHEDULE") == "500ms"
    assert env_value(worker, "CGAF_HTTP_TIMEOUT") == "10s"
    # 2.x collect.* pod settings reach the worker.
    assert worker["resources"] == {"limits": {"memory": "768Mi"}}
    assert one(docs, "Deployment", "worker")["spec"]["template"]["metadata"]["annotations"] == {
        "team": "market-data"
    }
    api = one(docs, "Deployment", "api")
    assert api["spec"]["replicas"] == 2
    # The API adds missing products only (else it would add the binary's default list); the
    # worker alone makes the table match.
    api_env = env_of(pod_spec(api)["containers"][0])
    assert api_env["CGAF_PRODUCTS"]["value"] == "BTC-USD:600,ETH-USD:300"
    assert api_env.get("CGAF_SYNC_PRODUCTS", {}).get("value", "false") == "false"
    assert env_value(pod_spec(api)["containers"][0], "CGAF_ROLES") == "api"
    assert pod_spec(api)["containers"][0]["image"] == "crypto-gaf:latest"


def test_max_size_change_changes_the_worker_spec():
    values = load_values("original.yaml")
    values["api"]["products"] = [{"name": "BTC-USD", "maxSize": 900}, {"name": "SOL-USD"}]
    values["api"]["defaultMaxSize"] = 120
    worker = pod_spec(one(render(values, upgrade=True), "Deployment", "worker"))["containers"][0]
    assert env_value(worker, "CGAF_PRODUCTS") == "BTC-USD:900,SOL-USD"
    assert env_value(worker, "CGAF_MAX_SIZE") == "120"


def test_sleep_intervals_and_sources():
    cases = [
        ({"collect": {"sleepInterval": 0.1, "httpTimeout": 2.5}, "calculate": {"sleepInterval": 2}},
         {"CGAF_COLLECT_SCHEDULE": "100ms", "CGAF_HTTP_TIMEOUT": "2500ms",
          "CGAF_CALCULATE_SCHEDULE": "2s", "CGAF_SOURCE": "sim"}),
        ({"collect": {"schedule": "0/5 * * * * *", "httpTimeout": "750ms"}},
         {"CGAF_COLLECT_SCHEDULE": "0/5 * * * * *", "CGAF_HTTP_TIMEOUT": "750ms"}),
        ({"global": {"coinbase": {"host": "cb", "port": 4201, "scheme": "https"}},
          "collect": {"source": "sim"}},
         {"CGAF_SOURCE": "sim"}),
        ({"collect": {"source": "coinbase", "sourceUrl": "https://api.exchange.coinbase.com"}},
         {"CGAF_SOURCE": "coinbase", "CGAF_SOURCE_URL": "https://api.exchange.coinbase.com"}),
    ]
    for values, expected in cases:
        worker = pod_spec(one(render(values), "Deployment", "worker"))["containers"][0]
        for key, want in expected.items():
            assert env_value(worker, key) == want, (values, key)
        if expected.get("CGAF_SOURCE") == "sim":
            assert "CGAF_SOURCE_URL" not in env_of(worker)


def test_worker_roles_follow_enabled_flags():
    docs = render({"collect": {"enabled": False}})
    worker = pod_spec(one(docs, "Deployment", "worker"))["containers"][0]
    assert env_value(worker, "CGAF_ROLES") == "calculate,trade"
    assert env_value(worker, "CGAF_TRADE_SCHEDULE") == "250ms"
    docs = render({"collect": {"enabled": False}, "trade": {"enabled": False}})
    worker = pod_spec(one(docs, "Deployment", "worker"))["containers"][0]
    assert env_value(worker, "CGAF_ROLES") == "calculate"
    docs = render({"collect": {"enabled": False}, "calculate": {"enabled": False}, "trade": {"enabled": False},
                   "api": {"enabled": False}})
    assert of_kind(docs, "Deployment") == []
    assert of_kind(docs, "Job"), "the schema is still migrated"


# ------------------------------------------------------------------ (h) bundled PostgreSQL


@pytest.mark.parametrize(
    "values_file,bundled",
    [
        ("defaults.yaml", True),
        ("original.yaml", True),
        ("features.yaml", True),
        ("external-secret.yaml", False),
        ("external-url.yaml", False),
        ("external-password.yaml", False),
    ],
)
def test_bundled_postgresql_only_when_enabled(values_file, bundled):
    docs = render(load_values(values_file))
    pg_objects = [
        d for d in docs if d["metadata"]["labels"].get("app.kubernetes.io/component") == "postgresql"
    ]
    sts = of_kind(docs, "StatefulSet")
    if not bundled:
        assert pg_objects == [] and sts == []
        return
    assert len(sts) == 1
    (c,) = pod_spec(sts[0])["containers"]
    assert c["image"] == "postgres:16-alpine"
    assert sts[0]["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert {m["name"] for m in c["volumeMounts"]} >= {"data"}
    pw = env_of(c)["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]
    worker = pod_spec(one(docs, "Deployment", "worker"))["containers"][0]
    assert env_of(worker)["CGAF_DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == pw
    services = [
        s for s in of_kind(docs, "Service")
        if s["metadata"]["labels"]["app.kubernetes.io/component"] == "postgresql"
        and s["spec"].get("clusterIP") != "None"
    ]
    assert [s["metadata"]["name"] for s in services] == [env_value(worker, "CGAF_DB_HOST")]
    assert services[0]["spec"]["ports"][0]["port"] == int(env_value(worker, "CGAF_DB_PORT"))
    assert env_value(worker, "CGAF_DB_USER") == env_value(c, "POSTGRES_USER")
    assert env_value(worker, "CGAF_DB_NAME") == env_value(c, "POSTGRES_DB")
    secret = next(s for s in of_kind(docs, "Secret") if s["metadata"]["name"] == pw["name"])
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    template = next(t["data"] for t in chart().templates if t["name"].endswith("postgresql.yaml"))
    assert "lookup" in template


def test_bundled_postgresql_named_user_and_password():
    values = load_values("features.yaml")
    docs = render(values)
    sts = of_kind(docs, "StatefulSet")[0]
    (c,) = pod_spec(sts)["containers"]
    assert env_value(c, "POSTGRES_USER") == "gaf"
    ref = env_of(c)["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref["key"] == "password"
    secret = next(s for s in of_kind(docs, "Secret") if s["metadata"]["name"] == ref["name"])
    assert base64.b64decode(secret["data"]["password"]).decode() == values["postgresql"]["auth"]["password"]
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"


def test_database_settings_are_checked():
    with pytest.raises(helm.HelmError, match="no database"):
        render({"postgresql": {"enabled": False}})
    with pytest.raises(helm.HelmError, match="choose one"):
        render({"externalDatabase": {"host": "db"}})
    with pytest.raises(helm.HelmError, match="listed twice"):
        render({"api": {"products": [{"name": "BTC-USD"}, {"name": "BTC-USD", "maxSize": 30}]}})


# ------------------------------------------------------------------ optional objects


def test_optional_objects_off_by_default():
    kinds = {d["kind"] for d in render({})}
    assert kinds.isdisjoint({"Ingress", "HorizontalPodAutoscaler", "ServiceMonitor", "NetworkPolicy"})
    assert "PodDisruptionBudget" in kinds


def test_optional_objects_on():
    docs = render(load_values("features.yaml"))
    ingress = of_kind(docs, "Ingress")[0]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == one(docs, "Service", "api")["metadata"]["name"]
    hpa = of_kind(docs, "HorizontalPodAutoscaler")[0]
    assert hpa["spec"]["scaleTargetRef"]["name"] == one(docs, "Deployment", "api")["metadata"]["name"]
    assert "replicas" not in one(docs, "Deployment", "api")["spec"], "the HPA owns the replica count"
    assert one(docs, "Deployment", "worker")["spec"]["replicas"] == 3
    monitors = of_kind(docs, "ServiceMonitor")
    assert {m["metadata"]["labels"]["app.kubernetes.io/component"] for m in monitors} == {"api", "worker"}
    for m in monitors:
        assert m["spec"]["endpoints"][0] == {"port": "http", "path": "/metrics", "interval": "15s"}
        svc = one(docs, "Service", m["metadata"]["labels"]["app.kubernetes.io/component"])
        assert m["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    policies = {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in of_kind(docs, "NetworkPolicy")}
    assert policies == {"api", "worker", "postgresql"}
    for doc in of_kind(docs, "Deployment") + of_kind(docs, "StatefulSet") + of_kind(docs, "Job"):
        assert pod_spec(doc)["imagePullSecrets"] == [{"name": "regcred"}, {"name": "other-regcred"}]
    api = pod_spec(one(docs, "Deployment", "api"))["containers"][0]
    assert api["image"] == "registry.example.com/team/crypto-gaf:0.1.0"
    worker = pod_spec(one(docs, "Deployment", "worker"))["containers"][0]
    assert env_value(worker, "CGAF_SIM_SEED") == "7"


def test_traces_are_off_unless_an_endpoint_is_set():
    for doc in of_kind(render({}), "Deployment"):
        for c in containers(doc):
            assert not {"CGAF_OTLP_ENDPOINT", "CGAF_OTLP_SERVICE_NAME"} & env_of(c).keys()
    docs = render(load_values("features.yaml"))
    for component in ("api", "worker"):
        for c in containers(one(docs, "Deployment", component), init=False):
            assert env_value(c, "CGAF_OTLP_ENDPOINT") == "http://otel-collector.monitoring:4318"
            assert env_value(c, "CGAF_OTLP_SERVICE_NAME") == "gaf-prod"


def test_notes_explain_access_and_plugin_upload():
    notes = next(t for p, t in render_files(load_values("external-secret.yaml")).items() if p.endswith("NOTES.txt"))
    assert "port-forward svc/demo-crypto-gaf-api 4202:4202" in notes
    assert "get secret cgaf-api-token -o jsonpath='{.data.token}'" in notes
    assert "/api/plugins" in notes and "Content-Type: application/wasm" in notes
    assert "cgaf plugin upload" in notes


# ------------------------------------------------------------------ (j) values.schema.json


def test_schema_accepts_every_values_file():
    for path in VALUES_FILES:
        chart().validate_schema(chart().merge_values(load_values(path.name)))


@pytest.mark.parametrize(
    "bad",
    [
        {"api": {"replicaCount": "two"}},
        {"api": {"products": [{"name": "BTC-USD", "maxSize": "big"}]}},
        {"api": {"products": [{"name": "BTC USD,ETH"}]}},
        {"api": {"products": [{"name": "BTC-USD", "maxSize": 20}]}},
        {"api": {"products": []}},
        {"api": {"service": {"type": "Nodeport"}}},
        {"collect": {"source": "binance"}},
        {"logging": {"format": "xml"}},
        {"tracing": {"otlpEndpoint": "otel-collector:4317"}},
        {"externalDatabase": {"port": "5432"}},
        {"postgresql": {"enabled": "yes"}},
        {"apii": {}},
    ],
)
def test_schema_rejects_wrong_values(bad):
    with pytest.raises(helm.HelmValuesError):
        chart().validate_schema(chart().merge_values(bad))
    report = helm.lint(str(CHART), bad)
    assert report["errors"], f"helm lint accepted {bad}"
