"""Command ``report``, and the ``--report HTML`` option of ``compile``, ``map``, ``analyse`` and
``codesign``.

``spikeforge report ARTIFACT_OR_FOLDER -o report.html`` writes one self-contained HTML page (no
network request: style, script and figures inline) of a compile artifact, a ``map`` placement
JSON, an SDF3 graph, a ``codesign`` folder or a ``demo`` folder (:mod:`spikeforge.report.sources`).
The page is written atomically: on any error nothing is left behind.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from spikeforge.cli.common import Command, console

if TYPE_CHECKING:
    from rich.console import Console

    from spikeforge.report.page import Page


def add_report_option(p: argparse.ArgumentParser) -> None:
    """``--report HTML``: also write the run's HTML report."""
    p.add_argument("--report", metavar="HTML",
                   help="also write a self-contained HTML report of the run (see spikeforge report)")


def check_report(args: argparse.Namespace, inputs: Iterable[str | None], outputs: Iterable[str | None] = ()) -> None:
    """Refuse a ``--report`` path before any work: a folder, one of the inputs or inside them, or
    the command's own output (or inside that folder, which the command replaces whole) even
    before that output exists.

    Raises
    ------
    OutputPathError
        As :func:`spikeforge.outputs.check_output_file`, or the report is or lies inside an output.
    """
    if getattr(args, "report", None) is None:  # not given; an empty name is refused below
        return
    from pathlib import Path

    from spikeforge.errors import OutputPathError
    from spikeforge.outputs import check_output_file, resolve_links

    report = check_output_file(args.report, (*inputs, *outputs)).resolve()
    for output in outputs:
        target = resolve_links(Path(output)) if output else None  # None: a link loop, refused as the output
        if target and (report == target or report.is_relative_to(target)):
            raise OutputPathError(f"--report {args.report}: is or lies inside the output {output} the command "
                                  "writes; choose a path outside it")


def settings_of(args: argparse.Namespace) -> dict:
    """The command's arguments as the report's settings (the command name first)."""
    return {"command": args.command} | {k: v for k, v in vars(args).items()
                                        if k not in ("command", "run") and not callable(v)}


def write_report(args: argparse.Namespace, build: Callable[[], Page], inputs: Iterable[str | None],
                 out: Console) -> None:
    """Write the page ``build()`` makes to ``args.report`` (when given) and say so."""
    if getattr(args, "report", None) is None:
        return
    from rich.markup import escape

    from spikeforge.report.page import write_page

    path = write_page(args.report, build(), tuple(inputs))
    out.print(f"wrote {escape(str(path))} ({path.stat().st_size / 1e6:.2f} MB report)")


def run_report(args: argparse.Namespace, out: Console | None = None):
    """Run ``spikeforge report``; returns the page written.

    Raises
    ------
    InputPathError
        The input does not exist.
    ModelFileError
        The input is not something a report is made of, or is damaged.
    OutputPathError
        ``-o`` is a folder, is or lies inside the input, or cannot be written.
    """
    from spikeforge.outputs import check_output_file
    from spikeforge.report.sources import load_report

    out = out or console()
    check_output_file(args.output, (args.input,))
    page = load_report(args.input, hardware=args.hw)
    write_report(argparse.Namespace(report=args.output), lambda: page, (args.input,), out)
    return page


def _report(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="ARTIFACT_OR_FOLDER",
                   help="compile artifact folder, map placement JSON, SDF3 graph (.xml), codesign or demo folder")
    p.add_argument("-o", "--output", required=True, help="HTML file to write")
    p.add_argument("--hw", help="hardware preset or TOML file of a placement JSON mapped on a custom TOML")
    p.set_defaults(run=run_report)


COMMANDS = (
    Command("report", "one self-contained HTML page of a run: layers, mapping, dataflow guarantee, energy, "
                      "co-design front", _report),
)
