"""Mapping quality: every partitioner × placer on five networks, on `loihi` (enough chips) and `xbar-mesh`.

Profiles: small nets on 8 random inputs at T=8; the large random-weight nets (VGG-11, ResNet-18 at
224×224, U-Net at 512×512) on 2 random inputs at T=4 (simulating them on CPU is costly).
Usage: nice -n 10 python -m bench.mapping_quality [--quick]   (--quick: digits-cnn and LeNet only)
"""

from __future__ import annotations

import argparse
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
from spikeforge.mapping.report import traffic_summary
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
    args = ap.parse_args()
    keys = args.nets or (list(SMALL) if args.quick else list(NETS))
    rows = []
    for key in keys:
        t0 = time.time()
        snn, prof, pinfo = build(key)
        print(f"{key}: profiled in {time.time() - t0:.0f}s", file=sys.stderr)
        for hw_name in ("loihi", "xbar-mesh"):
            hw = load_hardware(hw_name)
            parts = {}
            for pst in ("greedy", "tiles", "hypergraph"):
                if pst == "greedy" and key not in SMALL:
                    continue
                t = time.time()
                try:
                    parts[pst] = (partition(snn, prof, hw, strategy=pst), time.time() - t)
                except SpikeforgeError as exc:
                    rows.append({"network": key, "hardware": hw_name, "partitioner": pst, "error": str(exc)})
            need = max(-(-p.n_clusters // hw.crossbars_per_chip) for p, _ in parts.values())
            chips = max(2, need)
            for pst, (p, tp) in parts.items():
                for placer in PLACERS:
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
                           "interchip_spikes": r.spikes_between_chips, "intercore_spikes": r.spikes_between_cores,
                           "partial_sums": r.partial_sums, "spike_hops": r.spike_hops, "max_link_load": r.max_link_load,
                           "energy_j": r.energy.total_j, "partition_s": tp, "place_s": time.time() - t,
                           "profile": pinfo}
                    rows.append(row)
                    print(f"{key:14s} {hw_name:9s} {pst:10s} {placer:16s} xbars {r.crossbars_used:6d} "
                          f"inter-chip {r.spikes_between_chips:12.0f} hops {r.spike_hops:14.0f} E {r.energy.total_j:.3g}",
                          file=sys.stderr)
    targets = evaluate(rows)
    write_results("mapping_quality" + ("_quick" if args.quick else ""), {"rows": rows, "targets": targets})
    write_markdown(rows, targets, "mapping_quality" + ("_quick" if args.quick else ""))


def evaluate(rows):
    out = []
    ok = [r for r in rows if "error" not in r]
    for key in {(r["network"], r["hardware"]) for r in ok}:
        case = [r for r in ok if (r["network"], r["hardware"]) == key]
        d = [r for r in case if r["default"]]
        if not d:
            continue
        d = d[0]
        others = [r for r in case if not r["default"]]
        fill = [r for r in case if r["partitioner"] == d["partitioner"] and r["placer"] == "fill"]
        greedy = [r for r in case if r["partitioner"] == "greedy"]
        multi = d["chips_used"] > 1
        item = {"network": key[0], "hardware": key[1], "multi_chip": multi,
                "default_interchip": d["interchip_spikes"],
                "best_other_interchip": min((r["interchip_spikes"] for r in others), default=None),
                "fill_interchip": fill[0]["interchip_spikes"] if fill else None,
                "crossbars_default": d["crossbars"],
                "crossbars_greedy": greedy[0]["crossbars"] if greedy else None}
        if multi:
            item["beats_every_other"] = all(d["interchip_spikes"] <= r["interchip_spikes"] for r in others)
            item["fill_reduction"] = (fill[0]["interchip_spikes"] / max(d["interchip_spikes"], 1e-9)) if fill else None
        if greedy:
            item["crossbars_vs_greedy"] = d["crossbars"] / greedy[0]["crossbars"]
        out.append(item)
    return out


def write_markdown(rows, targets, name):
    lines = ["| network | hardware | partitioner | placer | crossbars | chips | inter-chip spikes | inter-core spikes "
             "| spike-hops | max link | energy (µJ) |", "|" + "---|" * 11]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['network']} | {r['hardware']} | {r['partitioner']} | {r.get('placer', '')} | "
                         f"error: {r['error'][:80]} |||||||")
            continue
        star = " **(default)**" if r["default"] else ""
        lines.append(f"| {r['network']} | {r['hardware']} | {r['partitioner']} | {r['placer']}{star} | {r['crossbars']:,} "
                     f"| {r['chips_used']} | {r['interchip_spikes']:,.0f} | {r['intercore_spikes']:,.0f} "
                     f"| {r['spike_hops']:,.0f} | {r['max_link_load']:,.0f} | {r['energy_j'] * 1e6:,.2f} |")
    lines += ["", "Targets (default = hypergraph + min-cut):", ""]
    for t in targets:
        lines.append(f"- {t['network']} on {t['hardware']}: " + ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.items()
            if k not in ("network", "hardware")))
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
