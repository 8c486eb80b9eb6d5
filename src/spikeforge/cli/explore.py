"""Command ``codesign``.

``spikeforge codesign NET --data DATA --bits 2,4,8 --timesteps 2,4,6,8 --pes 16,32,64,128
[--hw pynq-z2-accel] [-o OUT_DIR] [--samples N]`` sweeps weight bits × timesteps × PEs (or,
on a crossbar chip, ``--crossbar-sizes``), prints every point and the Pareto front, and writes
``OUT_DIR/sweep.csv``, ``OUT_DIR/pareto.csv`` and ``OUT_DIR/pareto.png`` — all or nothing (the
folder is built under a temporary name and renamed into place).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from spikeforge.cli.common import Command, console, count, int_list
from spikeforge.cli.report import (
    add_report_option,
    check_report,
    settings_of,
    write_report,
)

if TYPE_CHECKING:
    from rich.console import Console


def _load_snn(path: str, arch: str | None, calib_x):
    """A saved SNN folder as is; an ANN (model file or folder) converted on ``calib_x``."""
    from spikeforge.errors import ConversionError
    from spikeforge.loaders import load_network
    from spikeforge.pipeline import convert_pass

    net = load_network(path, arch=arch)
    if net.kind == "snn":
        return net
    if calib_x is None:
        raise ConversionError(f"{path}: an ANN; pass --calib DATA to convert it to an SNN first")
    return convert_pass(net, calib_x)


def run_codesign(args: argparse.Namespace, out: Console | None = None):
    from rich.markup import escape

    from spikeforge.datasets import load_data
    from spikeforge.explore.cache import SimulationCache
    from spikeforge.explore.codesign import sweep
    from spikeforge.explore.report import plot_front, sweep_table, write_csv
    from spikeforge.outputs import atomic_directory, check_output_folder
    from spikeforge.report.runs import sweep_meta
    from spikeforge.report.sources import sweep_page

    out = out or console()
    inputs = (args.network, args.data, args.calib, args.hw, args.cache)
    check_output_folder(args.output, inputs)
    check_report(args, inputs, (args.output,))
    data = load_data(args.data)
    if args.samples:
        data = data.take(args.samples)
    calib = load_data(args.calib).take(args.calib_samples) if args.calib else None
    snn = _load_snn(args.network, args.arch, None if calib is None else calib.x)
    result = sweep(snn, data.x, data.y, args.hw, bits=args.bits, timesteps=args.timesteps, pes=args.pes,
                   crossbar_sizes=args.crossbar_sizes,
                   per_channel=args.per_channel, calib=None if calib is None else calib.x,
                   cache=SimulationCache(args.cache) if args.cache else None, quiet=args.quiet, console=out)

    def fill(folder: Path) -> None:
        write_csv(folder / "sweep.csv", result.evaluations, result.front)
        write_csv(folder / "pareto.csv", result.front, result.front)
        plot_front(result, folder / "pareto.png")

    folder = atomic_directory(args.output, fill, inputs)
    out.print(sweep_table(result))
    out.print(sweep_table(result, result.front, title=f"Pareto front: {len(result.front)} points "
                                                      "(max accuracy, min latency, min energy)"))
    for point, reason in result.infeasible:
        out.print(f"infeasible: {point.label}: {escape(reason)}")
    out.print(f"{result.simulations} simulations for {len(result.evaluations)} design points "
              f"({result.cache_hits} (bits, T) pairs from the cache), {result.seconds:.1f} s")
    out.print(f"wrote {escape(str(folder))}/: sweep.csv, pareto.csv, pareto.png")
    def page():
        rows, meta = sweep_meta(result)
        return sweep_page(rows, str(folder), meta=meta, settings=settings_of(args))

    write_report(args, page, (*inputs, args.output), out)
    return result


def _codesign(p: argparse.ArgumentParser) -> None:
    p.add_argument("network", help="saved SNN folder, or model file / ANN folder (with --calib)")
    p.add_argument("--data", required=True, help="labelled evaluation data: .npz with x and y, or 'digits:test'")
    p.add_argument("--bits", type=int_list, default=[2, 4, 8], help="weight bit-widths, comma-separated (default 2,4,8)")
    p.add_argument("--timesteps", "-T", type=int_list, default=[2, 4, 6, 8], help="timesteps, comma-separated (default 2,4,6,8)")
    p.add_argument("--pes", type=int_list, help="accelerator PE counts, comma-separated (default: the spec's)")
    p.add_argument("--crossbar-sizes", type=int_list, help="crossbar chips: crossbar rows = columns, comma-separated")
    p.add_argument("--hw", default="pynq-z2-accel",
                   help="accelerator or crossbar preset, or TOML file (default pynq-z2-accel)")
    p.add_argument("-o", "--output", default="out/codesign", help="output folder (default out/codesign)")
    p.add_argument("--samples", type=count(), help="use only the first N samples of --data")
    p.add_argument("--calib", help="calibration data: converts an ANN and sets the input range")
    p.add_argument("--calib-samples", type=count(), default=256, help="calibration samples used (default 256)")
    p.add_argument("--arch", help="architecture of a bare state dict")
    p.add_argument("--per-channel", action="store_true", help="one weight step per output channel")
    p.add_argument("--cache", help="folder that keeps simulations across runs (keyed by network, data, bits, T)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_report_option(p)
    p.set_defaults(run=run_codesign)


COMMANDS = (
    Command("codesign", "co-design sweep over weight bits, timesteps and hardware size; Pareto front of "
                        "accuracy, latency and energy", _codesign),
)
