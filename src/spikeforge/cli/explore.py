"""Command ``codesign``.

``spikeforge codesign NET --data DATA --bits 2,4,8 --timesteps 2,4,6,8 --pes 16,32,64,128
[--hw pynq-z2-accel] [-o OUT_DIR] [--samples N]`` sweeps weight bits × timesteps × PEs (or,
on a crossbar chip, ``--crossbar-sizes``), prints every point and the Pareto front, and writes
``OUT_DIR/sweep.csv``, ``OUT_DIR/pareto.csv`` and ``OUT_DIR/pareto.png`` — all or nothing (the
folder is built under a temporary name and renamed into place).

Design points run on a Dask ``LocalCluster`` of ``--workers`` processes (default: one per CPU when
the ``search`` extra is installed, else in this process; ``--workers 0`` forces in-process), or on
the cluster of ``--scheduler ADDRESS``. Every finished point is kept in the cache folder (default
``OUT_DIR-cache``), so rerunning the same command resumes. ``--search nsga2 --trials N`` searches the
same space with NSGA-II instead of evaluating all of it; its study is journalled in the cache
folder, so a rerun resumes and a larger ``--trials`` extends it.
"""

from __future__ import annotations

import argparse
import os
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


def float_list(text: str) -> list[float]:
    """An argparse ``type``: ``'6,12'`` → ``[6.0, 12.0]``.

    >>> float_list("6, 0.5")
    [6.0, 0.5]
    """
    try:
        return [float(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 6,12, got {text!r}") from None


def _knobs(args: argparse.Namespace) -> dict[str, list]:
    given = {"ops_per_cycle_per_pe": args.ops_per_cycle, "event_dispatch_cycles": args.dispatch_cycles,
             "on_chip_memory_kib": args.memory_kib, "distribution": args.assignments, "placer": args.placers}
    return {k: v for k, v in given.items() if v is not None}


def _check_cache_apart(cache: str, output: str, inputs: tuple) -> None:
    """The cache folder (written to as the sweep runs, even when it does not exist yet) must be
    apart from the output and the inputs: not one of them, inside one, or holding one."""
    from spikeforge.errors import OutputPathError
    from spikeforge.outputs import resolve_links

    folder = resolve_links(Path(cache))
    if folder is None:
        raise OutputPathError(f"cache {cache}: a loop of symbolic links; choose another folder")
    for what, given in (("output", output), *(("input", i) for i in inputs)):
        if given is None or (what == "input" and not os.path.lexists(given)):
            continue  # e.g. a built-in data set or hardware preset name
        other = resolve_links(Path(given))
        if other is not None and (folder.is_relative_to(other) or other.is_relative_to(folder)):
            raise OutputPathError(f"cache {cache}: is, holds or lies inside the {what} {given}; "
                                  f"choose a cache folder apart from it")


def run_codesign(args: argparse.Namespace, out: Console | None = None):
    from rich.markup import escape

    from spikeforge.datasets import load_data
    from spikeforge.explore.cache import SimulationCache
    from spikeforge.explore.codesign import sweep
    from spikeforge.explore.engine import default_workers, make_engine
    from spikeforge.explore.report import plot_front, sweep_table, write_csv
    from spikeforge.outputs import atomic_directory, check_output_folder
    from spikeforge.report.runs import sweep_meta
    from spikeforge.report.sources import sweep_page

    out = out or console()
    cache_folder = args.cache or f"{str(args.output).rstrip('/')}-cache"
    inputs = (args.network, args.data, args.calib, args.hw, cache_folder)
    check_output_folder(args.output, inputs)
    _check_cache_apart(cache_folder, args.output, (args.network, args.data, args.calib, args.hw))
    check_report(args, inputs, (args.output,))
    data = load_data(args.data)
    if args.samples:
        data = data.take(args.samples)
    calib = load_data(args.calib).take(args.calib_samples) if args.calib else None
    snn = _load_snn(args.network, args.arch, None if calib is None else calib.x)
    workers = default_workers() if args.workers is None else args.workers
    with make_engine(workers, args.scheduler) as engine:
        result = sweep(snn, data.x, data.y, args.hw, bits=args.bits, timesteps=args.timesteps, pes=args.pes,
                       crossbar_sizes=args.crossbar_sizes, knobs=_knobs(args),
                       per_channel=args.per_channel, calib=None if calib is None else calib.x,
                       cache=SimulationCache(cache_folder), engine=engine, search=args.search,
                       trials=args.trials, population=args.population, seed=args.seed,
                       quiet=args.quiet, console=out)

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
              f"({result.cache_hits} (bits, T) pairs from the cache), {result.evaluated} points computed, "
              f"{len(result.evaluations) + len(result.infeasible) - result.evaluated} from the cache "
              f"{escape(cache_folder)}, {result.seconds:.1f} s")
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
    p.add_argument("--ops-per-cycle", type=float_list, help="accelerators: accumulates per cycle per PE to sweep")
    p.add_argument("--dispatch-cycles", type=float_list, help="accelerators: cycles per dispatched event to sweep")
    p.add_argument("--memory-kib", type=float_list, help="accelerators: on-chip memory (KiB) to sweep")
    p.add_argument("--assignments", type=lambda t: t.split(","),
                   help="accelerators: neuron-to-PE assignments to sweep, comma-separated (channel, neuron, "
                        "balanced-channel, balanced-neuron)")
    p.add_argument("--placers", type=lambda t: t.split(","), help="crossbar chips: placers to sweep, comma-separated")
    p.add_argument("--search", choices=("grid", "nsga2"), default="grid",
                   help="grid: every point (default); nsga2: Optuna's NSGA-II over the same space")
    p.add_argument("--trials", type=count(), default=100, help="nsga2: finished trials in the study (default 100)")
    p.add_argument("--population", type=count(2), default=16, help="nsga2: population size (default 16)")
    p.add_argument("--seed", type=count(0, 2**32 - 1), default=0, help="nsga2: sampler seed (default 0)")
    p.add_argument("--workers", type=count(0), help="local Dask worker processes (default: one per CPU with "
                   "the search extra installed, else 0 = in this process)")
    p.add_argument("--scheduler", help="address of a Dask scheduler (tcp://host:8786) to run the points on")
    p.add_argument("--cache", help="folder keeping simulations, finished points and the search journal across "
                   "runs (default OUT_DIR-cache)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_report_option(p)
    p.set_defaults(run=run_codesign)


COMMANDS = (
    Command("codesign", "co-design sweep over weight bits, timesteps and hardware size; Pareto front of "
                        "accuracy, latency and energy", _codesign),
)
