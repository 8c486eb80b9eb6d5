"""Command-line interface: ``spikeforge COMMAND ...``.

Every command lives in one module of this package, as a :class:`~spikeforge.cli.common.Command`
(name, help, and a function adding its arguments); :data:`COMMANDS` lists them in the order
``spikeforge --help`` shows them. A command's arguments, and the modules behind them, are loaded
only when that command runs, so ``spikeforge --help`` and ``spikeforge analyse`` start without
importing torch.

Errors a user can cause (:class:`~spikeforge.errors.SpikeforgeError`) print one line on
stderr and exit with status 2; nothing partial is written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from spikeforge.cli import (
    apps,
    compile,
    dataflow,
    events,
    explore,
    mapping,
    network,
    nir,
    quantize,
    report,
)
from spikeforge.cli.common import Parser, add_commands

__all__ = ["COMMANDS", "build_parser", "main"]

#: Every command, in the order of the pipeline.
COMMANDS = (*network.COMMANDS, *nir.COMMANDS, *quantize.COMMANDS, *mapping.COMMANDS, *dataflow.COMMANDS,
            *compile.COMMANDS, *explore.COMMANDS, *apps.COMMANDS, *report.COMMANDS, *events.COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    """The ``spikeforge`` parser with every command (arguments added when a command is used)."""
    parser = Parser(prog="spikeforge", description="Deep networks to SNNs on neuromorphic hardware.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    add_commands(sub, COMMANDS)
    return parser


def _fail(command: str, message: str) -> int:
    """Print ``message`` as the one line of a failed command; the exit status."""
    print(f"spikeforge {command}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``spikeforge`` with ``argv`` (default: the process's arguments); the exit status."""
    from spikeforge.errors import SpikeforgeError

    # A file name that is not UTF-8 arrives as surrogate escapes; under a strict locale printing it
    # (a path in "wrote ..." or in the one error line) would raise. Show it escaped instead.
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit:  # --help (0), or a usage error already printed on one line (2)
        return exit.code
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
