"""Mapping scale: wall time and peak memory of tiles + hypergraph + min-cut placement on `loihi`
for ResNet-18 at growing input sizes (up to 224×224), and neuron-level `greedy` on LeNet-MNIST.

Profiles use 2 random inputs at T=4 (random weights); profiling time is excluded from the mapping time.
Peak memory: tracemalloc peak of the mapping call (Python + numpy allocations) and ru_maxrss of the process.
Usage: nice -n 10 python -m bench.mapping_scale [--sizes 64 128 224]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc

import numpy as np
import torch

from bench.common import write_results
from spikeforge.convert.normalise import convert
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.hardware import load_hardware
from spikeforge.mapping.partition import partition
from spikeforge.mapping.place import place
from spikeforge.mapping.report import traffic_summary
from spikeforge.models import build_model
from spikeforge.sim.simulator import simulate


def _net(arch, n=2, T=4, **opts):
    torch.manual_seed(0)
    m, s = build_model(arch, **opts)
    ann = import_torch(m.eval(), s, name=f"{arch}-{opts.get('size', '')}")
    x = np.random.default_rng(0).random((n, *s)).astype(np.float32)
    snn = convert(ann, x)
    return snn, simulate(snn, x, timesteps=T, batch_size=1).profile


def _timed(fn):
    tracemalloc.start()
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, dt, peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[64, 128, 224])
    args = ap.parse_args()
    torch.set_num_threads(2)
    rows = []
    hw = load_hardware("loihi")
    for size in args.sizes:
        snn, prof = _net("resnet18", imagenet=True, size=size)
        neurons = snn.neuron_count() if hasattr(snn, "neuron_count") else None
        p, tp, mp = _timed(lambda: partition(snn, prof, hw, strategy="hypergraph"))
        chips = max(2, -(-p.n_clusters // hw.crossbars_per_chip))
        pl, tl, ml = _timed(lambda: place(p, hw, strategy="min-cut", chips=chips))
        r = traffic_summary(pl, prof)
        row = {"network": f"resnet18-{size}", "neurons": neurons, "clusters": p.n_clusters, "chips": chips,
               "partition_s": tp, "place_s": tl, "total_s": tp + tl, "tracemalloc_peak_mb": max(mp, ml) / 2**20,
               "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "interchip_spikes": r.spikes_between_chips}
        rows.append(row)
        print(row, file=sys.stderr)
    snn, prof = _net("lenet5", n=8, T=8)
    p, tg, mg = _timed(lambda: partition(snn, prof, "xbar-mesh", strategy="greedy"))
    rows.append({"network": "lenet5-mnist greedy (xbar-mesh)", "neurons": snn.neuron_count(), "clusters": p.n_clusters,
                 "partition_s": tg, "tracemalloc_peak_mb": mg / 2**20})
    print(rows[-1], file=sys.stderr)
    write_results("mapping_scale", {"rows": rows, "profile": "2 random inputs, T=4 (ResNet); 8 inputs T=8 (LeNet)",
                                    "targets": {"resnet18_224_total_s_max": 30, "resnet18_224_peak_gb_max": 4,
                                                "lenet_greedy_s_max": 5}})


if __name__ == "__main__":
    main()
