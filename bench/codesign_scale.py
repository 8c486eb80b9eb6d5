r"""Co-design at scale (issue 24): Dask workers, NSGA-II against the grid, GOPS per PE against the paper.

On the CIFAR-10 VGG-11 and ResNet-18 reference checkpoints of ``bench/accelerator.py`` (converted,
8-bit per-channel quantisation, integer simulation on ``--samples`` seeded test images):

1. **Workers**: a 32-point sweep of VGG-11 (bits {4, 8} × T {2, 4, 6, 8} × PEs {8, 16, 32, 64},
   fresh cache: 8 simulations, 32 evaluations, each its own task; simulations scheduled first,
   longest first) on a Dask ``LocalCluster`` of 1 and of 2 worker processes; the time excludes
   starting the cluster. The machine has 2 cores shared with other engineers' jobs, so the load
   average is recorded beside each time.
2. **NSGA-II against the grid** on a 1,296-point accelerator space of VGG-11: bits {2, 4, 8} ×
   T {4, 6, 8} × PEs {2, 4, 8, 16, 32, 64} × dispatch cycles per event {1, 0.5, 0.25} ×
   accumulates per cycle per PE {6, 12} × on-chip memory {630, 2048} KiB × neuron-to-PE
   assignment {channel round-robin, balanced (LPT) by channel}. The grid
   evaluates every point (9 simulations, cached per (bits, T)); NSGA-II (population 24, seed 0)
   runs in growing steps of trials on the same simulation cache, its study extended each step.
   Objectives: accuracy (max), latency, energy, PEs (min). Hypervolume on objectives normalised
   by the grid's range, reference point 1.1 × the worst; ratio = NSGA-II front / grid front.
   Evaluations used = distinct design points the study evaluated.
3. **GOPS per PE**: the best effective GOPS / PE among the points at 8-bit weights and T = 8
   (so at the paper configuration's accuracy: hardware axes do not change what the integer
   network computes) against the paper's configuration (64 PEs, 6 accumulates per cycle,
   1 dispatch cycle per event, 630 KiB, channel round-robin), on VGG-11 and ResNet-18 — once over
   every axis, once with the PE itself unchanged (6 accumulates per cycle), once with the paper's
   own PE, dispatch and memory (only the PE count and the assignment free).
4. **Assignment** at the paper's configuration (64 PEs, T = 8, 8 bits) for each neuron-to-PE
   assignment (channel and neuron round-robin, balanced by channel and by neuron), on the first
   ``--assign-samples`` of the test images (neuron-granular traces are large): PE balance
   (operations / (PEs × acc/cycle) over the compute cycles), overheads (compute cycles over all
   cycles), utilisation, GOPS / PE, on-chip memory needed — and the **bound of any assignment**:
   every layer's operations and neuron updates split perfectly over all 64 PEs, free of tables and
   kernel copies, with the same dispatch and memory terms.

Writes ``bench/results/codesign_scale.{json,md,png}``.

    python bench/codesign_scale.py [--samples 100]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.accelerator import CALIB, checkpoint
from bench.common import CACHE, RESULTS, require_data, write_results
from spikeforge.convert.normalise import convert
from spikeforge.datasets import Dataset, cifar10
from spikeforge.explore import SimulationCache, pareto_front, sweep
from spikeforge.explore.engine import DaskEngine
from spikeforge.explore.search import hypervolume, search_objectives
from spikeforge.frontends.model_file import load_model
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.hardware.accelerator import (
    ASSIGNMENTS,
    accelerator_report,
    load_accelerator,
    network_costs,
)
from spikeforge.quantize import quantize, simulate_integer

SPEED = {"bits": [4, 8], "timesteps": [2, 4, 6, 8], "pes": [8, 16, 32, 64]}
HW_AXES = {"pes": [2, 4, 8, 16, 32, 64],
           "knobs": {"event_dispatch_cycles": [1, 0.5, 0.25], "ops_per_cycle_per_pe": [6, 12],
                     "on_chip_memory_kib": [630, 2048], "distribution": ["channel", "balanced-channel"]}}
SPACE = {"bits": [2, 4, 8], "timesteps": [4, 6, 8], **HW_AXES}
PAPER = {"pes": 64, "event_dispatch_cycles": 1.0, "ops_per_cycle_per_pe": 6.0, "on_chip_memory_kib": 630.0,
         "distribution": "channel"}
POPULATION, STEPS = 24, (48, 96, 144, 192, 240, 288)


def snn_of(arch: str):
    model, shape = load_model(checkpoint(arch))
    return convert(import_torch(model, shape, name=f"cifar10-{arch}"))


def objective_matrix(evaluations, objectives) -> np.ndarray:
    return np.array([[float(getattr(e, n)) for n, _ in objectives] for e in evaluations])


def normalised_hv(front, low, high, objectives) -> float:
    span = np.where(high > low, high - low, 1.0)
    maximize = [s == "max" for _, s in objectives]
    v = (objective_matrix(front, objectives) - low) / span
    ref = np.where(maximize, -0.1, 1.1)
    return hypervolume(v, ref, maximize)


def is_paper(e) -> bool:
    k = dict(e.point.knobs)
    return e.point.pes == PAPER["pes"] and all(k[n] == v for n, v in PAPER.items() if n != "pes")


def gops_per_pe(evaluations) -> dict:
    at = [e for e in evaluations if e.point.weight_bits == 8 and e.point.timesteps == 8]
    paper = next(e for e in at if is_paper(e))
    best = max(at, key=lambda e: e.effective_gops / e.point.pes)
    same_pe = max((e for e in at if dict(e.point.knobs)["ops_per_cycle_per_pe"] == 6.0),
                  key=lambda e: e.effective_gops / e.point.pes)
    not_slower = max((e for e in at if dict(e.point.knobs)["ops_per_cycle_per_pe"] == 6.0
                      and e.latency_s <= paper.latency_s), key=lambda e: e.effective_gops / e.point.pes)
    own = [e for e in at if all(dict(e.point.knobs)[n] == PAPER[n] for n in PAPER if n not in ("pes", "distribution"))]
    own_best = max(own, key=lambda e: e.effective_gops / e.point.pes)
    own_64 = max((e for e in own if e.point.pes == PAPER["pes"]), key=lambda e: e.effective_gops / e.point.pes)

    def row(e) -> dict:
        return {"label": e.point.label, "pes": e.point.pes, **dict(e.point.knobs), "accuracy": e.accuracy,
                "effective_gops": e.effective_gops, "gops_per_pe": e.effective_gops / e.point.pes,
                "latency_s": e.latency_s}

    def ratio(e) -> float:
        return e.effective_gops / e.point.pes / (paper.effective_gops / paper.point.pes)

    return {"paper": row(paper), "best": row(best), "best_same_pe": row(same_pe),
            "best_same_pe_not_slower": row(not_slower),
            "paper_pe_dispatch_memory": {"best": row(own_best), "ratio": ratio(own_best),
                                         "at_64": row(own_64), "ratio_at_64": ratio(own_64)},
            "ratio_same_pe_not_slower": not_slower.effective_gops / not_slower.point.pes /
            (paper.effective_gops / paper.point.pes),
            "ratio": best.effective_gops / best.point.pes / (paper.effective_gops / paper.point.pes),
            "ratio_same_pe": same_pe.effective_gops / same_pe.point.pes /
            (paper.effective_gops / paper.point.pes)}


def plot(grid, grid_front, steps, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.5), layout="constrained")
    last = steps[-1]["result"]
    for ax, (attr, scale, unit) in zip(fig.subplots(1, 2), (("latency_s", 1e3, "ms"), ("pes", 1, "PEs"))):
        ax.scatter([getattr(e, attr) * scale for e in grid.evaluations], [100 * e.accuracy for e in grid.evaluations],
                   s=6, c="0.8", label=f"grid: {len(grid.evaluations)} points")
        ax.scatter([getattr(e, attr) * scale for e in last.evaluations], [100 * e.accuracy for e in last.evaluations],
                   s=10, c="tab:blue", alpha=0.5, label=f"NSGA-II: {len(last.evaluations)} evaluated")
        ax.scatter([getattr(e, attr) * scale for e in grid_front], [100 * e.accuracy for e in grid_front], s=40,
                   facecolors="none", edgecolors="tab:red", label=f"grid front ({len(grid_front)})")
        ax.scatter([getattr(e, attr) * scale for e in last.front], [100 * e.accuracy for e in last.front], s=12,
                   c="tab:red", marker="x", label=f"NSGA-II front ({len(last.front)})")
        ax.set_xscale("log")
        ax.set_xlabel(f"{attr.split('_')[0]} ({unit}, log)")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("VGG-11 on the pynq-z2-accel design space: 4-objective fronts (accuracy, latency, energy, PEs)")
    fig.savefig(path, dpi=110)


def ideal_bound(trace, report, hw, costs) -> float:
    """GOPS / PE if every layer's operations and neuron updates were split perfectly over all PEs
    (no assignment does better): the model's layer time with the busiest PE at the mean."""
    cycles = np.zeros(trace.samples)
    for layer, figures in zip(trace.layers, report.layers):
        ops = layer.ops.sum(axis=2, dtype=np.float64)
        updates = float(layer.neurons_per_unit.sum()) * costs.updates.get(layer.name, 1)
        compute = np.ceil(ops / (hw.pes * hw.ops_per_cycle_per_pe)) + \
            math.ceil(updates / (hw.pes * hw.neuron_updates_per_cycle_per_pe))
        dispatch = layer.events * hw.event_dispatch_cycles
        memory = figures.memory_cycles / trace.timesteps  # per step, as the report charged it
        cycles += (np.maximum(np.maximum(compute, dispatch), memory) + hw.layer_overhead_cycles).sum(axis=0)
    latency = (cycles.mean() + report.input_cycles) / hw.clock_hz
    return report.ops_per_inference / latency / 1e9 / hw.pes


