"""Co-design search (issue 5): 48 design points on the digits CNN, cold and warm, and the front.

The QCFS digits CNN of the demo (L = 4, 60 epochs, converted with its trained clips as
thresholds; the checkpoint is shared with ``bench/conversion_quality.py`` in ``bench.common.CACHE``) is swept
over weight bits {2, 4, 8} × timesteps {2, 4, 6, 8} × PEs {16, 32, 64, 128} on ``pynq-z2-accel``,
on the digits test images:

* **cold** — empty on-disk cache: one integer simulation + spike trace per (bits, T) pair,
  i.e. 12 simulations for 48 points;
* **warm** — a new cache object on the same folder (as a second process would see it):
  0 simulations, only the accelerator model runs;
* **uncached** — the same 48 points as four one-PE-count sweeps with fresh caches
  (48 simulations), what the sweep would cost without the (bits, T) cache.

Writes ``bench/results/codesign.{json,md,csv,png}``. 1 torch thread (shared machine).

    python bench/codesign.py [--samples N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import torch
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE, RESULTS, write_results  # noqa: E402
from bench.conversion_quality import SPECS, trained  # noqa: E402
from spikeforge.convert.normalise import convert  # noqa: E402
from spikeforge.datasets import digits  # noqa: E402
from spikeforge.explore import SimulationCache, pareto_front, sweep  # noqa: E402
from spikeforge.explore.report import plot_front, sweep_table, write_csv  # noqa: E402
from spikeforge.frontends.torch_fx import import_torch  # noqa: E402

BITS, TIMESTEPS, PES = (2, 4, 8), (2, 4, 6, 8), (16, 32, 64, 128)
HARDWARE = "pynq-z2-accel"
# A smaller crossbar-chip sweep beside it: crossbar size instead of PEs, mapping + dataflow analysis.
XBAR_BITS, XBAR_TIMESTEPS, XBAR_SIZES = (4, 8), (4, 8), (64, 128, 256)
WITH_PES = (("accuracy", "max"), ("latency_s", "min"), ("energy_j", "min"), ("pes", "min"))


def _row(e) -> dict:
    p = e.point
    return {"weight_bits": p.weight_bits, "timesteps": p.timesteps, "pes": p.pes, "accuracy": e.accuracy,
            "latency_us": e.latency_s * 1e6, "energy_uj": e.energy_j * 1e6, "synops": e.synops,
            "effective_gops": e.effective_gops}


def _xbar_row(e, front: bool) -> dict:
    p = e.point
    return {"weight_bits": p.weight_bits, "timesteps": p.timesteps, "crossbar_size": p.crossbar_size,
            "accuracy": e.accuracy, "latency_us": e.latency_s * 1e6, "energy_uj": e.energy_j * 1e6,
            "crossbars": e.crossbars, "on_front": front}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=None, help="test images (default: all 450)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    console = Console()
    load_start = os.getloadavg()
    train, test = digits("train"), digits("test")
    if args.samples:
        test = test.take(args.samples)
    spec = SPECS["digits"]
    model, shape, train_s = trained("digits", spec, train, spec["levels"], spec["epochs"], False, console)
    snn = convert(import_torch(model, shape, name="digits-cnn"))  # QCFS: thresholds = trained clips
    kw = {"bits": BITS, "timesteps": TIMESTEPS, "quiet": True}
    folder = CACHE / "codesign"
    shutil.rmtree(folder, ignore_errors=True)

    t0 = time.perf_counter()
    cold = sweep(snn, test.x, test.y, HARDWARE, pes=PES, cache=SimulationCache(folder), **kw)
    cold_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm = sweep(snn, test.x, test.y, HARDWARE, pes=PES, cache=SimulationCache(folder), **kw)
    warm_s = time.perf_counter() - t0
    if warm.evaluations != cold.evaluations:
        raise SystemExit("warm sweep differs from the cold one: the cache is wrong")
    t0 = time.perf_counter()
    wider = sweep(snn, test.x, test.y, HARDWARE, pes=PES + (256,), cache=SimulationCache(folder), **kw)
    wider_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    uncached = [sweep(snn, test.x, test.y, HARDWARE, pes=[p], **kw) for p in PES]
    uncached_s = time.perf_counter() - t0
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    xbar = sweep(snn, test.x, test.y, "xbar-mesh", bits=XBAR_BITS, timesteps=XBAR_TIMESTEPS,
                 crossbar_sizes=XBAR_SIZES, quiet=True)
    xbar_s = time.perf_counter() - t0

    console.print(sweep_table(cold))
    console.print(sweep_table(xbar))
    with_pes = pareto_front(cold.evaluations, WITH_PES)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_csv(RESULTS / "codesign.csv", cold.evaluations, cold.front)
    plot_front(cold, RESULTS / "codesign.png")
    flat = all(len({e.latency_s for e in cold.evaluations if (e.point.weight_bits, e.point.timesteps) == (b, t)}) == 1
               for b in BITS for t in TIMESTEPS)
    write_results("codesign", {
        "network": "digits-cnn, QCFS L=4, 60 epochs, thresholds = trained clips", "hardware": HARDWARE,
        "data": f"sklearn digits test, {len(test)} images", "train_seconds": train_s,
        "axes": {"bits": BITS, "timesteps": TIMESTEPS, "pes": PES}, "points": len(cold.evaluations),
        "bits_timesteps_pairs": len(BITS) * len(TIMESTEPS),
        "cold": {"seconds": cold_s, "simulations": cold.simulations, "cache_hits": cold.cache_hits,
                 "evaluated": cold.evaluated},
        "warm": {"seconds": warm_s, "simulations": warm.simulations, "cache_hits": warm.cache_hits,
                 "evaluated": warm.evaluated},
        "wider": {"seconds": wider_s, "simulations": wider.simulations, "cache_hits": wider.cache_hits,
                  "evaluated": wider.evaluated, "points": len(wider.evaluations), "pes": PES + (256,)},
        "uncached": {"seconds": uncached_s, "simulations": sum(r.simulations for r in uncached),
                     "evaluated": sum(r.evaluated for r in uncached)},
        "speedup_warm_vs_cold": cold_s / warm_s, "speedup_cold_vs_uncached": uncached_s / cold_s,
        "latency_independent_of_pes": flat,
        "front": [_row(e) for e in cold.front], "front_with_pes_objective": [_row(e) for e in with_pes],
        "evaluations": [_row(e) for e in cold.evaluations],
        "crossbar": {"hardware": "xbar-mesh", "partitioner": "tiles", "placer": "min-cut", "seconds": xbar_s,
                     "axes": {"bits": XBAR_BITS, "timesteps": XBAR_TIMESTEPS, "crossbar_size": XBAR_SIZES},
                     "simulations": xbar.simulations, "points": len(xbar.evaluations),
                     "evaluations": [_xbar_row(e, e in xbar.front) for e in xbar.evaluations]},
        "load_average": {"start": load_start, "end": os.getloadavg()}})
    write_markdown()


def write_markdown() -> None:
    doc = json.loads((RESULTS / "codesign.json").read_text())
    m, la = doc["machine"], doc["load_average"]
    cold, warm, unc = doc["cold"], doc["warm"], doc["uncached"]
    wider = doc["wider"]
    starts, ends = (", ".join(f"{v:.2f}" for v in la[k]) for k in ("start", "end"))
    header = ("| run | points | simulations | (bits, T) from cache | points evaluated by the hardware model "
              "| wall time (s) |")
    lines = [
        "# Co-design search (issue 5): 48-point sweep on the digits CNN", "",
        (f"{doc['network']}; {doc['data']}; `{doc['hardware']}` accelerator model. Axes: weight bits "
         f"{doc['axes']['bits']} × T {doc['axes']['timesteps']} × PEs {doc['axes']['pes']}. "
         f"Machine: {m['cpu']}, {m['cpu_count']} cores shared with other jobs, {m['torch_threads']} torch "
         f"thread; load average (1/5/15 min) at start {starts}, at end {ends}. {m['date'][:10]}."), "",
        header, "|---|---:|---:|---:|---:|---:|"]
    runs = (("cold (empty disk cache)", doc["points"], cold),
            ("warm (new cache object on the same folder, as a second process)", doc["points"], warm),
            (f"warm + one more PE count ({wider['pes'][-1]})", wider["points"], wider),
            ("uncached (one sweep per PE count, fresh caches)", doc["points"], {**unc, "cache_hits": 0}))
    for label, points, r in runs:
        lines.append(f"| {label} | {points} | {r['simulations']} | {r['cache_hits']} | {r['evaluated']} "
                     f"| {r['seconds']:.2f} |")
    flat = doc["latency_independent_of_pes"]
    note = (" — on this network latency does not depend on the PE count (its layers have ≤ 16 output "
            "channels, dealt one channel per PE, so 16 PEs already give every channel its own PE; the "
            "event-dispatch and pooling layers are serial), so each front (bits, T) appears once per PE "
            "count. With the PE count as a fourth objective (min), the front keeps the smallest array:")
    lines += [
        "",
        (f"Simulations = (bits, T) pairs = {doc['bits_timesteps_pairs']} for {doc['points']} points; warm is "
         f"{doc['speedup_warm_vs_cold']:.1f}× faster than cold, cold {doc['speedup_cold_vs_uncached']:.1f}× "
         "faster than simulating every point."), "",
        (f"Pareto front (max accuracy, min latency, min energy): {len(doc['front'])} of {doc['points']} "
         f"points{note if flat else ':'}"), "",
        "| weight bits | T | PEs | accuracy | latency (µs) | energy (µJ) | synops | effective GOPS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in doc["front_with_pes_objective"] if flat else doc["front"]:
        lines.append(f"| {r['weight_bits']} | {r['timesteps']} | {r['pes']} | {100 * r['accuracy']:.2f}% "
                     f"| {r['latency_us']:.2f} | {r['energy_uj']:.3f} | {r['synops']:,.0f} "
                     f"| {r['effective_gops']:.3f} |")
    lines += ["", ("Energy = board power (1.54 W) × latency (estimate). Every point: `codesign.csv`; plot: "
                   "`codesign.png`. `python bench/codesign.py`.")]
    x = doc["crossbar"]
    lines += [
        "", (f"Crossbar chip `{x['hardware']}` (same network and images; {x['partitioner']} partition, "
             f"{x['placer']} placement, guaranteed latency and event energy from the dataflow analysis): "
             f"{x['points']} points, {x['simulations']} simulations, {x['seconds']:.1f} s."),
        "", "| front | weight bits | T | crossbar | crossbars used | accuracy | latency (µs) | energy (µJ) |",
        "|:---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in x["evaluations"]:
        lines.append(f"| {'*' if r['on_front'] else ''} | {r['weight_bits']} | {r['timesteps']} "
                     f"| {r['crossbar_size']}×{r['crossbar_size']} "
                     f"| {r['crossbars']} | {100 * r['accuracy']:.2f}% | {r['latency_us']:.2f} "
                     f"| {r['energy_uj']:.3f} |")
    (RESULTS / "codesign.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
