"""Commands on event-camera recordings: ``events info FILE [--sensor H W]``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

from spikeforge.cli.common import Command, console, count


def run_events_info(args: argparse.Namespace, out: Console | None = None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from spikeforge.events import read_nmnist, summarize_events

    out = out or console()
    summary = summarize_events(read_nmnist(args.file, sensor=tuple(args.sensor)))
    table = Table(title=f"{escape(args.file)}: N-MNIST events, sensor {args.sensor[0]}×{args.sensor[1]}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for figure, value in summary.rows():
        table.add_row(figure, value)
    out.print(table)


def _events(p: argparse.ArgumentParser) -> None:
    from spikeforge.events import MAX_COORDINATE, NMNIST_SENSOR

    sub = p.add_subparsers(dest="events_command", required=True)
    q = sub.add_parser("info", help="event count, duration and pixel extent of an N-MNIST .bin file")
    q.add_argument("file", help="N-MNIST binary file (.bin, 5 bytes per event)")
    q.add_argument("--sensor", nargs=2, type=count(high=MAX_COORDINATE + 1), default=list(NMNIST_SENSOR),
                   metavar=("H", "W"), help="sensor height and width (default 34 34, N-MNIST)")
    q.set_defaults(run=run_events_info)


COMMANDS = (
    Command("events", "event-camera recordings: what an N-MNIST file holds", _events),
)
