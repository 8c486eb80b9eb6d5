"""Commands ``quantize`` and ``accel``.

``spikeforge quantize NET --weight-bits 8 --threshold-bits 16 [--per-channel] [--calib DATA] -o OUT``
writes the integer network folder atomically, with every scale in its metadata
(:func:`spikeforge.quantize.save_quantized`); with ``--calib`` the input range comes from the
data and an integer run on it reports membrane overflows and the register width needed.

``spikeforge accel NET --hw pynq-z2-accel --data DATA [--timesteps 8]`` runs the network on
the data and prints the accelerator model's figures beside the paper's
(:func:`spikeforge.quantize.accelerator.accelerate`).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from spikeforge.cli.common import Command, console, count

if TYPE_CHECKING:
    from rich.console import Console


def run_quantize(args: argparse.Namespace, out: Console | None = None):
    from rich.markup import escape
    from rich.table import Table

    from spikeforge.datasets import load_data
    from spikeforge.errors import QuantizationError
    from spikeforge.loaders import load_network
    from spikeforge.outputs import check_output_folder
    from spikeforge.quantize import quantize, save_quantized, simulate_integer
    from spikeforge.report.progress import sample_progress

    out = out or console()
    check_output_folder(args.output, inputs=(args.network, args.calib))
    snn = load_network(args.network, quantized="quantized", model_file=False)
    if not hasattr(snn, "nodes"):
        raise QuantizationError(f"{args.network}: already quantised ({snn.weight_bits}-bit weights); "
                                f"quantise the float SNN instead")
    calib = load_data(args.calib).take(args.calib_samples) if args.calib else None
    q = quantize(snn, weight_bits=args.weight_bits, threshold_bits=args.threshold_bits,
                 membrane_bits=args.membrane_bits, per_channel=args.per_channel, input_bits=args.input_bits,
                 calib=None if calib is None else calib.x)
    extra = {"source": str(args.network)}
    if calib is not None:
        with sample_progress(out, f"calibration run T={args.timesteps}", len(calib)) as on_batch:
            r = simulate_integer(q, calib.x, args.timesteps, on_batch=on_batch)
        extra["calibration"] = {"data": str(args.calib), "samples": len(calib), "timesteps": args.timesteps,
                                "overflows": r.total_overflows, "membrane_bits_needed": r.membrane_bits_needed,
                                "accuracy": None if calib.y is None else r.accuracy(calib.y)}
    path = save_quantized(q, args.output, extra)
    table = Table(title=f"{q.network.name}: {q.weight_bits}-bit weights "
                        f"({'per channel' if q.per_channel else 'per tensor'}), {q.threshold_bits}-bit thresholds")
    for col in ("layer", "type", "weight range", "threshold", "accumulator unit Δ"):
        table.add_column(col)
    for node in q.network.nodes:
        w = getattr(node, "weight", None)
        thr = getattr(node, "threshold", None)
        step = q.layer_scales.get(node.name)
        table.add_row(escape(node.name), type(node).__name__,
                      "" if w is None else f"{int(w.min())}..{int(w.max())}",
                      "" if thr is None else (f"{float(thr):.0f}" if thr.ndim == 0 else
                                              f"{float(thr.min()):.0f}..{float(thr.max()):.0f}"),
                      "" if step is None else f"{float(step.min()):.3g}" +
                      ("" if float(step.min()) == float(step.max()) else f"..{float(step.max()):.3g}"))
    out.print(table)
    out.print(f"input: {q.input_bits}-bit {'signed' if q.input_signed else 'unsigned'}, "
              f"scale {q.input_scale:.6g}")
    if "calibration" in extra:
        c = extra["calibration"]
        acc = "" if c["accuracy"] is None else f", accuracy {c['accuracy']:.2%}"
        out.print(f"calibration run ({c['samples']} samples, T={c['timesteps']}): {c['overflows']:,} membrane "
                  f"overflows, registers need {c['membrane_bits_needed']} bits{acc}")
    out.print(f"wrote {escape(str(path))}")
    return q


def run_accel(args: argparse.Namespace, out: Console | None = None):
    from rich.markup import escape
    from rich.table import Table

    from spikeforge.datasets import load_data
    from spikeforge.hardware.accelerator import load_accelerator
    from spikeforge.loaders import load_network
    from spikeforge.outputs import check_output_file, write_json_atomic
    from spikeforge.quantize.accelerator import accelerate
    from spikeforge.report.progress import sample_progress

    out = out or console()
    inputs = (args.network, args.data, args.hw)
    if args.json is not None:
        check_output_file(args.json, inputs)
    hw = load_accelerator(args.hw)
    if args.pes is not None:
        hw = hw.replace(pes=args.pes)
    net = load_network(args.network, quantized="quantized", model_file=False)
    data = load_data(args.data)
    if args.samples:
        data = data.take(args.samples)
    with sample_progress(out, f"run T={args.timesteps} for the trace", len(data)) as on_batch:
        report = accelerate(net, data.x, hw, args.timesteps, on_batch=on_batch)
    ref = hw.reference.source if hw.reference and hw.reference.source else "published"
    table = Table(title=f"{escape(report.network)} on {escape(hw.name)}: {hw.pes} PEs, {hw.clock_mhz:g} MHz, "
                        f"T={report.timesteps}, {report.samples} samples")
    table.add_column("figure")
    table.add_column("model", justify="right")
    table.add_column(escape(ref), justify="right")
    for row in report.rows():
        table.add_row(*(escape(c) for c in row))
    out.print(table)
    layers = Table(title="per layer (per inference)")
    for col in ("layer", "input", "ops", "events", "cycles", "active PEs", "imbalance", "bound"):
        layers.add_column(col, justify="left" if col in ("layer", "input", "bound") else "right")
    for layer in report.layers:
        layers.add_row(escape(layer.name), layer.input_kind, f"{layer.ops:,.0f}", f"{layer.events:,.0f}",
                       f"{layer.cycles:,.0f}", str(layer.active_pes), f"{layer.imbalance:.2f}", layer.bound)
    out.print(layers)
    out.print(escape("assumptions: " + "; ".join(report.assumptions)))
    if args.json is not None:
        figures = {k: v for k, v in report.__dict__.items() if k not in ("layers", "reference", "assumptions")}
        figures["layers"] = [layer.__dict__ for layer in report.layers]
        figures["reference"] = None if report.reference is None else report.reference.model_dump()
        out.print(f"wrote {escape(str(write_json_atomic(args.json, figures, inputs)))}")
    return report


def _quantize(p: argparse.ArgumentParser) -> None:
    from spikeforge.sim.simulator import MAX_TIMESTEPS

    p.add_argument("network", help="saved SNN folder (from spikeforge convert)")
    p.add_argument("-o", "--output", required=True, help="output folder for the integer network")
    p.add_argument("--weight-bits", type=int, default=8, help="signed weight bits, 2..8 (default 8)")
    p.add_argument("--threshold-bits", type=int, default=16, help="unsigned threshold bits (default 16)")
    p.add_argument("--membrane-bits", type=int, help="signed membrane register bits (saturating); default unbounded")
    p.add_argument("--input-bits", type=int, default=8, help="input bits (default 8)")
    p.add_argument("--per-channel", action="store_true", help="one weight step per output channel")
    p.add_argument("--calib", help="calibration data (.npz or 'digits:train'): input range and overflow check")
    p.add_argument("--calib-samples", type=count(), default=256, help="calibration samples used (default 256)")
    p.add_argument("--timesteps", "-T", type=count(high=MAX_TIMESTEPS), default=8, help="timesteps of the calibration run (default 8)")
    p.set_defaults(run=run_quantize)


def _accel(p: argparse.ArgumentParser) -> None:
    from spikeforge.sim.simulator import MAX_TIMESTEPS

    p.add_argument("network", help="saved (quantised) SNN folder")
    p.add_argument("--hw", default="pynq-z2-accel", help="accelerator preset or TOML file (default pynq-z2-accel)")
    p.add_argument("--data", required=True, help="input data: .npz with x, or 'digits:test'")
    p.add_argument("--timesteps", "-T", type=count(high=MAX_TIMESTEPS), default=8)
    p.add_argument("--samples", type=count(), help="use only the first N samples")
    p.add_argument("--pes", type=count(), help="override the number of PEs")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.set_defaults(run=run_accel)


COMMANDS = (
    Command("quantize", "quantise an SNN to integer weights and thresholds (hardware bit-widths)", _quantize),
    Command("accel", "cycle-approximate figures of an SNN on a spiking accelerator (PE array)", _accel),
)
