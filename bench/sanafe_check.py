"""Spikeforge's figures against SANA-FE's simulation (issue 22): spikes, energy, time per timestep.

For each case (the application suite, a U-Net tile, VGG-11, SANA-FE's own DVS gesture network),
scaled down to run in minutes, and each chip (``loihi``, ``truenorth``):

1. the network is quantised (integer weights, thresholds and inputs), simulated by spikeforge
   (bit-exact integer arithmetic) and mapped by the compile passes (partition, place, SDFG with the
   chip's timestep barrier, analysis): spikeforge's energy per inference by source (estimate) and
   guaranteed time per timestep (the SDFG's period);
2. the same placement, with the preset's per-event energies and latencies, is exported to SANA-FE
   (:mod:`spikeforge.backends.sanafe`) and simulated on the same inputs: spikes per layer and
   timestep, energy by source, simulated time of every timestep.

Targets (issue 22): spikes identical; dynamic energy within 10% (every difference > 2%
explained); SANA-FE's mean time per timestep never above the guarantee and the guarantee within
1.5× of it.

Usage: python -m bench.sanafe_check [--cases mnist-mlp dvs] [--hw loihi]
       python -m bench.sanafe_check --markdown   (rewrite the .md and the plot from the .json)
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import CACHE, DATA, RESULTS, write_results

NAME = "sanafe_check"
HARDWARE = ("loihi", "truenorth")
CALIB = 200


# ---------------------------------------------------------------------------------------------
# cases: (quantised network, integer inputs, T, partitioner, description)


def _convert(model: torch.nn.Module, shape, calib: np.ndarray, name: str):
    from spikeforge.convert.normalise import convert
    from spikeforge.frontends.torch_fx import import_torch
    from spikeforge.quantize.core import quantize

    ann = import_torch(model.eval(), shape, name=name)
    snn = convert(ann, calib, statistic="p99.9")
    return quantize(snn, calib=calib)


def _trained(arch: str, options: dict, train, epochs: int, n: int):
    from spikeforge.models import build_model
    from spikeforge.train import fit

    torch.manual_seed(0)
    model, shape = build_model(arch, **options)
    sub = type(train)(train.x[:n], train.y[:n], train.name)
    return fit(model, sub, epochs=epochs, lr=3e-3, batch_size=64, seed=0), shape


def case_em(bank: str, samples: int):
    from spikeforge.apps.filters import em_crops, filter_snn
    from spikeforge.quantize.core import quantize

    images = em_crops(DATA / "isbi2012", 16, samples + 4, 0)
    snn = filter_snn(16, 16, bank)
    q = quantize(snn, calib=images[:4])
    return q, q.quantize_input(images[4:]), 16, "greedy", f"hand-built {bank} SNN on 16×16 EM crops"


def case_mnist(arch: str, samples: int):
    from spikeforge.datasets import mnist

    train, test = mnist(DATA / "mnist", "train"), mnist(DATA / "mnist", "test")
    flat = arch == "mlp"
    if flat:
        train = type(train)(train.x.reshape(len(train), -1), train.y, train.name)
        test = type(test)(test.x.reshape(len(test), -1), test.y, test.name)
    options = {"hidden": (64,)} if flat else {}
    model, shape = _trained(arch, options, train, 2, 5000)
    q = _convert(model, shape, train.x[:CALIB], f"mnist-{arch}")
    return (q, q.quantize_input(test.x[:samples]), 8, "greedy" if flat else "tiles",
            f"{'MLP 784-64-10' if flat else 'LeNet-5'} trained 2 epochs on 5k MNIST")


def case_cifar_cnn(samples: int):
    from spikeforge.datasets import cifar10

    train = cifar10(DATA / "cifar10", "train", cache=CACHE)
    test = cifar10(DATA / "cifar10", "test", cache=CACHE)
    model, shape = _trained("vgg", {"config": "small", "width": 0.125, "qcfs_levels": 4}, train, 1, 2000)
    q = _convert(model, shape, train.x[:CALIB], "cifar-cnn")
    return q, q.quantize_input(test.x[:samples]), 16, "tiles", "VGG-small ×0.125 (QCFS), 1 epoch on 2k CIFAR-10"


def case_ecg(samples: int):
    from spikeforge.apps.ecg import beat_data, heartbeat_cnn, load_record
    from spikeforge.train import fit

    data = beat_data(load_record(DATA / "ecg"))
    torch.manual_seed(0)
    model = heartbeat_cnn(data.train.x.shape[-1], width=2, hidden=16)
    fit(model, data.train, epochs=2, lr=3e-3, batch_size=64, seed=0)
    q = _convert(model, data.train.x.shape[1:], data.train.x[:CALIB], "ecg-heartbeat")
    return q, q.quantize_input(data.test.x[:samples]), 8, "greedy", "1-D CNN (width 2), 2 epochs, MIT-BIH 100"


def case_unet(samples: int):
    from spikeforge.apps.filters import em_crops
    from spikeforge.models import build_model

    images = em_crops(DATA / "isbi2012", 16, samples + 8, 1)
    torch.manual_seed(0)
    model, shape = build_model("unet", size=16, base=4, depth=1)
    q = _convert(model, shape, images[:8], "unet-tile")
    return q, q.quantize_input(images[8:]), 16, "tiles", "U-Net tile 16×16, base 4, depth 1 (untrained weights)"


def case_vgg11(samples: int):
    """VGG-11 at width 0.125 (the reference checkpoint, ×0.25, needs two Loihi chips: SANA-FE models one)."""
    from spikeforge.datasets import cifar10

    train = cifar10(DATA / "cifar10", "train", cache=CACHE)
    test = cifar10(DATA / "cifar10", "test", cache=CACHE)
    model, shape = _trained("vgg", {"config": "vgg11", "width": 0.125}, train, 1, 2000)
    q = _convert(model, shape, train.x[:CALIB], "vgg11")
    return q, q.quantize_input(test.x[:samples]), 16, "tiles", "VGG-11 ×0.125 (avg-pool), 1 epoch on 2k CIFAR-10"


def case_dvs(samples: int):
    """SANA-FE's quantised DVS gesture network (sanafe/examples/dvs_challenge.npz) as a spikeforge network:
    the 32×32 input layer's neurons take the pixel value as current (SANA-FE's tutorial gives it as their
    bias), conv 3×3 (stride 2, then 1) ×4, dense 891→11; weights WHCN→(out, in, kh, kw)."""
    from importlib.resources import files

    from spikeforge.ir import network as ir
    from spikeforge.quantize.core import QuantizedNetwork

    with files("sanafe.examples").joinpath("dvs_challenge.npz").open("rb") as f:
        d = dict(np.load(f))
    th = d["thresholds"].astype(np.float32)
    nodes = [ir.Input("x", (), (1, 32, 32)), ir.IF("in", ("x",), threshold=th[0], v_init=0.0)]
    prev = "in"
    for k in range(4):
        w = np.ascontiguousarray(d[f"conv{k + 1}"].transpose(3, 2, 0, 1)).astype(np.float32)
        nodes += [ir.Conv2d(f"conv{k + 1}", (prev,), w, stride=(2, 2) if k == 0 else (1, 1)),
                  ir.IF(f"n{k + 1}", (f"conv{k + 1}",), threshold=th[k + 1], v_init=0.0)]
        prev = f"n{k + 1}"
    nodes += [ir.Flatten("flat", (prev,)),
              ir.Linear("dense1", ("flat",), np.ascontiguousarray(d["dense1"].T).astype(np.float32)),
              ir.IF("out", ("dense1",), threshold=th[5], v_init=0.0)]
    net = ir.Network(tuple(nodes), ("out",), name="dvs")
    q = QuantizedNetwork(net, 8, 16, None, False, 8, 1.0)
    x = np.stack([d["inputs"].reshape(1, 32, 32).astype(np.float32)] * samples)
    return q, x, 32, "tiles", "SANA-FE's DVS gesture network (dvs_challenge.npz), its one input frame"


CASES = {
    "em-smoothing": lambda n: case_em("smoothing", n), "em-edges": lambda n: case_em("edges", n),
    "mnist-mlp": lambda n: case_mnist("mlp", n), "mnist-lenet5": lambda n: case_mnist("lenet5", n),
    "cifar-cnn": case_cifar_cnn, "ecg-heartbeat": case_ecg, "unet-tile": case_unet, "vgg11": case_vgg11,
    "dvs": case_dvs,
}


# ---------------------------------------------------------------------------------------------
# one case on one chip


def spikeforge_side(net, x, T: int, hw, partitioner: str) -> dict[str, Any]:
    from spikeforge.errors import SpikeforgeError
    from spikeforge.mapping.partition import partition
    from spikeforge.mapping.report import mapping_energy
    from spikeforge.pipeline import (
        analyse_pass,
        chips_needed,
        dataflow_pass,
        place_pass,
    )
    from spikeforge.sim.simulator import simulate

    profile = simulate(net, x, timesteps=T, integer=True).profile
    # whole neurons where the crossbars allow it (SANA-FE has no partial sums), else split fan-ins
    try:
        part, fan_in = partition(net, profile, hw, strategy=partitioner, fan_in=None), "whole"
    except SpikeforgeError:
        part, fan_in = partition(net, profile, hw, strategy=partitioner), "split"
    placement = place_pass(part, hw, "fill", chips_needed(part.n_clusters, hw), None)
    _, schedule, graph, platform = dataflow_pass(placement, profile, hw, "in-order", None)
    g, _ = analyse_pass(graph, placement, profile, schedule, platform, T)
    xbar = np.array([schedule.binding[f"c{i}"] for i in range(part.n_clusters)], dtype=np.int64)
    use = mapping_energy(part, placement.hardware, xbar // hw.core.crossbars_per_core, profile=profile,
                         time_s=T * g.period_ns * 1e-9, timesteps=T, streams=(part.traffic + part.partial_traffic,))
    e = use.energy
    # the same mapping as if timesteps could overlap across cores (the model before the barrier)
    from spikeforge.dataflow.build import placement_guarantee

    free = placement_guarantee(placement, profile, hw.replace(**{"timing.timestep_barrier": False}), timesteps=T)
    macs = profile.input_macs_per_sample * hw.energy.per_synop_pj * 1e-12
    return {"placement": placement, "profile": profile, "period_ns": g.period_ns, "bottleneck": g.bottleneck,
            "fan_in": fan_in, "period_without_barrier_ns": free.period_ns,
            "clusters": part.n_clusters, "cores": use.cores_used, "chips": use.chips_used,
            "partial_sum_streams": int(part.partial_traffic.nnz),
            "events": {"spikes": use.spikes, "synops": profile.synops_per_sample,
                       "input_macs": profile.input_macs_per_sample, "neuron_updates": use.neuron_updates,
                       "hops": use.hops, "interchip": use.interchip_hops},
            "energy_j": {"synapse": e.synops_j - macs, "input_macs": macs, "soma": e.spikes_j + e.neuron_updates_j,
                         "network": e.hops_j + e.interchip_j, "dynamic": e.dynamic_j, "static": e.static_j}}


def run_case(name: str, built, hw_name: str) -> dict[str, Any]:
    from spikeforge.backends.sanafe import run_sanafe
    from spikeforge.errors import SpikeforgeError
    from spikeforge.hardware import load_hardware

    q, x, T, partitioner, _ = built
    hw = load_hardware(hw_name)
    row: dict[str, Any] = {"case": name, "hardware": hw_name, "timesteps": T, "samples": len(x),
                           "neurons": q.network.neuron_count()}
    t0 = time.perf_counter()
    try:
        sf = spikeforge_side(q.network, x, T, hw, partitioner)
    except SpikeforgeError as exc:
        return {**row, "skipped": f"spikeforge: {exc}"}
    row.update({k: sf[k] for k in ("period_ns", "bottleneck", "clusters", "cores", "chips", "partial_sum_streams",
                                   "fan_in", "period_without_barrier_ns")})
    row["partial_sum_columns"] = int(sf["placement"].partition.piece_neurons[sf["placement"].partition.piece_part != 0].sum())
    row["spikeforge"] = {"energy_j": sf["energy_j"], "events": sf["events"]}
    try:
        r = run_sanafe(q.network, sf["placement"], x, timesteps=T, hw=hw)
    except SpikeforgeError as exc:
        return {**row, "skipped": f"SANA-FE: {exc}", "seconds": time.perf_counter() - t0}
    sa = r.as_dict()
    spikes_sf = {k: v.sum(0).tolist() for k, v in r.reference.items()}
    row["sanafe"] = {"energy_j": {**r.energy_j, "fill_soma": r.fill_soma_j, "dynamic": r.dynamic_j},
                     "events": r.events, "time_per_timestep_s": r.time_per_timestep_s,
                     "steady_time_per_timestep_s": r.steady_time_per_timestep_s,
                     "max_time_per_timestep_s": sa["max_time_per_timestep_s"], "steps": r.steps,
                     "depth": max(r.depth.values())}
    row["spikes_identical"] = r.spikes_identical
    row["spikes_per_layer_timestep"] = {"spikeforge": spikes_sf, "sanafe": sa["spikes_per_layer_timestep"]}
    row["seconds"] = time.perf_counter() - t0
    return row


# ---------------------------------------------------------------------------------------------
# the table, the plot


def _pct(a: float, b: float) -> str:
    return "—" if not b else f"{100 * (a - b) / b:+.1f}%"


def _uj(v: float) -> str:
    return f"{v * 1e6:.3g}"


def steady(r: dict[str, Any]) -> float:
    """SANA-FE's mean time per timestep while every layer is busy (the whole run's where T is not above
    the depth)."""
    t = r["sanafe"].get("steady_time_per_timestep_s", math.nan)
    return r["sanafe"]["time_per_timestep_s"] if t is None or math.isnan(t) else t


def causes(r: dict[str, Any]) -> str:
    """Why spikeforge's dynamic energy differs from SANA-FE's by more than 2%, from the event counts."""
    sf, sa = r["spikeforge"], r["sanafe"]
    total = sa["energy_j"]["dynamic"] or 1.0
    out = []
    if sf["energy_j"]["input_macs"] > 0.02 * total:
        out.append(f"input MACs {100 * sf['energy_j']['input_macs'] / total:+.0f}%")
    syn = sf["events"]["synops"] - sa["events"]["synaptic_events"]
    if abs(syn) * (sa["energy_j"]["synapse"] / max(sa["events"]["synaptic_events"], 1)) > 0.02 * total:
        out.append(f"sum-pool composed into synapses: {syn / max(sa['events']['synaptic_events'], 1):+.0%} "
                   f"synaptic events")
    soma = sf["energy_j"]["soma"] - (sa["energy_j"]["soma"] - sa["energy_j"]["fill_soma"])
    if abs(soma) > 0.02 * total:
        out.append(f"partial-sum columns {100 * soma / total:+.0f}%")
    net = sf["energy_j"]["network"] - sa["energy_j"]["network"]
    if abs(net) > 0.02 * total:
        out.append(f"partial-sum traffic {100 * net / total:+.0f}%")
    return "; ".join(out) or "—"


def markdown(doc: dict[str, Any]) -> str:
    rows = doc["rows"]
    lines = ["# SANA-FE cross-check (issue 22): spikes, energy and time per timestep against a calibrated simulator",
             "",
             ("Each case is quantised, simulated bit-exactly by spikeforge and mapped by the compile passes; the same "
             "placement, with the preset's per-event energies and latencies, runs on SANA-FE "
             f"{doc.get('sanafe_version', '')} on the same inputs (`python -m bench.sanafe_check`; "
             f"{doc['seconds']:.0f} s). Energy per inference in µJ; SANA-FE's is inside the layers' windows "
             "(its pipeline fill and drain, neuron accesses only, removed: see the README). spikeforge's synapse "
             "energy excludes the analog input's MACs, shown apart (SANA-FE takes the input's current as a bias). "
             "Time per timestep in µs: spikeforge's guarantee (the SDFG's period, timestep barrier included; in "
             "brackets the same mapping's period if timesteps could overlap across cores) against SANA-FE's mean "
             "over the run (the target's measure), its mean over the timesteps in which every layer is inside its "
             "window (all layers busy, as when inferences stream) and its slowest timestep. \"(split)\": the "
             "crossbars are too "
             "small for whole neurons, spikeforge splits fan-ins into partial-sum columns and SANA-FE runs each "
             "neuron whole on the core of its part 0. Every difference is explained in the README "
             "(*SANA-FE cross-check*)."),
             "",
             ("| case | hw | T × samples | neurons | spikes identical | dynamic energy spikeforge / SANA-FE | Δ | "
             "Δ without input MACs | differences > 2% (from the event counts) | "
             "time/step guarantee [without barrier] / SANA-FE run mean; all layers busy; slowest step | "
             "guarantee ÷ SANA-FE run mean; ÷ all busy |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        split = " (split)" if r.get("fan_in") == "split" else ""
        head = f"| {r['case']} | {r['hardware']}{split} | {r['timesteps']} × {r['samples']} | {r.get('neurons', 0):,} |"
        if "sanafe" not in r:
            lines.append(f"{head} — | — | — | — | — | — | skipped: {r.get('skipped', '')} |")
            continue
        sf, sa = r["spikeforge"]["energy_j"], r["sanafe"]["energy_j"]
        g, tmax = r["period_ns"] * 1e-3, r["sanafe"]["max_time_per_timestep_s"] * 1e6
        t, busy = r["sanafe"]["time_per_timestep_s"] * 1e6, steady(r) * 1e6
        lines.append(f"{head} {'yes' if r['spikes_identical'] else '**no**'} | {_uj(sf['dynamic'])} / "
                     f"{_uj(sa['dynamic'])} | {_pct(sf['dynamic'], sa['dynamic'])} | "
                     f"{_pct(sf['dynamic'] - sf['input_macs'], sa['dynamic'])} | {causes(r)} | "
                     f"{g:.4g} [{r.get('period_without_barrier_ns', math.nan) * 1e-3:.4g}] / {t:.4g}; {busy:.4g}; "
                     f"{tmax:.4g} | {g / t if t else math.inf:.2f}×; {g / busy if busy else math.inf:.2f}× |")
    lines += ["", "## Energy per inference by source (µJ): spikeforge / SANA-FE", "",
              ("| case | hw | synapse | input MACs (spikeforge only) | soma (spikes + neuron updates) | network (hops) | "
              "SANA-FE fill/drain | events: spikes, synaptic, hops (spikeforge / SANA-FE) |"),
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "sanafe" not in r:
            continue
        sf, sa = r["spikeforge"]["energy_j"], r["sanafe"]["energy_j"]
        ev, ea = r["spikeforge"]["events"], r["sanafe"]["events"]
        lines.append(f"| {r['case']} | {r['hardware']} | {_uj(sf['synapse'])} / {_uj(sa['synapse'])} | "
                     f"{_uj(sf['input_macs'])} | {_uj(sf['soma'])} / {_uj(sa['soma'] - sa['fill_soma'])} | "
                     f"{_uj(sf['network'])} / {_uj(sa['network'])} | {_uj(sa['fill_soma'])} | "
                     f"{ev['spikes']:.0f} / {ea['fired']:.0f}, {ev['synops']:.0f} / {ea['synaptic_events']:.0f}, "
                     f"{ev['hops']:.0f} / {ea['hops']:.0f} |")
    lines += ["", "![spikeforge against SANA-FE](sanafe_check.png)", ""]
    return "\n".join(lines)


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in doc["rows"] if "sanafe" in r]
    if not rows:
        return
    labels = [f"{r['case']}\n{r['hardware']}" for r in rows]
    x = np.arange(len(rows))
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(max(8, 0.9 * len(rows)), 8))
    for off, side, key, hatch in ((-0.2, "spikeforge", "spikeforge", ""), (0.2, "SANA-FE", "sanafe", "//")):
        bottom = np.zeros(len(rows))
        for source, colour in (("synapse", "C0"), ("soma", "C1"), ("network", "C2"), ("input_macs", "C3")):
            vals = []
            for r in rows:
                e = r[key]["energy_j"]
                v = e.get(source, 0.0) if key == "spikeforge" or source != "soma" else e["soma"] - e["fill_soma"]
                vals.append(v * 1e6)
            a1.bar(x + off, vals, 0.38, bottom=bottom, color=colour, hatch=hatch,
                   label=f"{source} ({side})" if off < 0 or source != "input_macs" else None)
            bottom += np.array(vals)
    a1.set_yscale("log")
    a1.set_ylabel("dynamic energy per inference (µJ)")
    a1.set_xticks(x, labels, fontsize=7)
    a1.legend(fontsize=6, ncol=4)
    a2.bar(x - 0.27, [r["period_ns"] * 1e-3 for r in rows], 0.26, label="spikeforge guarantee")
    a2.bar(x, [r["sanafe"]["time_per_timestep_s"] * 1e6 for r in rows], 0.26, label="SANA-FE mean over the run")
    a2.bar(x + 0.27, [steady(r) * 1e6 for r in rows], 0.26, label="SANA-FE mean, all layers busy")
    a2.set_yscale("log")
    a2.set_ylabel("time per timestep (µs)")
    a2.set_xticks(x, labels, fontsize=7)
    a2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_markdown(doc: dict[str, Any]) -> None:
    (RESULTS / f"{NAME}.md").write_text(markdown(doc) + "\n")
    plot(doc, RESULTS / f"{NAME}.png")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    ap.add_argument("--hw", nargs="+", choices=HARDWARE, default=list(HARDWARE))
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--markdown", action="store_true", help="only rewrite the .md and the plot from the .json")
    args = ap.parse_args()
    if args.markdown:
        write_markdown(json.loads((RESULTS / f"{NAME}.json").read_text()))
        return
    import importlib.metadata

    from spikeforge.backends.sanafe import require_sanafe
    from spikeforge.errors import SpikeforgeError

    require_sanafe()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows, descriptions = [], {}
    for name in args.cases:
        try:
            built = CASES[name](args.samples)
        except (SpikeforgeError, FileNotFoundError) as exc:
            rows += [{"case": name, "hardware": h, "timesteps": 0, "samples": 0, "skipped": f"build: {exc}"}
                     for h in args.hw]
            continue
        descriptions[name] = built[4]
        for hw_name in args.hw:
            row = run_case(name, built, hw_name)
            rows.append(row)
            print(f"{name} on {hw_name}: " + (row.get("skipped") or
                  f"identical={row['spikes_identical']} E sf/sa={row['spikeforge']['energy_j']['dynamic']:.3g}/"
                  f"{row['sanafe']['energy_j']['dynamic']:.3g} J, t={row['period_ns']:.4g} ns / "
                  f"{row['sanafe']['time_per_timestep_s'] * 1e9:.4g} ns (busy {steady(row) * 1e9:.4g}; {row['seconds']:.0f} s)"), flush=True)
    doc = {"rows": rows, "cases": descriptions, "seconds": time.perf_counter() - t0,
           "sanafe_version": importlib.metadata.version("sanafe")}
    write_results(NAME, doc)
    write_markdown(doc)


if __name__ == "__main__":
    main()
