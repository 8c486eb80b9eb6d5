"""Mapping quality: every partitioner × placer on five networks, on `loihi` (enough chips) and `xbar-mesh`.

Profiles: small nets on 8 random inputs at T=8; the large random-weight nets (VGG-11, ResNet-18 at
224×224, U-Net at 512×512) on 2 random inputs at T=4 (simulating them on CPU is costly).
Every placer of one case gets the same board: the chips the largest partition needs (at least 2),
so ``fill`` and the default ``min-cut`` use the same number of chips.

Inter-chip **traffic** = spikes + partial sums that cross a chip boundary (both are link messages);
the spike-only figure is reported beside it.

Combos cut to keep the run within an hour on 2 shared cores (stated in the results):
neuron-level ``greedy`` runs on the small nets only (it materialises per-synapse lists: ResNet-18 at
224×224 has ~1.8 G synapses); on ``xbar-mesh`` (128×128 crossbars) ResNet-18-224 needs 185,367
clusters on 11,586 chips and U-Net-512 1,490,944 on 93,184, so these two run with the default
partitioner and the ``fill`` and default placers only (``min-cut`` goes two-level there).
Usage: nice -n 10 python -m bench.mapping_quality [--quick] [--nets ...]
       python -m bench.mapping_quality --markdown   (rewrite the .md from the .json)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

from bench.common import RESULTS, write_results
from spikeforge.convert.normalise import convert
from spikeforge.errors import SpikeforgeError
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.hardware import load_hardware
from spikeforge.mapping.partition import DEFAULT_PARTITIONER, partition
from spikeforge.mapping.place import DEFAULT_PLACER, PLACERS, place
from spikeforge.mapping.report import interchip_bound, traffic_summary
from spikeforge.models import build_model
from spikeforge.sim.simulator import simulate

NETS = {
    "digits-cnn": ("digits-cnn", {}, 8, 8),
    "lenet5-mnist": ("lenet5", {}, 8, 8),
    "vgg11-cifar10": ("vgg", {"config": "vgg11"}, 2, 4),
    "resnet18-224": ("resnet18", {"imagenet": True, "size": 224}, 2, 4),
    "unet-512": ("unet", {"size": 512}, 2, 4),
}
SMALL = ("digits-cnn", "lenet5-mnist")
# 10^5–10^6 crossbars on xbar-mesh: default partitioner, fill and default placers only
HUGE_ON_XBAR = ("resnet18-224", "unet-512")


def build(key: str):
    arch, opts, n, T = NETS[key]
    torch.manual_seed(0)
    model, shape = build_model(arch, **opts)
    ann = import_torch(model.eval(), shape, name=key)
    x = np.random.default_rng(0).random((n, *shape)).astype(np.float32)
    snn = convert(ann, x)
    prof = simulate(snn, x, timesteps=T, batch_size=1).profile
    return snn, prof, {"samples": n, "timesteps": T, "inputs": "uniform random", "weights": "random (untrained)"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--nets", nargs="*")
    ap.add_argument("--markdown", action="store_true", help="only rewrite the .md from the .json")
    args = ap.parse_args()
    name = "mapping_quality" + ("_quick" if args.quick else "")
    if args.markdown:
        write_markdown(name)
        return
    keys = args.nets or (list(SMALL) if args.quick else list(NETS))
    rows = []
    load_start = os.getloadavg()
    skipped = []
    for key in keys:
        t0 = time.time()
        snn, prof, pinfo = build(key)
        print(f"{key}: profiled in {time.time() - t0:.0f}s", file=sys.stderr)
        for hw_name in ("loihi", "xbar-mesh"):
            hw = load_hardware(hw_name)
            huge = hw_name == "xbar-mesh" and key in HUGE_ON_XBAR
            parts = {}
            for pst in ("greedy", "tiles", "hypergraph"):
                if pst == "greedy" and key not in SMALL:
                    skipped.append(f"{key} on {hw_name}: greedy (neuron level, per-synapse lists)")
                    continue
                if huge and pst != DEFAULT_PARTITIONER:
                    skipped.append(f"{key} on {hw_name}: {pst} (10^5+ crossbars; default partitioner only)")
                    continue
                t = time.time()
                try:
                    parts[pst] = (partition(snn, prof, hw, strategy=pst), time.time() - t)
                except SpikeforgeError as exc:
                    rows.append({"network": key, "hardware": hw_name, "partitioner": pst, "error": str(exc)})
            if not parts:
                continue
            need = max(-(-p.n_clusters // hw.crossbars_per_chip) for p, _ in parts.values())
            chips = max(2, need)
            for pst, (p, tp) in parts.items():
                bound = interchip_bound(p, hw.crossbars_per_chip)
                for placer in PLACERS:
                    if huge and placer not in ("fill", DEFAULT_PLACER):
                        skipped.append(f"{key} on {hw_name}: {pst} + {placer}")
                        continue
                    t = time.time()
                    try:
                        pl = place(p, hw, strategy=placer, chips=chips)
                    except SpikeforgeError as exc:
                        rows.append({"network": key, "hardware": hw_name, "partitioner": pst, "placer": placer,
                                     "error": str(exc)})
                        continue
                    r = traffic_summary(pl, prof)
                    row = {"network": key, "hardware": hw_name, "chips": chips, "partitioner": pst, "placer": placer,
                           "default": pst == DEFAULT_PARTITIONER and placer == DEFAULT_PLACER,
                           "crossbars": r.crossbars_used, "cores": r.cores_used, "chips_used": r.chips_used,
                           "interchip_spikes": r.spikes_between_chips,
                           "interchip_partial_sums": r.partial_sums_between_chips,
                           "interchip_traffic": r.spikes_between_chips + r.partial_sums_between_chips,
                           "intercore_spikes": r.spikes_between_cores,
                           "partial_sums": r.partial_sums,
                           "interchip_bound": bound.total, "interchip_partial_sums_floor": bound.partial_sums,
                           "spike_hops": r.spike_hops, "max_link_load": r.max_link_load,
                           "energy_j": r.energy.total_j, "partition_s": tp, "place_s": time.time() - t,
                           "profile": pinfo}
                    rows.append(row)
                    print(f"{key:14s} {hw_name:9s} {pst:10s} {placer:16s} xbars {r.crossbars_used:6d} "
                          f"inter-chip {row['interchip_traffic']:12.0f} (spikes {r.spikes_between_chips:12.0f}) "
                          f"hops {r.spike_hops:14.0f} E {r.energy.total_j:.3g} place {row['place_s']:.1f}s",
                          file=sys.stderr, flush=True)
    targets = evaluate(rows)
    write_results(name, {"rows": rows, "targets": targets, "skipped": skipped,
                         "load_average": {"start": load_start, "end": os.getloadavg()},
                         "definition": "inter-chip traffic = spikes + partial sums crossing a chip boundary, "
                                       "per inference; every placer of a case on the same board"})
    write_markdown(name)


def evaluate(rows):
    """Targets per (network, hardware): default beats every other combo on inter-chip traffic (multi-chip
    cases), cuts it ≥ 2× against ``fill`` (same partition, same board), crossbars ≤ 1.1 × ``greedy``."""
    out = []
    ok = [r for r in rows if "error" not in r]
    for key in sorted({(r["network"], r["hardware"]) for r in ok}):
        case = [r for r in ok if (r["network"], r["hardware"]) == key]
        d = [r for r in case if r["default"]]
        if not d:
            continue
        d = d[0]
        others = [r for r in case if not r["default"]]
        fill = [r for r in case if r["partitioner"] == d["partitioner"] and r["placer"] == "fill"]
        greedy = [r for r in case if r["partitioner"] == "greedy"]
        multi = d["chips_used"] > 1
        item = {"network": key[0], "hardware": key[1], "multi_chip": multi, "chips": d["chips_used"],
                "default_interchip": d["interchip_traffic"], "default_interchip_spikes": d["interchip_spikes"],
                "best_other_interchip": min((r["interchip_traffic"] for r in others), default=None),
                "fill_interchip": fill[0]["interchip_traffic"] if fill else None,
                "fill_interchip_spikes": fill[0]["interchip_spikes"] if fill else None,
                "default_interchip_partial_floor": d.get("interchip_partial_sums_floor"),
                "default_interchip_bound": d.get("interchip_bound"),
                "crossbars_default": d["crossbars"],
                "crossbars_greedy": greedy[0]["crossbars"] if greedy else None}
        met = []
        if multi:
            item["beats_every_other"] = all(d["interchip_traffic"] <= r["interchip_traffic"] + 1e-9 for r in others)
            item["beats_every_other_spikes"] = all(d["interchip_spikes"] <= r["interchip_spikes"] + 1e-9
                                                   for r in others)
            if fill:
                item["fill_reduction"] = fill[0]["interchip_traffic"] / max(d["interchip_traffic"], 1e-9)
                item["fill_reduction_spikes"] = fill[0]["interchip_spikes"] / max(d["interchip_spikes"], 1e-9)
                # the most any placement of the default partition could cut fill's traffic by
                item["fill_reduction_possible"] = (fill[0]["interchip_traffic"] / d["interchip_bound"]
                                                   if d["interchip_bound"] > 0 else None)
                met.append(item["fill_reduction"] >= 2)
            met.append(item["beats_every_other"])
        if greedy:
            item["crossbars_vs_greedy"] = d["crossbars"] / greedy[0]["crossbars"]
            met.append(item["crossbars_vs_greedy"] <= 1.1 + 1e-9)
        item["target_met"] = all(met) if met else None
        out.append(item)
    return out


def _fmt(v, spec=",.0f"):
    return "–" if v is None else format(v, spec)


def write_markdown(name):
    """Tables from ``bench/results/NAME.json``: targets per case (with 'target met'), then every combo."""
    doc = json.loads((RESULTS / f"{name}.json").read_text())
    rows, targets = doc["rows"], doc["targets"]
    la = doc.get("load_average", {})
    lines = [f"Machine: {doc['machine']['cpu']}, {doc['machine']['cpu_count']} cores, shared; load average "
             f"(1/5/15 min) at start {', '.join(f'{v:.2f}' for v in la.get('start', []))}, at end "
             f"{', '.join(f'{v:.2f}' for v in la.get('end', []))}. {doc['machine']['date'][:10]}.", "",
             "Inter-chip traffic = spikes + partial sums crossing a chip boundary, per inference; all placers of a "
             "case share one board (the chips the largest partition needs), so `fill` and the default use the "
             "same number of chips. Default = `hypergraph` + `min-cut`. 'target met' = on multi-chip cases the default "
             "has the least inter-chip traffic of all combos and ≤ half of `fill`'s, and (where `greedy` runs) "
             "≤ 1.1× its crossbars; judged on traffic (spikes + partial sums). Figures in parentheses "
             "count spikes alone: on that measure the 2× against `fill` is missed on every case. "
             "Least possible = a lower bound on the inter-chip traffic of *any* placement of the default partition "
             "on these chips (`spikeforge.mapping.report.interchip_bound`: of the streams leaving or entering a "
             "crossbar at most (crossbars per chip − 1) stay on its chip; a split group larger than a chip leaves "
             "its excess off the root's chip), with its partial-sum part; 'most possible' = `fill` ÷ that bound, "
             "the largest reduction any placer could reach.", "",
             "| network | hardware | chips | default inter-chip (spikes) | fill inter-chip (spikes) | reduction vs fill "
             "(spikes) | least possible (partial sums) | most possible vs fill | best other | beats every other "
             "(spikes) | crossbars default / greedy | target met |",
             "|" + "---|" * 12]
    for t in targets:
        possible = "–" if t.get("fill_reduction_possible") is None else f"{t['fill_reduction_possible']:.2f}×"
        if not t["multi_chip"]:
            red, beats = "single chip", "single chip"
        else:
            red = f"{_fmt(t.get('fill_reduction'), '.2f')}× ({_fmt(t.get('fill_reduction_spikes'), '.2f')}×)"
            beats = f"{'yes' if t['beats_every_other'] else 'no'} ({'yes' if t['beats_every_other_spikes'] else 'no'})"
        xb = f"{t['crossbars_default']:,}" + (f" / {t['crossbars_greedy']:,} ({t['crossbars_vs_greedy']:.2f}×)"
                                             if t.get("crossbars_greedy") else " / –")
        met = {True: "**yes**", False: "**no**", None: "n/a"}[t["target_met"]]
        lines.append(f"| {t['network']} | {t['hardware']} | {t['chips']} | {_fmt(t['default_interchip'])} "
                     f"({_fmt(t['default_interchip_spikes'])}) | {_fmt(t['fill_interchip'])} "
                     f"({_fmt(t['fill_interchip_spikes'])}) | {red} | {_fmt(t.get('default_interchip_bound'))} "
                     f"({_fmt(t.get('default_interchip_partial_floor'))}) | {possible} "
                     f"| {_fmt(t['best_other_interchip'])} | {beats} "
                     f"| {xb} | {met} |")
    lines += ["", "| network | hardware | partitioner | placer | crossbars | chips | inter-chip traffic "
              "| inter-chip spikes | inter-core spikes | spike-hops | max link | energy (µJ) | place (s) |",
              "|" + "---|" * 13]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['network']} | {r['hardware']} | {r['partitioner']} | {r.get('placer', '')} | "
                         f"error: {r['error'][:80]} ||||||||")
            continue
        star = " **(default)**" if r["default"] else ""
        lines.append(f"| {r['network']} | {r['hardware']} | {r['partitioner']} | {r['placer']}{star} | {r['crossbars']:,} "
                     f"| {r['chips_used']} | {r['interchip_traffic']:,.0f} | {r['interchip_spikes']:,.0f} "
                     f"| {r['intercore_spikes']:,.0f} | {r['spike_hops']:,.0f} | {r['max_link_load']:,.0f} "
                     f"| {r['energy_j'] * 1e6:,.2f} | {r['place_s']:.1f} |")
    if doc.get("skipped"):
        lines += ["", "Not run (time budget): " + "; ".join(dict.fromkeys(doc["skipped"])) + "."]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
