"""Commands of the dataflow stage: ``spikeforge analyse GRAPH.xml``.

Bad input raises a :class:`~spikeforge.errors.SpikeforgeError` (an unreadable file, a graph that
is inconsistent or deadlocks: the message names the blocked cycle), which the CLI prints on one
line before exiting with status 2.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from spikeforge.cli.common import Command, console, count
from spikeforge.cli.report import (
    add_report_option,
    check_report,
    settings_of,
    write_report,
)

if TYPE_CHECKING:
    from rich.console import Console


def _show(value) -> str:
    if isinstance(value, Fraction):
        text = f"{value.numerator}/{value.denominator}" if value.denominator != 1 else \
            str(value.numerator)
        return f"{text} ({float(value):.6g})"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.6g}"
    return str(value)


def run_analyse(args: argparse.Namespace, out: Console | None = None) -> dict:
    """Run ``spikeforge analyse``: print rich tables, optionally write JSON.

    Raises
    ------
    InvalidGraphError
        Unreadable, malformed or inconsistent graph; an actor without the ``--processor`` type.
    DeadlockError
        The graph deadlocks.
    OutputPathError
        ``--json`` names a folder or lies under a file (checked before the analysis), or cannot
        be written.
    """
    from rich.markup import escape
    from rich.table import Table

    from spikeforge.dataflow.report import analyse_report
    from spikeforge.dataflow.sdf3 import read_sdf3
    from spikeforge.errors import SDF3AmbiguityWarning
    from spikeforge.outputs import check_output_file, write_json_atomic

    out = out or console()
    if args.json is not None:
        check_output_file(args.json, (args.graph,))
    check_report(args, (args.graph,), (args.json,))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SDF3AmbiguityWarning)
        graph = read_sdf3(args.graph, processor=args.processor)
    for w in caught:  # one line each, not Python's two-line format with a source line
        print(f"warning: {w.message}", file=sys.stderr)
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
    out.print(summary)

    out.print(_repetitions(report["repetition_vector"]))

    if raw["points"]:
        pareto = Table(title="buffer size / throughput trade-off (Pareto points)")
        pareto.add_column("total size (tokens, SDF3)", justify="right")
        pareto.add_column("memory (tokens x token size)", justify="right")
        pareto.add_column("throughput", justify="right")
        pareto.add_column("capacities")
        for p in raw["points"]:
            caps = ", ".join(f"{c}={v}" for c, v in p.capacities.items())
            pareto.add_row(str(p.total_size), str(p.memory), _show(p.throughput),
                           escape(caps if len(caps) <= 80 else caps[:77] + "..."))
        out.print(pareto)

    if not report["buffer_tradeoff_complete"] and graph.channels:
        what = f"{len(raw['points'])} Pareto point(s), the smallest" if raw["points"] else \
            "no storage distribution with positive throughput"
        out.print(f"buffer trade-off: {what}; --max-steps {args.max_steps} ran out before the "
                  "throughput of unbounded buffers (raise it to search further)")
    if args.json is not None:
        out.print(f"wrote {escape(str(write_json_atomic(args.json, report, (args.graph,))))}")
    write_report(args, lambda: _graph_page(graph, args, report), (args.graph, args.json), out)
    return report


def _graph_page(graph, args: argparse.Namespace, report: dict):
    from spikeforge.report.sources import graph_page  # only with --report: analyse starts without pydantic

    return graph_page(graph, args.graph, report=report, settings=settings_of(args))


#: Largest graph whose repetition vector is listed actor by actor; larger ones are summarised.
LISTED_ACTORS = 20


def _repetitions(q: dict[str, int]):
    """The repetition vector as a table: per actor when short, else how many actors fire how often."""
    from rich.markup import escape
    from rich.table import Table

    if len(q) <= LISTED_ACTORS:
        table = Table(title="repetition vector")
        table.add_column("actor")
        table.add_column("firings per iteration", justify="right")
        for actor, count in q.items():
            table.add_row(escape(actor), str(count))
        return table
    groups: dict[int, list[str]] = {}
    for actor, count in q.items():
        groups.setdefault(count, []).append(actor)
    table = Table(title=f"repetition vector: {sum(q.values()):,} firings of {len(q):,} actors per "
                        "iteration (every actor in --json)")
    table.add_column("firings per iteration", justify="right")
    table.add_column("actors", justify="right")
    table.add_column("for example")
    shown = sorted(sorted(groups, key=lambda c: -len(groups[c]))[:LISTED_ACTORS])
    for count in shown:
        names = groups[count]
        table.add_row(str(count), f"{len(names):,}",
                      escape(", ".join(names[:3]) + (", ..." if len(names) > 3 else "")))
    if len(shown) < len(groups):
        rest = len(q) - sum(len(groups[c]) for c in shown)
        table.add_row(f"{len(groups) - len(shown):,} other counts", f"{rest:,}", "")
    return table


def _analyse(p: argparse.ArgumentParser) -> None:
    from spikeforge.dataflow.buffers import MAX_TRADEOFF_STEPS

    p.add_argument("graph", help="SDF3 XML file")
    p.add_argument("--exact", action="store_true", default=None,
                   help="exact arithmetic (fractions) even for float execution times (default: "
                        "exact when every execution time is an integer or a fraction)")
    p.add_argument("--json", metavar="OUT", help="also write the figures to this JSON file")
    p.add_argument("--processor", metavar="TYPE",
                   help="execution times of this processor type (default: SDF3's, the last "
                        "<processor> with a default attribute)")
    p.add_argument("--max-steps", type=count(low=0, high=MAX_TRADEOFF_STEPS), default=50,
                   help="storage distributions the buffer trade-off analyses (default 50)")
    add_report_option(p)
    p.set_defaults(run=run_analyse)


COMMANDS = (
    Command("analyse", "throughput, deadlock, critical cycle, latency and buffer trade-off of an SDF3 "
                       "dataflow graph", _analyse),
)
