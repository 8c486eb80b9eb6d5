"""CLI commands of the dataflow stage: ``spikeforge analyse GRAPH.xml``.

:func:`add_commands` registers them on the sub-parsers of :func:`spikeforge.cli.build_parser`.
Bad input raises a :class:`~spikeforge.errors.SpikeforgeError` (an unreadable file, a graph
that is inconsistent or deadlocks: the message names the blocked cycle), which the CLI prints
on one line before exiting with status 2.

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser(prog="spikeforge")
>>> add_commands(parser.add_subparsers(dest="command"))
>>> parser.parse_args(["analyse", "g.xml", "--exact"]).exact
True
"""

from __future__ import annotations

import argparse
import math
from fractions import Fraction
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from spikeforge.dataflow.analysis import MAX_TRADEOFF_STEPS
from spikeforge.report.console import console as default_console
from spikeforge.resources import check_count

__all__ = ["add_commands", "analyse_report", "cmd_analyse"]


def _show(value) -> str:
    if isinstance(value, Fraction):
        text = f"{value.numerator}/{value.denominator}" if value.denominator != 1 else \
            str(value.numerator)
        return f"{text} ({float(value):.6g})"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.6g}"
    return str(value)


def _json_number(value):
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return value


def analyse_report(graph, *, exact: bool = False, max_steps: int = 50) -> dict:
    """Throughput, repetition vector, critical cycle, latency and buffer trade-off of a graph.

    Parameters
    ----------
    graph : DataflowGraph
    exact : bool
        Fractions instead of floats.
    max_steps : int
        Capacity increments of the buffer trade-off search.

    Returns
    -------
    dict
        JSON-ready (Fractions as ``"p/q"`` strings, infinity as ``"inf"``).

    Raises
    ------
    InvalidGraphError
        The graph is inconsistent.
    DeadlockError
        The graph deadlocks; the message names the blocked cycle.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> g = DataflowGraph((Actor("A", 2), Actor("B", 3)),
    ...                   (Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1, 1)))
    >>> analyse_report(g, exact=True)["throughput"]
    '1/5'
    """
    from spikeforge.dataflow.analysis import buffer_tradeoff, latency, throughput

    r = throughput(graph, exact=exact)
    points = buffer_tradeoff(graph, exact=exact, max_steps=max_steps) if graph.channels else ()
    first = latency(graph)
    return {
        "graph": graph.name,
        "actors": len(graph.actors),
        "channels": len(graph.channels),
        "throughput": _json_number(r.throughput),
        "throughput_float": float(r.throughput),
        "period": _json_number(r.period),
        "repetition_vector": dict(r.repetition_vector),
        "deadlock": False,
        "critical_cycle": {"actors": list(r.critical_cycle.actors),
                           "channels": list(r.critical_cycle.channels)},
        "latency": _json_number(first),
        "buffer_tradeoff": [{"total_size": p.total_size, "throughput": _json_number(p.throughput),
                             "capacities": dict(p.capacities)} for p in points],
        "_raw": {"throughput": r.throughput, "period": r.period, "points": points,
                 "latency": first},
    }


def cmd_analyse(args: argparse.Namespace, console: Console | None = None) -> dict:
    """Run ``spikeforge analyse``: print rich tables, optionally write JSON.

    Raises
    ------
    InvalidGraphError
        Unreadable, malformed or inconsistent graph.
    DeadlockError
        The graph deadlocks.
    ArgumentError, ResourceError
        ``--max-steps`` is negative or above :data:`~spikeforge.dataflow.analysis.MAX_TRADEOFF_STEPS`.
    OutputPathError
        ``--json`` names a folder or lies under a file (checked before the analysis), or cannot
        be written.
    """
    from spikeforge.dataflow.sdf3 import read_sdf3
    from spikeforge.outputs import check_output_file, write_json_atomic

    console = console or default_console
    check_count(args.max_steps, "--max-steps", low=0, high=MAX_TRADEOFF_STEPS)
    if args.json is not None:
        check_output_file(args.json, (args.graph,))
    graph = read_sdf3(args.graph)
    report = analyse_report(graph, exact=args.exact, max_steps=args.max_steps)
    raw = report.pop("_raw")

    # Actor and channel names hold brackets (``link[s2_10]``) that rich would read as markup.
    summary = Table(title=escape(f"dataflow graph {graph.name or Path(args.graph).name}"))
    summary.add_column("quantity")
    summary.add_column("value", justify="right")
    summary.add_row("actors / channels", f"{len(graph.actors)} / {len(graph.channels)}")
    summary.add_row("throughput (iterations per time unit)", _show(raw["throughput"]))
    summary.add_row("period (time per iteration)", _show(raw["period"]))
    summary.add_row("deadlock", "no")
    summary.add_row("critical cycle", escape(" -> ".join(report["critical_cycle"]["actors"]) or "none"))
    summary.add_row("critical channels", escape(", ".join(report["critical_cycle"]["channels"]) or "none"))
    summary.add_row("latency (first iteration)", _show(raw["latency"]))
    console.print(summary)

    reps = Table(title="repetition vector")
    reps.add_column("actor")
    reps.add_column("firings per iteration", justify="right")
    for actor, q in report["repetition_vector"].items():
        reps.add_row(escape(actor), str(q))
    console.print(reps)

    if raw["points"]:
        pareto = Table(title="buffer size / throughput trade-off (Pareto points)")
        pareto.add_column("total buffer size", justify="right")
        pareto.add_column("throughput", justify="right")
        pareto.add_column("capacities")
        for p in raw["points"]:
            caps = ", ".join(f"{c}={v}" for c, v in p.capacities.items())
            pareto.add_row(str(p.total_size), _show(p.throughput),
                           escape(caps if len(caps) <= 80 else caps[:77] + "..."))
        console.print(pareto)

    if args.json is not None:
        console.print(f"wrote {escape(str(write_json_atomic(args.json, report, (args.graph,))))}")
    return report


def add_commands(sub) -> None:
    """Register ``analyse`` on ``sub``, the sub-parsers of :func:`spikeforge.cli.build_parser`."""
    p = sub.add_parser("analyse", help="throughput, deadlock, critical cycle, latency and buffer "
                       "trade-off of an SDF3 dataflow graph")
    p.add_argument("graph", help="SDF3 XML file")
    p.add_argument("--exact", action="store_true", help="exact arithmetic (fractions)")
    p.add_argument("--json", metavar="OUT", help="also write the figures to this JSON file")
    p.add_argument("--max-steps", type=int, default=50,
                   help="capacity increments of the buffer trade-off search (default 50)")
    p.set_defaults(run=cmd_analyse)
