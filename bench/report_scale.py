"""HTML report at scale (issue 23): the report of U-Net-512 on `loihi` — about 112,000 clusters on
879 chips, mapped as bench/mapping_quality.py maps it (random weights, 2 uniform random inputs at
T = 4, the default partitioner and placer) — must stay ≤ 10 MB and render (load event) in ≤ 3 s
in headless Chromium.

The mapping runs through ``spikeforge map --report`` (or an existing placement JSON is reported with
``--placement``); the page is then loaded in the system's Chromium through Playwright, several
times, timing the load event (``performance`` navigation timing) and counting console errors and
requests that leave the file.

Usage: nice -n 10 python -m bench.report_scale [--placement PLACEMENT.json] [--loads 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import RESULTS, write_results

TARGET_MB, TARGET_S = 10.0, 3.0
NAME = "report_scale"


def unet512_map_args(work: Path) -> list[str]:
    """Save U-Net-512 as an SNN (random weights, converted on 2 uniform random inputs) and those
    inputs in ``work``; the ``spikeforge map`` arguments that map it on 879 `loihi` chips at T = 4
    as bench/mapping_quality.py does (the default partitioner and placer)."""
    import torch

    from spikeforge.convert.normalise import convert
    from spikeforge.datasets import Dataset, save_data
    from spikeforge.frontends.torch_fx import import_torch
    from spikeforge.ir.serialize import save_network
    from spikeforge.models import build_model

    torch.manual_seed(0)
    model, shape = build_model("unet", size=512)
    ann = import_torch(model.eval(), shape, name="unet-512")
    x = np.random.default_rng(0).random((2, *shape)).astype(np.float32)
    save_network(convert(ann, x), work / "snn")
    save_data(work / "calib.npz", Dataset(x))
    return ["map", str(work / "snn"), "--hw", "loihi", "--calib", str(work / "calib.npz"), "--samples", "2",
            "-T", "4", "--chips", "879", "-o", str(work / "placement.json")]


def _map(work: Path, report: Path) -> dict:
    """``spikeforge map ... --report`` of U-Net-512; its time."""
    from spikeforge.cli import main

    argv = unet512_map_args(work)
    t0 = time.perf_counter()
    if main([*argv, "--report", str(report)]):
        sys.exit("spikeforge map failed")
    return {"map_and_report_s": time.perf_counter() - t0}


def _report(placement: Path, report: Path) -> dict:
    from spikeforge.cli import main

    t0 = time.perf_counter()
    if main(["report", str(placement), "-o", str(report)]):
        sys.exit("spikeforge report failed")
    return {"report_s": time.perf_counter() - t0}


def _load(report: Path, loads: int) -> dict:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("SPIKEFORGE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("skipped: no system Chromium (apt-get install chromium)")
    times, errors, outside = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        version = browser.version
        for _ in range(loads):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else outside.append(r.url))
            page.goto(report.resolve().as_uri(), wait_until="load")
            times.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd") / 1e3)
            view = page.locator("svg.mesh").get_attribute("data-view")
            figures = page.locator("figure[data-figure]").count()
            page.close()
        browser.close()
    return {"chromium": version, "load_s": times, "load_s_median": statistics.median(times),
            "console_errors": errors, "outside_requests": outside, "mesh_view": view, "figures": figures}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--placement", help="report this placement JSON instead of mapping U-Net-512 here")
    ap.add_argument("--loads", type=int, default=5)
    args = ap.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="report-scale-") as tmp:
        work = Path(tmp)
        report = work / "unet512.html"
        if args.placement:
            stages = _report(Path(args.placement), report)
            source = "placement JSON given"
        else:
            stages = _map(work, report)
            source = "spikeforge map --report"
        doc = json.loads((Path(args.placement) if args.placement else work / "placement.json").read_text())
        size = report.stat().st_size
        browser = _load(report, args.loads)
    met = size / 1e6 <= TARGET_MB and browser["load_s_median"] <= TARGET_S and not browser["console_errors"] \
        and not browser["outside_requests"]
    figures = {"network": doc["network"], "hardware": doc["hardware"], "chips": doc["chips"],
               "clusters": len(doc["clusters"]), "chips_used": doc["report"]["chips_used"], "source": source,
               "report_bytes": size, **stages, **browser,
               "targets": {"report_mb_max": TARGET_MB, "load_s_max": TARGET_S, "met": met},
               "load_average": {"start": load_start, "end": os.getloadavg()}}
    path = write_results(NAME, figures)
    write_markdown()
    print(f"wrote {path}: {size / 1e6:.2f} MB, load {browser['load_s_median']:.2f} s, target met: {met}")


def write_markdown() -> None:
    r = json.loads((RESULTS / f"{NAME}.json").read_text())
    m = r["machine"]
    t = r["targets"]
    lines = [
        "### HTML report at scale (issue 23): U-Net-512 on `loihi`", "",
        (f"{m.get('cpu', '')}, {m.get('cpu_count', '')} cores, shared; Chromium {r['chromium']} headless; "
        f"{m.get('date', '')[:10]}. Mapping: {r['clusters']:,} clusters on {r['chips_used']:,} of {r['chips']:,} chips "
        f"({r['source']}); the mesh is drawn {r['mesh_view'] == 'chips' and 'per chip (aggregated)' or 'per cluster'}."),
        "",
        (f"| report size | load event (median of {len(r['load_s'])}) | figures | console errors | outside requests "
        "| target met |"),
        "|---|---|---|---|---|---|",
        (f"| {r['report_bytes'] / 1e6:.2f} MB (≤ {t['report_mb_max']:g}) | {r['load_s_median']:.2f} s "
        f"(≤ {t['load_s_max']:g}) | {r['figures']} | {len(r['console_errors'])} | {len(r['outside_requests'])} | "
        f"{'**yes**' if t['met'] else '**no**'} |"),
    ]
    (RESULTS / f"{NAME}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
