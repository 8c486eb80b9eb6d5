"""Command-line interface: ``spikeforge COMMAND ...``.

Errors a user can cause (:class:`~spikeforge.errors.SpikeforgeError`) print one line on
stderr and exit with status 2; nothing partial is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import NoReturn
from pathlib import Path

import numpy as np
from rich.markup import escape

from spikeforge.errors import InvalidDataError, ModelFileError, SpikeforgeError
from spikeforge.report.console import console
from spikeforge.resources import check_count


def _options(pairs: Sequence[str]) -> dict:
    """``key=value`` pairs → dict, values parsed as JSON where possible (numbers, lists, booleans)."""
    result = {}
    for pair in pairs:
        if "=" not in pair:
            raise InvalidDataError(f"--option {pair!r}: expected key=value")
        key, value = pair.split("=", 1)
        try:
            result[key] = json.loads(value)
        except json.JSONDecodeError:
            result[key] = value
    return result


def _load_any(path: str, arch: str | None = None, options: Sequence[str] = ()):
    """A saved network folder, or a model file (imported as an ANN)."""
    from spikeforge.frontends.model_file import load_model
    from spikeforge.frontends.torch_fx import import_torch
    from spikeforge.ir.serialize import load_network

    p = Path(path)
    if p.is_dir():
        return load_network(p)
    if not p.exists():
        raise ModelFileError(f"{p}: no such network folder or model file")
    model, shape = load_model(p, arch, _options(options))
    return import_torch(model, shape, name=p.stem)


def _load_quantized(path: str):
    """The :class:`~spikeforge.quantize.QuantizedNetwork` saved in folder ``path``, or None if it
    holds no quantised network."""
    from spikeforge.ir.serialize import load_metadata
    from spikeforge.quantize import load_quantized

    p = Path(path)
    if not (p / "network.json").is_file() or not load_metadata(p).get("quantized"):
        return None
    return load_quantized(p)


def cmd_demo(args: argparse.Namespace) -> None:
    from spikeforge.demo import MAX_EPOCHS, run_demo

    check_count(args.epochs, "--epochs", high=MAX_EPOCHS)
    run_demo(args.out, epochs=args.epochs, console=console)


def cmd_inspect(args: argparse.Namespace) -> None:
    from spikeforge.report.tables import network_table

    console.print(network_table(_load_any(args.network, args.arch, args.option)))


def cmd_convert(args: argparse.Namespace) -> None:
    from spikeforge.convert.normalise import convert
    from spikeforge.datasets import load_data
    from spikeforge.ir.serialize import save_network
    from spikeforge.outputs import check_output_folder
    from spikeforge.report.tables import network_table

    if args.calib_samples is not None and args.calib_samples < 1:
        raise InvalidDataError(f"--calib-samples {args.calib_samples}: must be ≥ 1")
    if args.bias_calibration is not None and args.bias_calibration < 1:
        raise InvalidDataError(f"--bias-calibration {args.bias_calibration}: timesteps must be ≥ 1")
    check_output_folder(args.output, inputs=(args.model, args.calib))
    ann = _load_any(args.model, args.arch, args.option)
    calib = load_data(args.calib)
    # Checked here too: a QCFS network converts with its trained clips and would never look at the data.
    calib_x = ann.check_input(calib.x[: args.calib_samples], f"--calib {args.calib}")
    snn = convert(ann, calib_x, statistic=args.statistic, per_channel=not args.per_layer,
                  balance=args.balance, neuron=args.neuron, beta=args.beta, v_init=args.v_init)
    if args.bias_calibration:
        from spikeforge.convert.calibrate import calibrate_biases

        snn = calibrate_biases(snn, ann, calib_x, args.bias_calibration)
    meta = {"source": str(args.model), "calibration": str(args.calib), "statistic": args.statistic,
            "per_channel": not args.per_layer, "balance": args.balance,
            "bias_calibration_timesteps": args.bias_calibration}
    out = save_network(snn, args.output, meta)
    console.print(network_table(snn))
    console.print(f"wrote {escape(str(out))}")


def cmd_simulate(args: argparse.Namespace) -> None:
    from spikeforge.datasets import load_data
    from spikeforge.outputs import check_output_file, write_json_atomic
    from spikeforge.report.progress import sample_progress
    from spikeforge.report.tables import accuracy_table, profile_table
    from spikeforge.sim.simulator import check_labels, simulate, top1_accuracy

    for flag, value in (("--samples", args.samples), ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise InvalidDataError(f"{flag} {value}: must be ≥ 1")
    inputs = (args.network, args.data)
    if args.json is not None:
        check_output_file(args.json, inputs)
    quantized = _load_quantized(args.network)
    net = quantized.network if quantized else _load_any(args.network)
    data = load_data(args.data)
    if args.samples:
        data = data.take(args.samples)
    # A quantised network computes on integer inputs and its read-out is in integer units: quantise the
    # data as the hardware would and rescale the outputs before the argmax (per-channel scales differ).
    x = quantized.quantize_input(data.x) if quantized else data.x
    labels = None if data.y is None else check_labels(data.y, len(data), net.shape(net.outputs[0]),
                                                      f"data {data.name}")
    checkpoints = [t for t in (1, 2, 4, 8, 16, 32, 64, 128) if t < args.timesteps] + [args.timesteps]
    with sample_progress(console, f"simulate T={args.timesteps}", len(data)) as on_batch:
        result = simulate(net, x, timesteps=args.timesteps, checkpoints=checkpoints,
                          labels=None if quantized else labels, batch_size=args.batch_size, integer=args.integer,
                          on_batch=on_batch)
    if quantized and labels is not None:
        scale = np.asarray(quantized.output_scales.get(net.outputs[0], 1.0))
        result = dataclasses.replace(result, accuracy={t: top1_accuracy(out * scale, labels)
                                                       for t, out in result.outputs.items()})
    console.print(profile_table(result.profile))
    if result.accuracy:
        console.print(accuracy_table(f"accuracy on {data.name} ({len(data)} samples)", checkpoints,
                                     {"SNN": result.accuracy}))
    if args.json is not None:
        report = {"timesteps": args.timesteps, "samples": len(data),
                  "accuracy": {str(k): v for k, v in (result.accuracy or {}).items()},
                  "spikes_per_sample": result.profile.spikes_per_sample,
                  "synops_per_sample": result.profile.synops_per_sample,
                  "layers": [{"name": l.name, "spikes": l.spikes, "synops": l.synops} for l in result.profile.layers]}
        write_json_atomic(args.json, report, inputs)


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors on one line like every other error (sub-commands too)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spikeforge", description="Deep networks to SNNs on neuromorphic hardware.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="train, convert and simulate the digits CNN end to end")
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--epochs", type=int, default=60, help="ANN training epochs")
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("inspect", help="layers, shapes, neurons, synapses and parameters of a network")
    p.add_argument("network", help="saved network folder, or model file")
    p.add_argument("--arch", help="architecture of a bare state dict")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="architecture option")
    p.set_defaults(run=cmd_inspect)

    p = sub.add_parser("convert", help="convert an ANN (model file) to an SNN")
    p.add_argument("model", help="model file (torch.save of a state dict + architecture) or saved ANN folder")
    p.add_argument("--calib", required=True, help="calibration data: .npz with x (and y), or 'digits'")
    p.add_argument("-o", "--output", required=True, help="output folder for the SNN")
    p.add_argument("--arch", help="architecture of a bare state dict")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="architecture option")
    p.add_argument("--statistic", default="p99.99", help="'max' or a percentile like p99.9 (default p99.99)")
    p.add_argument("--per-layer", action="store_true", help="one scale per layer instead of per channel")
    p.add_argument("--balance", choices=("weights", "thresholds"), default="weights")
    p.add_argument("--neuron", choices=("IF", "LIF"), default="IF")
    p.add_argument("--beta", type=float, default=1.0, help="LIF leak factor per timestep")
    p.add_argument("--v-init", type=float, default=0.5, help="initial membrane potential / threshold")
    p.add_argument("--calib-samples", type=int, default=1000, help="calibration samples used (default 1000)")
    p.add_argument("--bias-calibration", type=int, metavar="T",
                   help="after conversion, shift biases so mean firing rates at T timesteps match the ANN")
    p.set_defaults(run=cmd_convert)

    p = sub.add_parser("simulate", help="simulate an SNN on data; accuracy, spikes and synaptic operations")
    p.add_argument("network", help="saved SNN folder")
    p.add_argument("--data", required=True, help=".npz with x (and y), or 'digits:test'")
    p.add_argument("--timesteps", "-T", type=int, default=8)
    p.add_argument("--samples", type=int, help="use only the first N samples")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--integer", action="store_true", help="bit-exact integer arithmetic (quantised networks)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.set_defaults(run=cmd_simulate)

    from spikeforge.compile_commands import add_commands as add_compile_commands
    from spikeforge.dataflow.commands import add_commands as add_dataflow_commands
    from spikeforge.explore.commands import add_commands as add_explore_commands
    from spikeforge.mapping.commands import add_commands as add_mapping_commands
    from spikeforge.quantize_commands import add_commands as add_quantize_commands

    add_mapping_commands(sub)
    add_dataflow_commands(sub)
    add_compile_commands(sub)
    add_quantize_commands(sub)
    add_explore_commands(sub)
    return parser


def _fail(command: str, message: str) -> int:
    """Print ``message`` as the one line of a failed command; the exit status."""
    print(f"spikeforge {command}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except SpikeforgeError as exc:
        return _fail(args.command, str(exc))
    # Last resort for system failures no check foresaw: still one line, naming the path or the size.
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(args.command, f"{where}{exc.strerror or exc}")
    except MemoryError:
        return _fail(args.command, "out of memory; try fewer samples, a smaller batch or fewer timesteps")
    except KeyboardInterrupt:
        print("spikeforge: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
