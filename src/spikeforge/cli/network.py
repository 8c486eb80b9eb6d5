"""Commands on one network: ``demo``, ``inspect``, ``convert``, ``simulate``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

from spikeforge.cli.common import Command, add_model_arguments, console, count


def run_demo(args: argparse.Namespace, out: Console | None = None) -> None:
    from spikeforge.demo import run_demo as demo

    out = out or console()
    demo(args.out, epochs=args.epochs, console=out)


def run_inspect(args: argparse.Namespace, out: Console | None = None) -> None:
    from spikeforge.loaders import load_network
    from spikeforge.report.tables import network_table

    out = out or console()
    out.print(network_table(load_network(args.network, arch=args.arch, options=dict(args.option),
                                               quantized="network")))


def run_convert(args: argparse.Namespace, out: Console | None = None) -> None:
    from rich.markup import escape

    from spikeforge.convert.normalise import convert
    from spikeforge.datasets import load_data
    from spikeforge.ir.serialize import save_network
    from spikeforge.loaders import load_network
    from spikeforge.outputs import check_output_folder
    from spikeforge.report.tables import network_table

    out = out or console()
    check_output_folder(args.output, inputs=(args.model, args.calib))
    ann = load_network(args.model, arch=args.arch, options=dict(args.option), quantized="network")
    calib = load_data(args.calib)
    # Checked here too: a QCFS network converts with its trained clips and would never look at the data.
    calib_x = ann.check_input(calib.x[: args.calib_samples], f"--calib {args.calib}")
    snn = convert(ann, calib_x, statistic=args.statistic, per_channel=not args.per_layer,
                  balance=args.balance, neuron=args.neuron, beta=args.beta, v_init=args.v_init,
                  timesteps=args.timesteps)
    if args.bias_calibration:
        from spikeforge.convert.calibrate import calibrate_biases

        snn = calibrate_biases(snn, ann, calib_x, args.bias_calibration)
    meta = {"source": str(args.model), "calibration": str(args.calib), "statistic": args.statistic,
            "per_channel": not args.per_layer, "balance": args.balance,
            "timesteps": args.timesteps, "bias_calibration_timesteps": args.bias_calibration}
    path = save_network(snn, args.output, meta)
    out.print(network_table(snn))
    out.print(f"wrote {escape(str(path))}")


def run_simulate(args: argparse.Namespace, out: Console | None = None) -> None:
    import dataclasses
    from pathlib import Path

    import numpy as np

    from spikeforge.datasets import load_data
    from spikeforge.errors import OutputPathError
    from spikeforge.loaders import load_network
    from spikeforge.outputs import check_output_file, write_json_atomic
    from spikeforge.report.progress import sample_progress
    from spikeforge.report.tables import accuracy_table, profile_table
    from spikeforge.sim.simulator import check_labels, simulate, top1_accuracy

    out = out or console()
    inputs = (args.network, args.data)
    for path in (args.json, args.neurobench):
        if path is not None:
            check_output_file(path, inputs)
    if args.json is not None and args.neurobench is not None and \
            Path(args.json).resolve() == Path(args.neurobench).resolve():
        raise OutputPathError(f"--json {args.json} and --neurobench {args.neurobench}: the same file, one would "
                              "replace the other; give each its own path")
    if args.backend == "sanafe":
        from spikeforge.backends.sanafe import require_sanafe

        require_sanafe()  # before any work
    loaded = load_network(args.network, quantized="quantized")
    quantized = None if hasattr(loaded, "nodes") else loaded
    net = quantized.network if quantized else loaded
    data = load_data(args.data)
    if args.samples:
        data = data.take(args.samples)
    # A quantised network computes on integer inputs and its read-out is in integer units: quantise the
    # data as the hardware would and rescale the outputs before the argmax (per-channel scales differ).
    x = quantized.quantize_input(data.x) if quantized else data.x
    labels = None if data.y is None else check_labels(data.y, len(data), net.shape(net.outputs[0]),
                                                      f"data {data.name}")
    checkpoints = [t for t in (1, 2, 4, 8, 16, 32, 64, 128) if t < args.timesteps] + [args.timesteps]
    with sample_progress(out, f"simulate T={args.timesteps}", len(data)) as on_batch:
        result = simulate(net, x, timesteps=args.timesteps, checkpoints=checkpoints,
                          labels=None if quantized else labels, batch_size=args.batch_size, integer=args.integer,
                          on_batch=on_batch)
    if quantized and labels is not None:
        scale = np.asarray(quantized.output_scales.get(net.outputs[0], 1.0))
        result = dataclasses.replace(result, accuracy={t: top1_accuracy(out * scale, labels)
                                                       for t, out in result.outputs.items()})
    out.print(profile_table(result.profile))
    if result.accuracy:
        out.print(accuracy_table(f"accuracy on {data.name} ({len(data)} samples)", checkpoints,
                                       {"SNN": result.accuracy}))
    sanafe = _run_sanafe(args, net, x, result.profile, out) if args.backend == "sanafe" else None
    if args.neurobench is not None:
        from spikeforge.neurobench import neurobench_metrics, write_neurobench

        metrics = neurobench_metrics(net, x, labels, timesteps=args.timesteps, batch_size=args.batch_size,
                                     integer=args.integer or quantized is not None,
                                     output_scale=None if quantized is None else
                                     quantized.output_scales.get(net.outputs[0], 1.0))
        write_neurobench(args.neurobench, metrics, inputs)
        out.print(f"NeuroBench metrics written to {args.neurobench}")
    if args.json is not None:
        report = {"timesteps": args.timesteps, "samples": len(data),
                  "accuracy": {str(k): v for k, v in (result.accuracy or {}).items()},
                  "spikes_per_sample": result.profile.spikes_per_sample,
                  "synops_per_sample": result.profile.synops_per_sample,
                  "layers": [{"name": l.name, "spikes": l.spikes, "synops": l.synops} for l in result.profile.layers]}
        if sanafe is not None:
            report["sanafe"] = sanafe
        write_json_atomic(args.json, report, inputs)


def _run_sanafe(args: argparse.Namespace, net, x, profile, out) -> dict:
    """``simulate --backend sanafe``: place the network on ``--hw`` and run it on SANA-FE too."""
    from rich.table import Table

    from spikeforge.backends.sanafe import run_sanafe
    from spikeforge.dataflow.build import placement_guarantee
    from spikeforge.errors import SpikeforgeError
    from spikeforge.hardware import load_hardware
    from spikeforge.mapping.partition import DEFAULT_PARTITIONER, partition
    from spikeforge.mapping.place import DEFAULT_PLACER
    from spikeforge.pipeline import chips_needed, place_pass

    hw = load_hardware(args.hw)
    try:  # whole neurons where the crossbars allow (SANA-FE has no partial sums)
        part = partition(net, profile, hw, strategy=DEFAULT_PARTITIONER, fan_in=None)
    except SpikeforgeError:
        part = partition(net, profile, hw, strategy=DEFAULT_PARTITIONER)
    placement = place_pass(part, hw, DEFAULT_PLACER, chips_needed(part.n_clusters, hw), None)
    run = run_sanafe(net, placement, x, timesteps=args.timesteps)
    g = placement_guarantee(placement, profile, hw, timesteps=args.timesteps)
    table = Table(title=f"SANA-FE on {hw.name}: spikes per layer (all samples and timesteps)")
    for column in ("layer", "spikeforge", "SANA-FE"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    for name, counts in run.spikes.items():
        table.add_row(name, f"{int(run.reference[name].sum()):,}", f"{int(counts.sum()):,}")
    out.print(table)
    energy = ", ".join(f"{k} {v * 1e9:.4g} nJ" for k, v in run.energy_j.items())
    out.print(f"spikes identical per layer and timestep: {'yes' if run.spikes_identical else 'NO'}; "
              f"SANA-FE energy per inference: {energy} (pipeline fill {run.fill_soma_j * 1e9:.4g} nJ); "
              f"time per timestep: SANA-FE {run.time_per_timestep_s * 1e6:.4g} µs, "
              f"spikeforge's guarantee {g.period_ns * 1e-3:.4g} µs")
    return {**run.as_dict(), "guaranteed_period_ns": g.period_ns}


def _demo(p: argparse.ArgumentParser) -> None:
    from spikeforge.demo import EPOCHS, MAX_EPOCHS

    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--epochs", type=count(high=MAX_EPOCHS), default=EPOCHS,
                   help=f"ANN training epochs (default {EPOCHS})")
    p.set_defaults(run=run_demo)


def _inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("network", help="saved network folder, or model file")
    add_model_arguments(p)
    p.set_defaults(run=run_inspect)


def _convert(p: argparse.ArgumentParser) -> None:
    from spikeforge.sim.simulator import MAX_TIMESTEPS

    p.add_argument("model", help="model file (torch.save of a state dict + architecture) or saved ANN folder")
    p.add_argument("--calib", required=True, help="calibration data: .npz with x (and y), or 'digits'")
    p.add_argument("-o", "--output", required=True, help="output folder for the SNN")
    add_model_arguments(p)
    p.add_argument("--statistic", default="p99.99", help="'max' or a percentile like p99.9 (default p99.99)")
    p.add_argument("--per-layer", action="store_true", help="one scale per layer instead of per channel")
    p.add_argument("--balance", choices=("weights", "thresholds"), default="weights")
    p.add_argument("--neuron", choices=("IF", "LIF"), default="IF")
    p.add_argument("--beta", type=float, default=1.0, help="LIF leak factor per timestep")
    p.add_argument("--v-init", type=float, default=0.5, help="initial membrane potential / threshold")
    p.add_argument("--calib-samples", type=count(), default=1000, help="calibration samples used (default 1000)")
    p.add_argument("-T", "--timesteps", type=count(high=MAX_TIMESTEPS), metavar="T",
                   help="the timesteps the SNN will run for: calibrate initial potentials, scales and "
                        "biases for that T (kept only if it agrees better with the ANN on held-out "
                        "calibration images); recommended for T <= 32")
    p.add_argument("--bias-calibration", type=count(), metavar="T",
                   help="after conversion, shift biases so mean firing rates at T timesteps match the ANN")
    p.set_defaults(run=run_convert)


def _simulate(p: argparse.ArgumentParser) -> None:
    from spikeforge.sim.simulator import MAX_TIMESTEPS

    p.add_argument("network", help="saved SNN folder")
    p.add_argument("--data", required=True, help=".npz with x (and y), or 'digits:test'")
    p.add_argument("--timesteps", "-T", type=count(high=MAX_TIMESTEPS), default=8)
    p.add_argument("--samples", type=count(), help="use only the first N samples")
    p.add_argument("--batch-size", type=count(), default=128)
    p.add_argument("--integer", action="store_true", help="bit-exact integer arithmetic (quantised networks)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--backend", choices=("spikeforge", "sanafe"), default="spikeforge",
                   help="sanafe: also place the (quantised) network on --hw and run it on SANA-FE, the "
                        "silicon-calibrated simulator (pip install 'spikeforge[sanafe]'): spikes per layer, "
                        "energy by source, time per timestep")
    p.add_argument("--hw", default="loihi", help="hardware preset for --backend sanafe (default loihi)")
    p.add_argument("--neurobench", metavar="OUT.json",
                   help="also write NeuroBench's metrics (footprint, sparsities, synaptic operations, membrane "
                        "updates, accuracy) in its result layout to this JSON file")
    p.set_defaults(run=run_simulate)


COMMANDS = (
    Command("demo", "train, convert and simulate the digits CNN end to end", _demo),
    Command("inspect", "layers, shapes, neurons, synapses and parameters of a network", _inspect),
    Command("convert", "convert an ANN (model file) to an SNN", _convert),
    Command("simulate", "simulate an SNN on data; accuracy, spikes and synaptic operations", _simulate),
)
