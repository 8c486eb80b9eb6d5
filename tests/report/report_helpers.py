"""Helpers the report tests share."""

from __future__ import annotations

import io

from rich.console import Console

from spikeforge.cli import build_parser


def run(argv: list[str]):
    """Run a command in-process, its console captured; (result, printed text)."""
    args = build_parser().parse_args(argv)
    out = Console(file=io.StringIO(), width=200)
    return args.run(args, out), out.file.getvalue()
