"""The compile pipeline's dataflow graph at full scale: U-Net-512 on `xbar-mesh` (~1.5 million clusters).

U-Net (random weights, base 16, depth 3) at SIZE×SIZE → SNN → ``hypergraph`` partition (tile grids at this
size) → ``fill`` placement on `xbar-mesh` with just enough chips → the bound HSDF graph
(:func:`~spikeforge.dataflow.build.build_sdfg`: one actor per cluster, a spike channel and a buffer
back-edge per connection, a communication actor per channel between cores) → its guaranteed period
(:func:`~spikeforge.dataflow.analysis.throughput`) → the latency of one inference
(:func:`~spikeforge.dataflow.build.guarantee`, whose throughput is timed again inside it).

Profile: simulating a 512² SNN costs more memory than this shared machine has for it, so the U-Net is
simulated at PROFILE_SIZE² (same weights: it is fully convolutional) on 2 random inputs at T=4; each
layer's mean firing rate is spread uniformly over the full-size layer and its synaptic events scaled by
the area ratio (SCALED_PROFILE). Placement: ``fill`` (seconds); the default ``min-cut`` goes two-level
above 2,048 chips and took 482 s for this partition (bench/results/mapping_quality.md), outside this
benchmark's budget; the graph's size does not depend on the placer (every cluster has its own core on
`xbar-mesh`, so every connection crosses cores either way).

Each stage is timed on its own; its memory is the process's peak resident set sampled every 10 ms
during the stage (``/proc/self/statm``) and that peak's growth over the stage's start.
Target (issue, item 5): building the dataflow graph and analysing its guaranteed throughput of U-Net-512
on `xbar-mesh` in ≤ 60 s and ≤ 8 GB.

Usage: nice -n 10 python -m bench.unet_hsdf [--sizes 128 256 512]
       python -m bench.unet_hsdf --markdown   (rewrite the .md from the .json)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import replace

import numpy as np

from bench.common import RESULTS, write_results

PROFILE_SIZE, PROFILE_SAMPLES, TIMESTEPS = 64, 2, 4
TARGET_S, TARGET_GB = 60.0, 8.0
SCALED_PROFILE = (f"U-Net simulated at {PROFILE_SIZE}×{PROFILE_SIZE} on {PROFILE_SAMPLES} uniform random inputs "
                  f"at T={TIMESTEPS} (same random weights); each layer's mean rate spread uniformly over the "
                  "full-size layer, synaptic events × area ratio")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


@contextmanager
def measured(stage: str, into: dict):
    """Wall time, peak RSS and its growth during the block, into ``into[stage]``."""
    start, peak, done = _rss(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            done.wait(0.01)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    t = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - t
        done.set()
        watcher.join()
        top = max(peak[0], _rss())
        into[stage] = {"s": seconds, "peak_gb": top / 2**30, "growth_gb": (top - start) / 2**30}
        print(f"  {stage:12s} {seconds:8.1f} s  peak {top / 2**30:6.2f} GB  (+{(top - start) / 2**30:.2f})",
              file=sys.stderr, flush=True)


def _unet(size: int):
    import torch

    from spikeforge.frontends.torch_fx import import_torch
    from spikeforge.models import build_model

    torch.manual_seed(0)
    model, shape = build_model("unet", size=size)
    return import_torch(model.eval(), shape, name=f"unet-{size}"), shape


def scaled_profile(size: int):
    """The SNN of U-Net-``size`` and a profile scaled up from a PROFILE_SIZE² simulation (see SCALED_PROFILE)."""
    from spikeforge.convert.normalise import activation_scales, convert
    from spikeforge.sim.simulator import Profile, simulate

    small, shape = _unet(PROFILE_SIZE)
    x = np.random.default_rng(0).random((PROFILE_SAMPLES, *shape)).astype(np.float32)
    # the small run's activation scales serve the big network: same weights, same input statistics
    scales = activation_scales(small, x)
    prof = simulate(convert(small, scales=scales), x, timesteps=TIMESTEPS, batch_size=1).profile
    snn = convert(_unet(size)[0], scales=scales)
    area = (size / PROFILE_SIZE) ** 2
    layers = []
    for lp in prof.layers:
        counts = None
        if lp.spike_counts is not None:
            n = int(np.prod(snn.shape(lp.name)))
            counts = np.full(n, lp.spikes / lp.neurons if lp.neurons else 0.0)
        layers.append(replace(lp, neurons=int(lp.neurons * area), spikes=lp.spikes * area, synops=lp.synops * area,
                              spike_counts=counts))
    return snn, Profile(f"unet-{size}", prof.timesteps, prof.samples, tuple(layers))


def run(size: int, placer: str) -> dict:
    from spikeforge.dataflow.analysis import throughput
    from spikeforge.dataflow.build import build_sdfg, guarantee, placement_guarantee
    from spikeforge.errors import ResourceError
    from spikeforge.hardware import load_hardware
    from spikeforge.mapping.partition import DEFAULT_PARTITIONER, partition
    from spikeforge.mapping.place import place

    stages: dict = {}
    print(f"unet-{size}:", file=sys.stderr, flush=True)
    with measured("profile", stages):
        snn, prof = scaled_profile(size)
    hw = load_hardware("xbar-mesh")
    with measured("partition", stages):
        part = partition(snn, prof, hw, strategy=DEFAULT_PARTITIONER)
    chips = -(-part.n_clusters // hw.crossbars_per_chip)
    with measured("placement", stages):
        pl = place(part, hw, strategy=placer, chips=chips)
    # the guarantee on arrays, communication actors folded into channels (no graph object built)
    try:
        with measured("placement_guarantee", stages):
            fast = placement_guarantee(pl, prof, pl.hardware, timesteps=TIMESTEPS)
    except ResourceError as exc:
        print(f"  placement_guarantee refused: {exc}", file=sys.stderr, flush=True)
        raise
    src, _, _ = part.edges()
    row = {"network": f"unet-{size}", "size": size, "neurons": snn.neuron_count(), "clusters": part.n_clusters,
           "connections": len(src), "chips": chips, "placer": placer, "partitioner": DEFAULT_PARTITIONER,
           # on xbar-mesh every cluster has a core of its own: every connection's two channels cross cores
           "actors": part.n_clusters + 2 * len(src), "channels": part.n_clusters + 4 * len(src), "stages": stages,
           "contracted": {"period_ns": fast.period_ns, "latency_ns": fast.latency_ns, "bottleneck": fast.bottleneck,
                          "s": stages["placement_guarantee"]["s"], "peak_gb": stages["placement_guarantee"]["peak_gb"],
                          "target_met": stages["placement_guarantee"]["s"] <= TARGET_S
                          and stages["placement_guarantee"]["peak_gb"] <= TARGET_GB}}
    try:
        with measured("build_sdfg", stages):
            graph = build_sdfg(pl, prof, pl.hardware, timesteps=TIMESTEPS)
    except ResourceError as exc:   # refused before building: the graph would not fit in memory
        print(f"  refused: {exc}", file=sys.stderr, flush=True)
        return {**row, "refused": str(exc), "target_met": False, "period_ns": fast.period_ns,
                "latency_ns": fast.latency_ns, "latency_simulated": False, "bottleneck": fast.bottleneck}
    with measured("throughput", stages):
        r = throughput(graph)
    with measured("guarantee", stages):
        g = guarantee(graph, TIMESTEPS, part)
    dataflow_s = stages["build_sdfg"]["s"] + stages["throughput"]["s"]
    dataflow_gb = max(stages["build_sdfg"]["peak_gb"], stages["throughput"]["peak_gb"])
    return {**row, "actors": len(graph.actors), "channels": len(graph.channels),
            "communication_actors": sum(1 for a in graph.actors if a.name.startswith("link[")),
            "period_ns": float(r.period), "latency_ns": g.latency_ns, "latency_simulated": g.latency_simulated,
            "bottleneck": g.bottleneck, "dataflow_s": dataflow_s, "dataflow_peak_gb": dataflow_gb,
            "contracted_period_equal": abs(fast.period_ns - float(r.period)) <= 1e-9 * float(r.period),
            "target_met": dataflow_s <= TARGET_S and dataflow_gb <= TARGET_GB}


def projection(rows: list[dict]) -> dict | None:
    """Build + throughput of the largest refused graph, projected from the largest measured one per graph
    element (actor or channel): both grow linearly in the elements."""
    done = [r for r in rows if "dataflow_s" in r]
    todo = [r for r in rows if "refused" in r]
    if not done or not todo:
        return None
    base, big = max(done, key=lambda r: r["clusters"]), max(todo, key=lambda r: r["clusters"])
    scale = (big["actors"] + big["channels"]) / (base["actors"] + base["channels"])
    growth = max(base["stages"][s]["growth_gb"] for s in ("build_sdfg", "throughput"))
    return {"network": big["network"], "from": base["network"], "elements_ratio": scale,
            "dataflow_s": base["dataflow_s"] * scale, "dataflow_growth_gb": growth * scale}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[64, 96, 128, 512])
    ap.add_argument("--placer", default="fill")
    ap.add_argument("--markdown", action="store_true", help="only rewrite the .md from the .json")
    args = ap.parse_args()
    if args.markdown:
        write_markdown()
        return
    import torch

    torch.set_num_threads(1)   # the CPU is shared with other engineers
    load_start = os.getloadavg()
    rows = [run(size, args.placer) for size in args.sizes]
    write_results("unet_hsdf", {"rows": rows, "projection": projection(rows), "profile": SCALED_PROFILE,
                                "timesteps": TIMESTEPS,
                                "load_average": {"start": load_start, "end": os.getloadavg()},
                                "targets": {"dataflow_s_max": TARGET_S, "dataflow_peak_gb_max": TARGET_GB}})
    write_markdown()


def write_markdown() -> None:
    doc = json.loads((RESULTS / "unet_hsdf.json").read_text())
    la, m, tg = doc["load_average"], doc["machine"], doc["targets"]
    lines = ["# U-Net HSDF graph at full scale (dataflow issue, item 5): build and analysis time and memory", "",
             (f"Machine: {m['cpu']}, {m['cpu_count']} cores shared with other jobs; load average (1/5/15 min) at "
              f"start {', '.join(f'{v:.2f}' for v in la['start'])}, at end {', '.join(f'{v:.2f}' for v in la['end'])}. "
              f"{m['date'][:10]}. `xbar-mesh` with just enough chips; profile: {doc['profile']}. Each cell: wall "
              "time, the process's peak resident set during the stage (partition and placement stay resident) "
              "and, in parentheses, its growth during the stage. Actors and channels of a refused graph are "
              "counted, not built."), "",
             ("| network | clusters | connections | actors | channels | partition | placement | build_sdfg "
              "| throughput | guarantee | build + throughput | placement_guarantee (arrays) | same period "
              "| target met |"), "|" + "---|" * 14]

    def cell(stage):
        st = r["stages"].get(stage)
        return "–" if st is None else f"{st['s']:.1f} s, {st['peak_gb']:.2f} GB (+{st['growth_gb']:.2f})"

    for r in doc["rows"]:
        total = "refused" if "refused" in r else f"{r['dataflow_s']:.1f} s, {r['dataflow_peak_gb']:.2f} GB"
        met = "–"
        if r["size"] == 512:
            met = "**yes** (built)" if r["target_met"] else \
                "**yes** (arrays; graph not built)" if r.get("contracted", {}).get("target_met") else "**no**"
        same = {True: "yes", False: "**no**", None: "–"}[r.get("contracted_period_equal")]
        lines.append(f"| {r['network']} ({r['placer']}) | {r['clusters']:,} | {r['connections']:,} | "
                     f"{r['actors']:,} | {r['channels']:,} | {cell('partition')} | {cell('placement')} | "
                     f"{cell('build_sdfg')} | {cell('throughput')} | {cell('guarantee')} | {total} | "
                     f"{cell('placement_guarantee')} | {same} | {met} |")
    lines += ["", (f"Target: U-Net-512 built and its throughput analysed in ≤ {tg['dataflow_s_max']:.0f} s and "
                   f"≤ {tg['dataflow_peak_gb_max']:.0f} GB. *placement_guarantee* computes the same period "
                   "(*same period*: equal to 1e-9 where the graph could be built) and latency estimate on arrays, "
                   "each communication actor folded into its channel, without building the graph's objects.")]
    for r in doc["rows"]:
        if "refused" in r:
            lines += ["", f"{r['network']}: `build_sdfg` refused before building: {r['refused']}"]
    p = doc.get("projection")
    if p:
        lines += ["", (f"Projected for {p['network']} from {p['from']} ({p['elements_ratio']:.1f}× the actors and "
                       f"channels; time and memory are linear in them): build + throughput about "
                       f"{p['dataflow_s']:,.0f} s and {p['dataflow_growth_gb']:,.0f} GB more than the mapping "
                       "holds.")]
    lines += ["", (f"| network | period (ns / timestep) | latency (µs, T = {doc['timesteps']}) | latency "
                   "| bottleneck |"), "|---|---:|---:|---|---|"]
    for r in doc["rows"]:
        if "period_ns" in r:
            how = "simulated" if r["latency_simulated"] else "first iteration + (T − 1) × period"
            lines.append(f"| {r['network']} | {r['period_ns']:,.1f} | {r['latency_ns'] / 1e3:,.2f} | {how} | "
                         f"{r['bottleneck']} |")
    lines += ["", "`nice -n 10 python -m bench.unet_hsdf`; machine and versions in unet_hsdf.json.", ""]
    (RESULTS / "unet_hsdf.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
