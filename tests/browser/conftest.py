"""Fixtures of the browser tests: `cgaf serve` on the simulator with its private PostgreSQL
(started like chart-tests/test_observability.py starts it), a headless Debian Chromium driven by
Playwright (never a downloaded browser), and a page that records console errors."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CGAF_CHROMIUM", "/usr/bin/chromium")
PRODUCTS = "BTC-USD:30,ETH-USD:30"


def find_cgaf_binary() -> Path:
    explicit = os.environ.get("CGAF_BIN")
    if explicit:
        return Path(explicit)
    roots = [Path(os.environ["CARGO_TARGET_DIR"])] if os.environ.get("CARGO_TARGET_DIR") else []
    roots += [Path.home() / ".cache" / "cgaf-target", REPO / "target"]
    for root in roots:
        candidate = root / "release" / "cgaf"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("no cgaf binary: set CGAF_BIN=/path/to/cgaf or build it (cargo build --release -p cgaf)")


def artifacts_dir() -> Path:
    explicit = os.environ.get("CGAF_TEST_ARTIFACTS")
    if explicit:
        root = Path(explicit)
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR") or Path.home() / ".cache" / "cgaf-target")
        root = target / "browser-artifacts"
    root.mkdir(parents=True, exist_ok=True)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(what: str, check, timeout: float, log: Path | None = None):
    """Polls `check` until it returns something truthy, up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out waiting for {what}\n{tail}")


class Server:
    """A `cgaf serve` on the simulator: every role, its own data folder and private PostgreSQL."""

    def __init__(self, folder: Path, port: int | None = None, extra: list[str] | None = None):
        self.folder = folder
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = folder / "cgaf.log"
        self.extra = extra or []
        self.proc: subprocess.Popen | None = None

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CGAF_") and k != "DATABASE_URL"}
        env["CGAF_LOG"] = "info"
        args = [str(find_cgaf_binary()), "serve", "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", str(self.folder / "data"), "--products", PRODUCTS,
                "--collect-schedule", "100ms", "--calculate-schedule", "200ms", "--trade-schedule", "100ms",
                *self.extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log.open("ab"), env=env)
        eventually("cgaf readiness", self.ready, 120, self.log)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/readyz", timeout=5) as r:
                return r.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("cgaf did not stop within 30 s of SIGTERM")

    def token(self) -> str:
        return (self.folder / "data" / "api-token").read_text().strip()

    def get(self, path: str, headers: dict | None = None):
        req = urllib.request.Request(self.base + path, headers=headers or {})
        return urllib.request.urlopen(req, timeout=10)

    def get_json(self, path: str):
        with self.get(path) as r:
            return json.loads(r.read())

    def images_computed(self, products=("BTC-USD", "ETH-USD")) -> bool:
        try:
            listed = {p["product"]: p for p in self.get_json("/api/products")}
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
        return all(listed.get(p, {}).get("computed") for p in products)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cgaf")
    s = Server(folder)
    try:
        s.start()
        eventually("images of both products", s.images_computed, 60, s.log)
        yield s
    finally:
        s.stop()
        shutil.rmtree(folder / "data", ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium")
    with sync_playwright() as p:
        args = ["--force-color-profile=srgb"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield b
        b.close()


class Console:
    """Console errors and uncaught exceptions of a page."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def unexpected(self, allow_network_failures: bool = False) -> list[str]:
        def expected(text: str) -> bool:
            return allow_network_failures and ("Failed to load resource" in text or "net::ERR_" in text)
        return [e for e in self.errors if not expected(e)]


@pytest.fixture
def page(browser, request):
    """A fresh page (900×1000, device scale 1); fails the test on any console error."""
    context = browser.new_context(viewport={"width": 900, "height": 1000}, device_scale_factor=1)
    pg = context.new_page()
    pg.console = Console(pg)
    pg.set_default_timeout(30_000)
    yield pg
    allow = request.node.get_closest_marker("network_failures") is not None
    errors = pg.console.unexpected(allow)
    context.close()
    assert not errors, f"console errors: {errors}"


def pytest_configure(config):
    config.addinivalue_line("markers", "network_failures: the test provokes failed requests on purpose")
