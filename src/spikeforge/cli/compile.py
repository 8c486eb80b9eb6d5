"""Commands ``compile`` and ``admit``.

``spikeforge compile MODEL --hw NAME --calib DATA -o OUT`` runs the pipeline of
:mod:`spikeforge.pipeline` and writes the deployment artifact (:mod:`spikeforge.artifact`);
``spikeforge admit APP... --hw NAME`` admits compiled artifacts (or SDF3 XML files) one by one
onto shared hardware (:class:`spikeforge.runtime.admission.Runtime`).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

from spikeforge.cli.common import Command, add_strategy_argument, console, count
from spikeforge.cli.report import (
    add_report_option,
    check_report,
    settings_of,
    write_report,
)

if TYPE_CHECKING:
    from rich.console import Console


def run_compile(args: argparse.Namespace, out: Console | None = None):
    from rich.markup import escape
    from rich.table import Table

    from spikeforge.pipeline import CompileOptions, compile_model, summary_rows

    out = out or console()
    inputs = (args.model, args.hw, args.calib, args.data, args.output)
    check_report(args, inputs[:-1], (args.output,))
    options = CompileOptions(model=args.model, hardware=args.hw, calib=args.calib,
                             output=args.output, arch=args.arch, timesteps=args.timesteps,
                             chips=args.chips, partitioner=args.partitioner, placer=args.placer,
                             binding=args.binding, data=args.data, crossbars=args.crossbars,
                             calib_samples=args.calib_samples, data_samples=args.samples)
    c = compile_model(options, console=out)
    table = Table(title=escape(f"{c.snn.name} on {c.platform.hardware.name}: {c.partition.strategy} + "
                               f"{c.placement.strategy} + {c.schedule.strategy}, T={c.guarantee.timesteps}"))
    table.add_column("figure")
    table.add_column("value")
    for k, v in summary_rows(c):
        table.add_row(escape(k), escape(v))
    out.print(table)
    out.print(escape("energy assumptions: " + "; ".join(c.figures["energy_assumptions"])))
    out.print(escape(f"wrote {args.output}"))
    write_report(args, lambda: _compiled_page(c, args), inputs, out)
    return c


def _compiled_page(c, args: argparse.Namespace):
    from spikeforge.artifact import load_artifact
    from spikeforge.report.runs import artifact_page

    return artifact_page(load_artifact(args.output), profile=c.profile, placement=c.placement,
                         settings=settings_of(args))


def _load_app(path: str):
    """A compiled artifact folder, or an SDF3 XML file."""
    from spikeforge.artifact import load_artifact
    from spikeforge.dataflow.sdf3 import read_sdf3
    from spikeforge.errors import InvalidDataError

    p = Path(path)
    if p.is_dir():
        return load_artifact(p)
    if p.is_file():
        return read_sdf3(p)
    raise InvalidDataError(f"{p}: no such artifact folder or SDF3 XML file")


def run_admit(args: argparse.Namespace, out: Console | None = None):
    from rich.markup import escape
    from rich.table import Table

    from spikeforge.runtime.admission import Runtime

    out = out or console()
    if args.min_throughput is not None and not (args.min_throughput > 0 and
                                                math.isfinite(args.min_throughput)):
        from spikeforge.errors import AdmissionError

        raise AdmissionError(f"--min-throughput {args.min_throughput}: must be > 0")
    apps = [_load_app(a) for a in args.apps]
    rt = Runtime(args.hw)
    table = Table(title=escape(f"admission onto {rt.platform.hardware.name} "
                               f"({rt.platform.crossbars:,} crossbars)"))
    for col in ("application", "decision", "crossbars", "guaranteed throughput", "ms"):
        # names fold rather than truncate, so the #2, #3 of repeated applications stay visible
        table.add_column(col, justify="left" if col in ("application", "decision") else "right",
                         overflow="fold" if col == "application" else "ellipsis", no_wrap=col != "application")
    results = []
    notes: list[str] = []
    names: dict[str, int] = {}
    for path, app in zip(args.apps, apps):
        base = getattr(app, "name", None) or Path(path).stem
        names[base] = names.get(base, 0) + 1
        label = base if names[base] == 1 else f"{base}#{names[base]}"
        req = None
        if args.min_throughput is not None:
            t = getattr(app, "timesteps", None)
            # --min-throughput is in inferences/s for artifacts, iterations/s for graphs
            req = args.min_throughput / 1e9 * (t or 1)  # in this order: 1e308 inferences/s stays finite
        r = rt.admit(app, name=label, min_throughput=req)
        results.append(r)
        if r.admitted:
            per_s = r.inferences_per_s
            tp = f"{per_s:,.0f} inf/s" if per_s is not None else f"{r.throughput * 1e9:,.4g} it/s"
            if r.reused_design_analysis:
                tp += " *"
        else:
            tp = "–"
            notes.append(r.reason)  # names the application
        table.add_row(escape(label), "admitted" if r.admitted else "rejected",
                      str(len(r.crossbars)) if r.admitted else "–", tp, f"{r.decision_ms:.2f}")
    out.print(table)
    if any(r.reused_design_analysis for r in results):
        out.print("* the design-time analysis is reused: binding kept every transfer time, so no max-plus run")
    for note in notes:
        out.print(escape(f"rejected: {note}"))
    out.print(f"{len(rt.free):,} of {rt.platform.crossbars:,} crossbars free")
    return results


def _compile(p: argparse.ArgumentParser) -> None:
    from spikeforge.dataflow.binding import BINDERS, DEFAULT_BINDER
    from spikeforge.mapping.partition import DEFAULT_PARTITIONER, PARTITIONERS
    from spikeforge.mapping.place import DEFAULT_PLACER, PLACERS
    from spikeforge.sim.simulator import MAX_TIMESTEPS

    p.add_argument("model", help="model file, or saved ANN/SNN folder")
    p.add_argument("--hw", required=True, help="hardware preset name or TOML file")
    p.add_argument("--calib", required=True, help="calibration data (.npz with x (and y), or 'digits')")
    p.add_argument("-o", "--output", required=True, help="artifact folder to write")
    p.add_argument("--arch", help="architecture of a bare state dict")
    p.add_argument("--timesteps", "-T", type=count(high=MAX_TIMESTEPS), default=8)
    p.add_argument("--chips", type=count(), help="chips on the board (default: as in the hardware file)")
    add_strategy_argument(p, "--partitioner", PARTITIONERS, DEFAULT_PARTITIONER)
    add_strategy_argument(p, "--placer", PLACERS, DEFAULT_PLACER)
    add_strategy_argument(p, "--binding", BINDERS, DEFAULT_BINDER)
    p.add_argument("--crossbars", type=count(), help="time-multiplex the clusters onto this many crossbars")
    p.add_argument("--data", help="test data for the accuracy (default: the calibration data)")
    p.add_argument("--samples", type=count(), help="use only the first N test samples")
    p.add_argument("--calib-samples", type=count(), default=256,
                   help="calibration samples converted and profiled (default 256)")
    add_report_option(p)
    p.set_defaults(run=run_compile)


def _admit(p: argparse.ArgumentParser) -> None:
    p.add_argument("apps", nargs="+", metavar="APP", help="artifact folder or SDF3 XML file")
    p.add_argument("--hw", required=True, help="hardware preset name or TOML file")
    p.add_argument("--min-throughput", type=float,
                   help="required inferences/s (artifacts) or iterations/s (SDF3 graphs)")
    p.set_defaults(run=run_admit)


COMMANDS = (
    Command("compile", "import, convert, map and analyse a model; write the deployment artifact", _compile),
    Command("admit", "admit compiled applications one by one onto shared hardware", _admit),
)