def measure_assignments(snns: dict, test, calib, samples: int) -> dict:
    """Each assignment at the paper's configuration, T = 8, 8 bits, with the bound of any assignment."""
    hw = load_accelerator("pynq-z2-accel")
    out = {}
    for net, snn in snns.items():
        q = quantize(snn, weight_bits=8, per_channel=True, calib=calib)
        costs = network_costs(q.network)
        traces = {g: simulate_integer(q, test.x[:samples], 8, trace=g).trace for g in ("channel", "neuron")}
        rows = {}
        for name in ASSIGNMENTS:
            spec = hw.replace(distribution=name)
            t0 = time.perf_counter()
            r = accelerator_report(traces[spec.assignment.granularity], spec, costs=costs)
            compute = sum(layer.compute_cycles for layer in r.layers)
            rows[name] = {"gops_per_pe": r.gops_per_pe, "utilisation": r.utilisation,
                          "balance": r.ops_per_inference / (hw.pes * hw.ops_per_cycle_per_pe) / compute,
                          "overheads": compute / r.cycles_per_inference, "on_chip_kib": r.on_chip_bits_needed / 8192,
                          "fits": r.fits_on_chip, "seconds": time.perf_counter() - t0,
                          "bound": {b: sum(layer.bound == b for layer in r.layers)
                                    for b in ("compute", "dispatch", "memory")}}
            if name == "channel":
                rows["channel"]["ideal_bound_gops_per_pe"] = ideal_bound(traces["channel"], r, hw, costs)
            print(f"{net} {name}: {r.gops_per_pe:.4f} GOPS/PE, balance {rows[name]['balance']:.2f}, "
                  f"overheads {rows[name]['overheads']:.2f}, {rows[name]['on_chip_kib']:.0f} KiB")
        out[net] = rows
    return out


