"""Inputs of every kind of report, made once per session with the commands themselves, and the
headless Chromium the browser tests drive (skipped with the reason where it or Playwright is absent)."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
import torch
from report_helpers import run
from rich.console import Console

from spikeforge.frontends.model_file import save_model
from spikeforge.models import build_model

#: Where screenshots are kept (a CI artifact); default: pytest's temporary folder.
SCREENSHOTS_ENV = "SPIKEFORGE_REPORT_SCREENSHOTS"


@pytest.fixture(scope="session")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A compile artifact (on 4 chips), a placement JSON (4 chips), an SDF3 graph, a co-design
    folder and a demo folder of the digits CNN; each report written by its command's --report."""
    torch.set_num_threads(1)
    from spikeforge.demo import run_demo

    d = tmp_path_factory.mktemp("report-inputs")
    torch.manual_seed(0)
    model, _ = build_model("digits-cnn")
    save_model(d / "digits.pt", model, "digits-cnn")
    common = ["--hw", "xbar-mesh", "--calib", "digits:train", "-T", "4", "--placer", "round-robin", "--chips", "4"]
    compiled, _ = run(["compile", str(d / "digits.pt"), *common, "-o", str(d / "app"), "--calib-samples", "24",
                       "--partitioner", "tiles", "--data", "digits:test", "--samples", "40",
                       "--report", str(d / "compile.html")])
    run(["convert", str(d / "digits.pt"), "--calib", "digits:train", "-o", str(d / "snn")])
    run(["map", str(d / "snn"), *common, "--samples", "16", "-o", str(d / "placement.json"),
         "--report", str(d / "map.html")])
    run(["analyse", str(d / "app" / "graph.xml"), "--json", str(d / "analyse.json"), "--report", str(d / "analyse.html")])
    run(["codesign", str(d / "snn"), "--data", "digits:test", "--samples", "12", "--bits", "2,8", "--timesteps",
         "2,4", "--pes", "8,64", "-o", str(d / "codesign"), "-q", "--report", str(d / "codesign.html")])
    run_demo(d / "demo", epochs=1, console=Console(file=io.StringIO()))
    return {"dir": d, "compiled": compiled, "artifact": d / "app", "placement": d / "placement.json",
            "graph": d / "app" / "graph.xml", "analyse": d / "analyse.json", "codesign": d / "codesign",
            "demo": d / "demo"}


def chromium_path() -> str | None:
    return os.environ.get("SPIKEFORGE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium of the system, through Playwright's Python API (never a downloaded browser)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install "
                                   "'spikeforge[report-test]')")
    path = chromium_path()
    if path is None:
        pytest.skip("no system Chromium (apt-get install chromium, or set SPIKEFORGE_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get(SCREENSHOTS_ENV)
    path = Path(folder) if folder else tmp_path_factory.mktemp("report-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Loaded:
    """A report open in the browser: the page, console errors, requests that left the file, load time."""

    def __init__(self, page, errors: list[str], outside: list[str], load_ms: float):
        self.page, self.errors, self.outside, self.load_ms = page, errors, outside, load_ms


LOCAL_SCHEMES = ("file:", "data:", "about:")


@pytest.fixture
def open_report(browser):
    """``open_report(path)``: the HTML file loaded at 1280×900; every request is intercepted, and
    one to anything but a file:/data: URL is refused and recorded."""
    contexts = []

    def load(path: Path, width: int = 1280, height: int = 900) -> Loaded:
        context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
        contexts.append(context)
        outside: list[str] = []
        errors: list[str] = []

        def route(r):
            if r.request.url.startswith(LOCAL_SCHEMES):
                r.continue_()
            else:
                if r.request.url not in outside:
                    outside.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("request", lambda req: None if req.url.startswith(LOCAL_SCHEMES) or req.url in outside
                else outside.append(req.url))  # also what a route might miss (the route records first)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        load_ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
        return Loaded(page, errors, outside, float(load_ms))

    yield load
    for c in contexts:
        c.close()
