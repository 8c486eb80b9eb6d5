"""Spiking U-Net on ISBI 2012 EM slices (issue 6, after Patel et al.): accuracy, mapping, energy.

1. Train a small U-Net (QCFS activations, percentile firing-rate regulariser) on random 128×128
   crops of slices 0–23, one torch thread, with a wall-time budget (the CPU is shared); the
   checkpoint is cached in ~/.cache/spikeforge/checkpoints.
2. Evaluate the validation slices (24–29) as four 256×256 quadrants each, stitched back to
   512×512 (fully convolutional; a 512² SNN at T = 32 needs > 16 GB): the ANN, the rate-based
   SNN (see RATE_NOTE), the spiking SNN at T = 4, 8, 16, 32 with float weights and with 8-bit
   weights (quantize + bit-exact simulate_integer).
3. Map the SNN at 64×64 (64 tiles = one slice) on `loihi`; it needs several chips at this size
   already. Every placer on the same board (default partitioner): inter-chip spikes per tile,
   guaranteed throughput and latency (pipeline passes: partition → place → dataflow → analyse).
4. Energy per 512×512 slice, online batch 1: Loihi (energy model, default placement mapped from a
   profile at each T of ENERGY_T) vs CPU (measured CPU time × stated power) vs GPU (stated
   device, throughput estimated from FLOPs). The claim is judged at the operating point: the
   smallest T at which the 8-bit spiking SNN meets the accuracy target.

Usage: python -m bench.unet_em [--train-only] [--quick]
       python -m bench.unet_em --markdown   (rewrite the .md from the .json)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import numpy as np
import torch

from bench.common import CACHE, RESULTS, require_data, write_results
from spikeforge.apps.em import (
    CITATION,
    RECIPE,
    from_tiles,
    load_isbi,
    predict_torch,
    save_comparison,
    segment,
    segmentation_metrics,
    to_tiles,
    train_or_load,
)

QUICK = {**RECIPE, "model": {"base": 4, "depth": 2, "qcfs_levels": 4},
         "train": {**RECIPE["train"], "iterations": 5}}
TIMESTEPS = (4, 8, 16, 32)
EVAL_TILE = 256        # evaluation: 4 quadrants per 512×512 slice, stitched
MAP_SIZE = 64          # mapping resolution: 64 tiles of 64×64 make one 512×512 slice
MAP_T = 8              # timesteps of the mapped SNN in the every-placer table
ENERGY_T = (4, 8)      # timesteps the default mapping's energy is reported at
# Stated assumptions of the CPU / GPU energy figures (no RAPL counters are readable here).
CPU_WATTS = 10.0
CPU_NOTE = ("ASSUMPTION: 10 W for the one busy core (a server Xeon's TDP per core, ~5-8 W, plus its share of "
            "uncore and DRAM); energy = measured CPU time per slice (1 torch thread, batch 1, PyTorch) × 10 W")
GPU = {"device": "NVIDIA RTX 3090", "peak_flops": 35.6e12, "watts": 350.0, "utilisation": 0.10,
       "kernel_floor_s": 5e-6}
GPU_NOTE = ("ASSUMPTION: NVIDIA RTX 3090 (published: 35.6 TFLOPS FP32 peak, 350 W board power); batch-1 "
            "U-Net inference at 10% of peak (small kernels), at least 5 µs per kernel launch; energy = "
            "time × 350 W; FLOPs = 2 × multiply-accumulates of the ANN per 512×512 slice")
RATE_NOTE = ("rate-based SNN = the QCFS-trained ANN itself: with QCFS (L = 4) every activation is one of the "
             "rate levels k/4·λ an IF neuron with v0 = θ/2 emits, so it is the SNN's rate model (the "
             "spiking SNN's firing rates converge to it as T grows)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-only", action="store_true")
    ap.add_argument("--quick", action="store_true", help="tiny U-Net, 5 iterations, one slice (smoke test)")
    ap.add_argument("--markdown", action="store_true", help="only rewrite the .md from the .json")
    ap.add_argument("--mapping-only", action="store_true",
                    help="redo the mapping and energy figures of the last run (cached model)")
    args = ap.parse_args()
    torch.set_num_threads(1)   # the CPU is shared with other engineers
    name = "unet_em" + ("_quick" if args.quick else "")
    if args.markdown:
        write_markdown(name)
        return
    if args.mapping_only:
        refresh_mapping(name)
        return
    root = require_data("isbi2012")
    train = load_isbi(root, "train")
    config = QUICK if args.quick else RECIPE
    model, meta = train_or_load(train, config, CACHE)
    print(f"trained: {meta['iterations_done']} iterations in {meta['train_seconds']:.0f} s")
    if args.train_only:
        return
    val = load_isbi(root, "val")
    if args.quick:
        val = dataclasses.replace(val, images=val.images[:1], masks=val.masks[:1], slices=val.slices[:1])
    figures = evaluate(model, meta, train, val, config, name)
    write_results(name, figures)
    write_markdown(name)


def _size(net) -> dict:
    rows = net.summary()
    return {"neurons": sum(r.neurons for r in rows), "synapses": sum(r.synapses for r in rows),
            "parameters": sum(r.parameters for r in rows)}


def evaluate(model: torch.nn.Module, meta: dict, train, val, config: dict, name: str) -> dict:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from spikeforge.convert.normalise import convert
    from spikeforge.frontends.torch_fx import import_torch
    from spikeforge.quantize import quantize
    from spikeforge.quantize.integer_sim import simulate_integer
    from spikeforge.sim.simulator import run_ann, simulate

    load_start = os.getloadavg()
    t_start = time.perf_counter()
    x, truth = val.images, val.masks
    size = {"parameters": sum(p.numel() for p in model.parameters()),
            **{k: v for k, v in _size(convert(import_torch(model, x.shape[1:]))).items() if k != "parameters"}}
    # slices are evaluated as EVAL_TILE² quadrants, stitched back (a 512² SNN at T=32 needs > 10 GB)
    xt = to_tiles(x, EVAL_TILE)
    ann = import_torch(model, xt.shape[1:], name="unet-em")
    snn = convert(ann)                                   # QCFS clips are the scales
    rows: list[dict] = []
    steps = ["ANN", "SNN float", *(f"SNN 8-bit T={t}" for t in TIMESTEPS), "mapping", "energy"]
    with Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn()) as bar:
        task = bar.add_task("evaluate", total=len(steps))

        def done(name: str) -> None:
            bar.update(task, advance=1, description=name)
            if not bar.console.is_terminal:   # a log file gets a line per step
                print(f"{name} done at {time.perf_counter() - t_start:.0f} s", flush=True)

        ann_mask = from_tiles(segment(run_ann(ann, xt, batch_size=1)), x.shape[-1])
        cpu0 = time.process_time()
        _, wall_s = predict_torch(model, x)         # online, batch 1, one thread
        cpu_s = (time.process_time() - cpu0) / len(x)   # CPU time: the shared machine inflates wall time
        ann_m = segmentation_metrics(ann_mask, truth)
        rows.append({"model": "ANN (QCFS L=4)", "weights": "float", "T": None, **ann_m})
        rows.append({"model": "rate-based SNN", "weights": "float", "T": None, **ann_m, "note": RATE_NOTE})
        done("ANN")
        sim = simulate(snn, xt, timesteps=max(TIMESTEPS), checkpoints=TIMESTEPS, batch_size=1)
        masks = {}
        for t in TIMESTEPS:
            masks[("float", t)] = from_tiles(segment(sim.outputs[t]), x.shape[-1])
            rows.append({"model": "spiking SNN", "weights": "float", "T": t,
                         **segmentation_metrics(masks[("float", t)], truth)})
        prof = sim.profile
        per_slice = len(xt) // len(x)
        activity = {"spikes_per_slice_T32": per_slice * prof.spikes_per_sample,
                    "synops_per_slice_T32": per_slice * prof.synops_per_sample,
                    "input_macs_per_slice_T32": per_slice * prof.input_macs_per_sample}
        done("SNN float")
        q = quantize(snn, weight_bits=8, threshold_bits=16, membrane_bits=24, input_bits=8, input_range=1.0)
        overflows = {}
        for t in TIMESTEPS:
            r = simulate_integer(q, xt, t, batch_size=1)
            masks[("8-bit", t)] = from_tiles(segment(q.dequantize(r.outputs[q.network.outputs[0]])), x.shape[-1])
            overflows[t] = r.total_overflows
            rows.append({"model": "spiking SNN", "weights": "8-bit", "T": t, "overflows": r.total_overflows,
                         **segmentation_metrics(masks[("8-bit", t)], truth)})
            done(f"SNN 8-bit T={t}")
        for row in rows:
            row["d_pixel_accuracy"] = 100 * (row["pixel_accuracy"] - ann_m["pixel_accuracy"])
            row["d_foreground_iou"] = 100 * (row["foreground_iou"] - ann_m["foreground_iou"])
            row["target_met"] = (row["d_pixel_accuracy"] >= -1.0 and row["d_foreground_iou"] >= -1.0)

        mapping_info = mapping_figures(model, x)
        done("mapping")
        kernels = sum(1 for n in ann.nodes if ann.synapse_count(n) > 0)
        energy = energy_figures(energy_mappings(model, x, mapping_info), operating_t(rows), size, kernels, cpu_s,
                                wall_s)
        done("energy")

    best_t = next((t for t in TIMESTEPS if next(r for r in rows if r["T"] == t and r["weights"] == "8-bit")
                   ["target_met"]), max(TIMESTEPS))
    png = save_comparison(RESULTS / f"{name}.png", x[0, 0], truth[0],
                          {"ANN": ann_mask[0], f"SNN float T={best_t}": masks[("float", best_t)][0],
                           f"SNN 8-bit T={best_t}": masks[("8-bit", best_t)][0]},
                          title=f"ISBI 2012 slice {val.slices[0]} (validation)")
    return {"config": config, "training": {k: v for k, v in meta.items() if k != "config"},
            "size_512": size, "data": {"train_slices": list(train.slices), "val_slices": list(val.slices),
                                       "citation": CITATION},
            "rows": rows, "activity": activity, "overflows": overflows, "mapping": mapping_info,
            "energy": energy, "png": str(png.relative_to(RESULTS.parent.parent)),
            "load_average_start": load_start, "load_average_end": os.getloadavg(),
            "eval_seconds": time.perf_counter() - t_start}


def _f(v, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def mapping_figures(model: torch.nn.Module, x: np.ndarray, timesteps: int = MAP_T,
                    placers: tuple[str, ...] | None = None) -> dict:
    """The SNN at MAP_SIZE² tiles of one slice, profiled at ``timesteps``, on 'loihi' with every
    placer (or ``placers``): inter-chip traffic, the dataflow guarantees and the energy model per tile."""
    from spikeforge.convert.normalise import convert
    from spikeforge.errors import DeadlockError
    from spikeforge.frontends.torch_fx import import_torch
    from spikeforge.hardware import load_hardware
    from spikeforge.mapping.partition import DEFAULT_PARTITIONER
    from spikeforge.mapping.place import DEFAULT_PLACER, PLACERS
    from spikeforge.mapping.report import traffic_summary
    from spikeforge.pipeline import analyse_pass, dataflow_pass, partition_pass, place_pass
    from spikeforge.sim.simulator import simulate

    hw = load_hardware("loihi")
    ann_t = import_torch(model, (1, MAP_SIZE, MAP_SIZE), name=f"unet-em-{MAP_SIZE}")
    snn_t = convert(ann_t)
    tiles = to_tiles(x[:1], MAP_SIZE)
    prof_t = simulate(snn_t, tiles, timesteps=timesteps, batch_size=8).profile
    part = partition_pass(snn_t, prof_t, hw, DEFAULT_PARTITIONER)
    chips = max(2, -(-part.n_clusters // hw.crossbars_per_chip))
    mapping = []
    for placer in placers or PLACERS:
        t0 = time.perf_counter()
        pl = place_pass(part, hw, placer, chips, None)
        rep = traffic_summary(pl, prof_t)
        row = {"placer": placer, "chips": chips, "chips_used": rep.chips_used, "cores": rep.cores_used,
               "energy_per_tile_model_j": rep.energy.total_j, "time_per_tile_model_s": rep.time_s,
               "interchip_spikes": rep.spikes_between_chips,
               "interchip_partial_sums": rep.partial_sums_between_chips,
               "interchip_traffic": rep.spikes_between_chips + rep.partial_sums_between_chips,
               "place_s": time.perf_counter() - t0}
        try:
            _, schedule, graph, platform = dataflow_pass(pl, prof_t, hw, "local-search", None)
            g, fig = analyse_pass(graph, pl, prof_t, schedule, platform, timesteps)
            row.update(inferences_per_s=g.inferences_per_s, latency_ns=g.latency_ns,
                       latency_simulated=g.latency_simulated, period_ns=g.period_ns,
                       bottleneck=g.bottleneck, energy_per_tile_j=fig["energy_per_inference_j"],
                       energy_breakdown=fig["energy"], energy_assumptions=fig["energy_assumptions"])
        except DeadlockError as exc:
            row.update(dataflow_error=f"DeadlockError: {exc}")
        row["total_s"] = time.perf_counter() - t0
        mapping.append(row)
    info = {"resolution": MAP_SIZE, "timesteps": timesteps, "tiles_per_slice": len(tiles),
            "partitioner": DEFAULT_PARTITIONER, "default_placer": DEFAULT_PLACER,
            "clusters": part.n_clusters, "chips": chips, "hardware": hw.name,
            "size": _size(snn_t), "placers": mapping}
    fill = next((r for r in mapping if r["placer"] == "fill"), None)
    default = next(r for r in mapping if r["placer"] == DEFAULT_PLACER)
    if fill is not None:
        info["reduction_vs_fill"] = fill["interchip_traffic"] / max(default["interchip_traffic"], 1e-9)
        info["reduction_vs_fill_spikes"] = fill["interchip_spikes"] / max(default["interchip_spikes"], 1e-9)
        info["target_met"] = info["reduction_vs_fill"] >= 2.0
    return info


def energy_mappings(model: torch.nn.Module, x: np.ndarray, mapping_info: dict) -> dict[int, dict]:
    """The default mapping per T of ENERGY_T (the every-placer table's own at MAP_T)."""
    from spikeforge.mapping.place import DEFAULT_PLACER

    return {t: mapping_info if t == mapping_info["timesteps"] else mapping_figures(model, x, t, (DEFAULT_PLACER,))
            for t in ENERGY_T}


def operating_t(rows: list[dict]) -> int:
    """The smallest T of ENERGY_T at which the 8-bit spiking SNN meets the accuracy target (else the largest)."""
    met = [r["T"] for r in rows if r["weights"] == "8-bit" and r["T"] in ENERGY_T and r["target_met"]]
    return min(met) if met else max(ENERGY_T)


def loihi_energy(mapping_info: dict) -> dict:
    """Energy per 512×512 slice on Loihi (model, default placement) from a mapping at one T."""
    default = next(r for r in mapping_info["placers"] if r["placer"] == mapping_info["default_placer"])
    n_tiles, t = mapping_info["tiles_per_slice"], mapping_info["timesteps"]
    # the dataflow guarantee's period when the analysis ran, else the mapping report's time estimate
    source = "dataflow" if "energy_per_tile_j" in default else "mapping report"
    return {"T": t, "j": n_tiles * default.get("energy_per_tile_j", default["energy_per_tile_model_j"]),
            "source": source, "breakdown_per_tile": default.get("energy_breakdown"),
            "note": (f"energy model of the 'loihi' preset (an estimate) for one {MAP_SIZE}×{MAP_SIZE} tile at T={t} "
                     f"(profiled at T={t}) on the default placement, × {n_tiles} tiles per slice (tiles run one "
                     "after another; tile-border effects of the fully convolutional net ignored); static power "
                     "over T × the guaranteed period (dataflow), or over the mapping report's time estimate when "
                     "the dataflow analysis failed")}


def energy_figures(mappings: dict[int, dict], operating: int, size: dict, kernels: int, cpu_s: float,
                   wall_s: float) -> dict:
    """Energy per 512×512 slice, online batch 1: Loihi (model, default placement) at each T of
    ``mappings`` vs CPU and GPU; the > 2× claim is judged at T = ``operating``."""
    flops = 2.0 * size["synapses"]
    gpu_s = max(flops / (GPU["utilisation"] * GPU["peak_flops"]), kernels * GPU["kernel_floor_s"])
    energy = {"loihi": [loihi_energy(mappings[t]) for t in sorted(mappings)], "operating_T": operating,
              "cpu_j": cpu_s * CPU_WATTS,
              "cpu_s_per_slice": cpu_s, "cpu_wall_s_per_slice": wall_s,
              "gpu_j": gpu_s * GPU["watts"], "gpu_s_per_slice": gpu_s, "ann_flops_per_slice": flops,
              "ann_kernels": kernels, "cpu_note": CPU_NOTE, "gpu_note": GPU_NOTE,
              "gpu": GPU, "cpu_watts": CPU_WATTS}
    for row in energy["loihi"]:
        if row["j"]:
            row["cpu_over_loihi"] = energy["cpu_j"] / row["j"]
            row["gpu_over_loihi"] = energy["gpu_j"] / row["j"]
            row["target_met"] = min(row["cpu_over_loihi"], row["gpu_over_loihi"]) > 2.0
    energy["target_met"] = next(r for r in energy["loihi"] if r["T"] == operating).get("target_met")
    return energy


def refresh_mapping(name: str = "unet_em") -> None:
    """Redo the mapping and energy figures of an existing run (cached model, same validation slice),
    keeping its accuracy rows and CPU measurement."""
    doc = json.loads((RESULTS / f"{name}.json").read_text())
    root = require_data("isbi2012")
    model, _ = train_or_load(load_isbi(root, "train"), RECIPE, CACHE)
    val = load_isbi(root, "val")
    doc["mapping"] = mapping_figures(model, val.images)
    old = doc["energy"]
    doc["energy"] = energy_figures(energy_mappings(model, val.images, doc["mapping"]), operating_t(doc["rows"]),
                                   doc["size_512"], old["ann_kernels"], old["cpu_s_per_slice"],
                                   old["cpu_wall_s_per_slice"])
    doc["mapping_refreshed"] = {"date": time.strftime("%Y-%m-%d"), "load_average": list(os.getloadavg())}
    figures = {k: v for k, v in doc.items() if k not in ("benchmark", "machine")}
    write_results(name, figures)
    write_markdown(name)


def write_markdown(name: str = "unet_em") -> None:
    """``bench/results/NAME.md`` from the JSON."""
    d = json.loads((RESULTS / f"{name}.json").read_text())
    c, tr, sz, m, e = d["config"], d["training"], d["size_512"], d["mapping"], d["energy"]
    mach = d["machine"]
    lines = [
        "### Spiking U-Net on ISBI 2012 EM (issue 6, after Patel et al.)", "",
        (f"Machine: {mach['cpu']}, {mach['cpu_count']} cores shared with other jobs, 1 torch thread; load average "
        f"(1/5/15 min) at start of the evaluation {', '.join(f'{v:.2f}' for v in d['load_average_start'])}, at end "
        f"{', '.join(f'{v:.2f}' for v in d['load_average_end'])}. {mach['date'][:10]}. Data: {d['data']['citation']}."), "",
        (f"Model: U-Net base {c['model']['base']}, depth {c['model']['depth']}, QCFS activations (L = "
        f"{c['model']['qcfs_levels']}), {sz['parameters']:,} parameters; at 512×512: {sz['neurons']:,} neurons, "
        f"{sz['synapses']:,} synapses. Trained on random {c['train']['crop']}×{c['train']['crop']} crops of slices "
        f"0–23 (flips, 90° rotations), batch {c['train']['batch_size']}, {tr['iterations_done']:,} iterations in "
        f"{tr['train_seconds'] / 60:.1f} min (wall-time budget {c['train']['max_seconds'] / 60:.0f} min), "
        f"cross entropy + percentile rate regulariser (q = {c['regularizer']['q']}, band "
        f"[{c['regularizer']['lo']}, {c['regularizer']['hi']}] in spikes per step, weight "
        f"{c['regularizer']['weight']}, per channel)."), "",
        ("Validation = slices 24–29, each run as four 256×256 quadrants stitched to 512×512 (fully convolutional; "
         "the ANN likewise). Segmentation metrics: connected "
         "components of cell interior (4-connectivity), membrane = boundary (label 0, ignored in the ground truth); "
         "adapted Rand error and VI (bits) from scikit-image. Target: spiking 8-bit SNN within 1 point of the ANN "
         "on pixel accuracy **and** foreground IoU."), "",
        f"Rate-based row: {d['rows'][1]['note']}.", "",
        "| model | weights | T | pixel acc. (%) | fg IoU (%) | adapted Rand err. | VI | Δ acc. | Δ IoU | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in d["rows"]:
        tgt = "–" if r["T"] is None else ("**yes**" if r["target_met"] else "no")
        lines.append(f"| {r['model']} | {r['weights']} | {_f(r['T'], 'd')} | {100 * r['pixel_accuracy']:.2f} | "
                     f"{100 * r['foreground_iou']:.2f} | {r['adapted_rand_error']:.4f} | "
                     f"{r['variation_of_information']:.3f} | {r['d_pixel_accuracy']:+.2f} | "
                     f"{r['d_foreground_iou']:+.2f} | {tgt} |")
    a = d["activity"]
    lines += ["", (f"Float SNN at T = 32: {a['spikes_per_slice_T32']:,.0f} spikes, {a['synops_per_slice_T32']:,.0f} "
              f"synaptic ops and {a['input_macs_per_slice_T32']:,.0f} input MACs per slice. 8-bit: weights 8 bits, "
              f"thresholds 16, membranes 24 (Loihi's widths), inputs 8 bits; membrane overflows per T: "
              f"{d['overflows']}."), "",
              (f"Mapping on `{m['hardware']}`: the SNN at {m['resolution']}×{m['resolution']} "
              f"({m['size']['neurons']:,} neurons, {m['size']['synapses']:,} synapses; {m['tiles_per_slice']} tiles = "
              f"one slice), profiled at T = {m['timesteps']} on the tiles of slice 24; `{m['partitioner']}` partition "
              f"({m['clusters']:,} clusters), every placer on the same {m['chips']}-chip board. Inter-chip traffic = "
              "spikes + partial sums crossing a chip boundary, per tile inference; throughput and latency are the "
              "dataflow guarantees (placement binding)."), "",
              ("| placer | chips used | inter-chip traffic | inter-chip spikes | guaranteed tiles/s | latency (µs) | "
               "energy / tile (estimate) |"), "|---|---:|---:|---:|---:|---:|---:|"]
    for r in m["placers"]:
        default = " (default)" if r["placer"] == m["default_placer"] else ""
        lat = None if "latency_ns" not in r else r["latency_ns"] / 1e3
        lines.append(f"| {r['placer']}{default} | {r['chips_used']} | {r['interchip_traffic']:,.0f} | "
                     f"{r['interchip_spikes']:,.0f} | {_f(r.get('inferences_per_s'), ',.0f')} | {_f(lat, ',.1f')} | "
                     f"{_f(r.get('energy_per_tile_j') and r['energy_per_tile_j'] * 1e6, ',.1f')} µJ |")
    errors = [f"{r['placer']}: {r['dataflow_error']}" for r in m["placers"] if "dataflow_error" in r]
    lines += ["", (f"Default (`{m['default_placer']}`) vs `fill`: {m['reduction_vs_fill']:.2f}× less inter-chip traffic "
              f"({m['reduction_vs_fill_spikes']:.2f}× counting spikes alone). Target ≥ 2×: "
              f"**{'met' if m['target_met'] else 'missed'}**.") + (" Dataflow errors: " + "; ".join(errors) if errors else "")]
    op = e["operating_T"]
    lines += ["", (f"Energy per 512×512 slice, online (batch 1). Operating point T = {op}: the smallest T at which "
                   "the 8-bit spiking SNN meets the accuracy target above; other T for comparison."), "",
              "| target | energy / slice | CPU ÷ this | GPU ÷ this | how |", "|---|---:|---:|---:|---|"]
    for r in e["loihi"]:
        mark = " **(operating point)**" if r["T"] == op else ""
        lines.append(f"| Loihi (model), T = {r['T']}{mark} | {_f(r['j'] and r['j'] * 1e3, '.1f')} mJ | "
                     f"{_f(r.get('cpu_over_loihi'), '.1f')}× | {_f(r.get('gpu_over_loihi'), '.1f')}× | "
                     f"{r['note']}; used: {r['source']} |")
    lines.append(f"| CPU (this machine) | {e['cpu_j'] * 1e3:.1f} mJ | – | – | "
                 f"measured {e['cpu_s_per_slice'] * 1e3:.0f} ms CPU ({e['cpu_wall_s_per_slice'] * 1e3:.0f} ms wall) "
                 f"per slice; {e['cpu_note']} |")
    lines.append(f"| GPU ({e['gpu']['device']}) | {e['gpu_j'] * 1e3:.1f} mJ | – | – | "
                 f"{e['ann_flops_per_slice'] / 1e9:.2f} GFLOP per slice → {e['gpu_s_per_slice'] * 1e3:.2f} ms; "
                 f"{e['gpu_note']} |")
    met = e.get("target_met")
    verdict = "met" if met else "missed" if met is not None else "not measured"
    others = "; ".join(f"T = {r['T']}: {'met' if r.get('target_met') else 'missed'}" for r in e["loihi"]
                       if r["T"] != op)
    lines += ["", (f"Paper's claim: > 2× more energy-efficient than CPU/GPU online. Here, at T = {op}: **{verdict}** "
                   f"({others}; an estimate on both sides)."), "",
              (f"Side by side: `{d['png']}`. Evaluation {d['eval_seconds'] / 60:.1f} min. "
               f"`python -m bench.unet_em`; machine and versions in {name}.json."), ""]
    (RESULTS / f"{name}.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