def measure_speed(vgg, test, opts: dict, work: Path) -> list[dict]:
    """The 32-point sweep on 1 and on 2 local workers, each on a fresh cache; cluster start excluded.
    Each worker's busy time (its tasks' compute time, from distributed's task stream) tells an
    uneven split of the tasks (busy times apart) from tasks slowed by a CPU shared with other jobs
    (the busy times of two workers adding up to more than one worker's)."""
    from distributed import get_task_stream

    speed = []
    for workers in (1, 2):
        with DaskEngine(workers) as engine:
            load = os.getloadavg()
            t0 = time.perf_counter()
            with get_task_stream(client=engine.client) as stream:
                r = sweep(vgg, test.x, test.y, engine=engine, cache=SimulationCache(work / f"speed{workers}"),
                          **SPEED, **opts)
            seconds = time.perf_counter() - t0
            busy: dict[str, float] = {}
            for task in stream.data:
                for span in task["startstops"]:
                    if span["action"] == "compute":
                        busy[task["worker"]] = busy.get(task["worker"], 0.0) + span["stop"] - span["start"]
            speed.append({"workers": workers, "seconds": seconds, "points": len(r.evaluations),
                          "simulations": r.simulations, "busy_seconds": sorted(busy.values(), reverse=True),
                          "load_before": load, "load_after": os.getloadavg()})
        print(f"{workers} worker(s): {seconds:.1f} s, busy {', '.join(f'{b:.1f}' for b in speed[-1]['busy_seconds'])} s, "
              f"load {load[0]:.2f} -> {speed[-1]['load_after'][0]:.2f}")
    return speed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100, help="CIFAR-10 test images (default 100)")
    ap.add_argument("--assign-samples", type=int, default=16,
                    help="test images for the per-assignment figures (neuron-granular traces; default 16)")
    ap.add_argument("--speed-only", action="store_true",
                    help="re-measure only the 1- and 2-worker times (e.g. when the machine is quieter), "
                         "keeping the other figures of bench/results/codesign_scale.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    folder = require_data("cifar10")
    test = cifar10(folder, "test", cache=CACHE)
    pick = np.sort(np.random.default_rng(0).permutation(len(test))[:args.samples])
    test = Dataset(test.x[pick], test.y[pick], test.name)
    calib = cifar10(folder, "train", cache=CACHE).take(CALIB).x
    vgg = snn_of("vgg11")
    opts = {"per_channel": True, "calib": calib, "quiet": True}
    work = CACHE / "codesign_scale"
    shutil.rmtree(work, ignore_errors=True)  # every figure measured by this run

    speed = measure_speed(vgg, test, opts, work)
    if args.speed_only:
        doc = json.loads((RESULTS / "codesign_scale.json").read_text())
        doc = {k: v for k, v in doc.items() if k not in ("benchmark", "machine")}
        earlier = [*doc.get("speed_earlier", []), {"speed": doc["speed"], "speedup": doc["speedup_2_workers"]}]
        doc.update(speed=speed, speedup_2_workers=speed[0]["seconds"] / speed[1]["seconds"], speed_earlier=earlier)
        write_results("codesign_scale", doc)
        write_markdown(doc)
        return

    # 2. grid against NSGA-II on the 1,296-point space
    cache = work / "space"
    with DaskEngine(2) as engine:
        t0 = time.perf_counter()
        grid = sweep(vgg, test.x, test.y, engine=engine, cache=SimulationCache(cache), **SPACE, **opts)
        grid_s = time.perf_counter() - t0
        objectives = search_objectives("accelerator")
        values = objective_matrix(grid.evaluations, objectives)
        low, high = values.min(axis=0), values.max(axis=0)
        grid_front = pareto_front(grid.evaluations, objectives)  # the grid's own front has 3 objectives
        grid_hv = normalised_hv(grid_front, low, high, objectives)
        print(f"grid: {len(grid.evaluations)} points, {len(grid_front)} on the front, {grid_s:.0f} s")
        figures_cache = work / "search"  # its own figure cache: every evaluation it counts, it computed
        shutil.copytree(cache, figures_cache, ignore=shutil.ignore_patterns("*.json"))
        steps = []
        for trials in STEPS:
            t0 = time.perf_counter()
            r = sweep(vgg, test.x, test.y, engine=engine, cache=SimulationCache(figures_cache), search="nsga2",
                      trials=trials, population=POPULATION, seed=0, **SPACE, **opts)
            used = len(r.evaluations) + len(r.infeasible)
            ratio = normalised_hv(r.front, low, high, objectives) / grid_hv
            steps.append({"trials": trials, "evaluations": used, "share_of_grid": used / len(grid.evaluations),
                          "hypervolume_ratio": ratio, "front": len(r.front), "computed_now": r.evaluated,
                          "seconds": time.perf_counter() - t0, "result": r})
            print(f"NSGA-II {trials} trials: {used} points ({used / len(grid.evaluations):.1%}), HV ratio {ratio:.3f}")

    # 3. GOPS per PE at 8-bit, T = 8
    gops = {"vgg11": gops_per_pe(grid.evaluations)}
    resnet = snn_of("resnet18")
    with DaskEngine(2) as engine:
        r18 = sweep(resnet, test.x, test.y, bits=[8], timesteps=[8], cache=SimulationCache(work / "resnet18"),
                    engine=engine, **HW_AXES, **opts)
    gops["resnet18"] = gops_per_pe(r18.evaluations)
    for net, g in gops.items():
        print(f"{net}: paper {g['paper']['gops_per_pe']:.3f} GOPS/PE, best {g['best']['gops_per_pe']:.3f} "
              f"({g['ratio']:.2f}x, {g['best']['label']}), same PE {g['ratio_same_pe']:.2f}x ({g['best_same_pe']['label']})")

    # 4. every assignment at the paper's configuration, and the bound of any assignment
    assignments = measure_assignments({"vgg11": vgg, "resnet18": resnet}, test, calib, args.assign_samples)

    plot(grid, grid_front, steps, RESULTS / "codesign_scale.png")
    doc = {"samples": args.samples, "space": {k: v for k, v in SPACE.items()}, "grid_points": len(grid.evaluations),
           "grid_infeasible": len(grid.infeasible), "grid_front": len(grid_front), "grid_seconds": grid_s,
           "grid_hypervolume": grid_hv, "population": POPULATION,
           "nsga2": [{k: v for k, v in s.items() if k != "result"} for s in steps], "speed": speed,
           "speedup_2_workers": speed[0]["seconds"] / speed[1]["seconds"], "gops_per_pe": gops,
           "assign_samples": args.assign_samples, "assignments": assignments,
           "seconds": time.perf_counter() - started}
    write_results("codesign_scale", doc)
    write_markdown(doc)
    print(f"total {doc['seconds']:.0f} s")


def write_markdown(doc: dict) -> None:
    s1, s2 = doc["speed"]

    def measured(one: dict, two: dict, speedup: float, *, bold: bool) -> str:
        """Times, speed-up, load at start and (when recorded) the workers' busy times."""
        ratio = f"**{speedup:.2f}×**" if bold else f"{speedup:.2f}×"
        busy = "" if "busy_seconds" not in two else \
            f"; workers busy {' + '.join(f'{b:.1f}' for b in one['busy_seconds'])} s → " \
            f"{' + '.join(f'{b:.1f}' for b in two['busy_seconds'])} s"
        return (f"{one['seconds']:.1f} s → {two['seconds']:.1f} s = {ratio} (load {one['load_before'][0]:.2f} / "
                f"{two['load_before'][0]:.2f} at start{busy})")

    best = next((s for s in doc["nsga2"] if s["hypervolume_ratio"] >= 0.95), None)
    lines = [
        "# Co-design at scale (issue 24): Dask workers, NSGA-II against the grid, GOPS per PE", "",
        (f"VGG-11 / ResNet-18 (CIFAR-10 reference checkpoints), 8-bit per-channel weights unless swept, "
         f"{doc['samples']} seeded test images, accelerator `pynq-z2-accel`. The machine has 2 cores shared "
         "with other engineers' jobs: the load average is recorded with each time. `python bench/codesign_scale.py`."),
        "",
        "| figure | value | target |", "|---|---|---|",
        (f"| {s1['points']}-point sweep ({s1['simulations']} simulations), 1 → 2 local Dask workers | "
         f"{measured(s1, s2, doc['speedup_2_workers'], bold=True)} | ≥ 1.8× |"),
        *[f"| earlier measurement | {measured(*e['speed'], e['speedup'], bold=False)} | |"
          for e in doc.get("speed_earlier", [])],
        (f"| grid: {doc['grid_points']:,} points (bits × T × PEs × dispatch × acc/cycle × memory × assignment) | "
         f"{doc['grid_front']} on the 4-objective front, {doc['grid_seconds']:.0f} s on 2 workers | |"),
    ]
    for s in doc["nsga2"]:
        lines.append(f"| NSGA-II, {s['trials']} trials | {s['evaluations']} evaluations "
                     f"({100 * s['share_of_grid']:.1f}% of the grid), hypervolume **{100 * s['hypervolume_ratio']:.1f}%** "
                     f"of the grid's | ≥ 95% with ≤ 20% |")
    reached = "none" if best is None else \
        f"{best['evaluations']} evaluations ({100 * best['share_of_grid']:.1f}% of the grid)"
    lines.append(f"| first NSGA-II step at ≥ 95% | {reached} | |")
    for net, g in doc["gops_per_pe"].items():
        p, b, s = g["paper"], g["best"], g["best_same_pe"]
        lines.append(f"| {net} GOPS/PE at 8 bits, T = 8 (accuracy {100 * p['accuracy']:.1f}%, equal at every "
                     f"hardware point) | paper config {p['gops_per_pe']:.3f}; best **{b['gops_per_pe']:.3f} = "
                     f"{g['ratio']:.2f}×** ({b['label']}); same PE (6 acc/cycle) {s['gops_per_pe']:.3f} = "
                     f"{g['ratio_same_pe']:.2f}× ({s['label']}); same PE and no slower than the paper config "
                     f"{g['best_same_pe_not_slower']['gops_per_pe']:.3f} = {g['ratio_same_pe_not_slower']:.2f}× "
                     f"({g['best_same_pe_not_slower']['label']}) | ≥ 2× |")
        own = g["paper_pe_dispatch_memory"]
        lines.append(f"| {net} GOPS/PE with the paper's PE, dispatch and memory (6 acc/cycle, 1 cycle/event, 630 KiB) "
                     f"| best {own['best']['gops_per_pe']:.3f} = **{own['ratio']:.2f}×** ({own['best']['label']}); "
                     f"at 64 PEs {own['at_64']['gops_per_pe']:.3f} = {own['ratio_at_64']:.2f}× "
                     f"({own['at_64']['label']}) | ≥ 2× |")
    if "assignments" in doc:
        lines += ["", (f"Neuron-to-PE assignment at the paper's configuration (64 PEs, 6 acc/cycle, 1 dispatch cycle "
                      f"per event, 630 KiB), 8 bits, T = 8, first {doc['assign_samples']} of the test images:"), "",
                  ("| network | assignment | GOPS / PE | utilisation | PE balance | overheads | on chip (KiB) | "
                  "layers bound by compute / dispatch / memory |"), "|---|---|---|---|---|---|---|---|"]
        for net, rows in doc["assignments"].items():
            for name, a in rows.items():
                b = a["bound"]
                lines.append(f"| {net} | {name} | {a['gops_per_pe']:.4f} | {100 * a['utilisation']:.1f}% | "
                             f"{a['balance']:.2f} | {a['overheads']:.2f} | {a['on_chip_kib']:,.0f}"
                             f"{'' if a['fits'] else ' (streamed)'} | {b['compute']} / {b['dispatch']} / {b['memory']} |")
            bound, paper = rows["channel"]["ideal_bound_gops_per_pe"], rows["channel"]["gops_per_pe"]
            lines.append(f"| {net} | **any assignment (bound)** | {bound:.4f} = {bound / paper:.2f}× channel | | | | "
                         "| operations and updates split perfectly over 64 PEs, no table or copy |")
    lines += ["", ("Fronts: `bench/results/codesign_scale.png`. Hardware axes do not change the integer network, "
                   "so accuracy is the same at every hardware point of a (bits, T). Workers: every design point is "
                   "its own task, simulations run first, longest first, and the workers' busy times (distributed's "
                   "task stream) show the work split evenly; but the 2-core machine is shared — when other jobs "
                   "take a core, each task of two workers runs about twice as long (busy times adding up to twice "
                   "one worker's), so the speed-up here says little about an idle machine or a cluster. Hypervolume on 4 objectives "
                   "(accuracy, latency, energy, PEs), each normalised by the grid's range, reference 1.1 × worst; "
                   "energy is board power × latency in this model, so it ranks points as latency does. "
                   "GOPS/PE rises with fewer PEs (narrow layers leave fewer PEs idle; the busiest PE sets a "
                   "layer's time), faster dispatch (dispatch-bound sparse layers) and weights that fit on chip "
                   "(no DRAM streaming) — at the cost of latency for the smallest arrays, hence the no-slower row.")]
    if "assignments" in doc:
        bounds = ", ".join(f"{net} {rows['channel']['ideal_bound_gops_per_pe'] / rows['channel']['gops_per_pe']:.2f}×"
                           for net, rows in doc["assignments"].items())
        lines += ["", ("Assignment: at 64 PEs a layer's time is set by event dispatch (one event per cycle, however "
                       "many PEs: pooling and sparse layers) and by DRAM weight streaming when the weights do not fit "
                       "630 KiB, far more than by imbalance among the PEs a layer uses — so even a perfect, free split "
                       f"of every layer's work over all 64 PEs gains only {bounds} over channel round-robin at the "
                       "paper's own PE, dispatch and memory: no assignment reaches 2× there. What does is fewer PEs "
                       "(the rows above) or faster dispatch. Splitting channels over PEs (neuron, balanced-neuron) "
                       "copies each kernel to every PE holding a neuron of its channel, which multiplies the on-chip "
                       "weights and can push them off chip; LPT by channel changes little because the channel loads "
                       "of a layer are already even.")]
    (RESULTS / "codesign_scale.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
