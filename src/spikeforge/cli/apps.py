"""Command ``suite``: the application suite (image smoothing, ECG, CIFAR-10, EM segmentation) on
every hardware, with guaranteed throughput and latency."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

from spikeforge.cli.common import Command, console


def run_suite(args: argparse.Namespace, out: Console | None = None) -> None:
    from dataclasses import replace

    from spikeforge.apps.suite import SuiteConfig, run_suite, suite_table
    from spikeforge.errors import InputPathError

    out = out or console()
    if not args.data:
        raise InputPathError("no data folder: pass --data or set SPIKEFORGE_DATA")
    config = SuiteConfig.tiny() if args.tiny else SuiteConfig()
    config = replace(config, cifar_checkpoint=args.cifar_checkpoint)
    result = run_suite(args.data, args.cache, apps=args.apps, hardware=args.hw, config=config, console=out)
    out.print(suite_table(result.rows))


def _suite(p: argparse.ArgumentParser) -> None:
    from spikeforge.apps.suite import APPS, HARDWARE

    p.add_argument("--data", default=os.environ.get("SPIKEFORGE_DATA"),
                   help="folder holding mnist/, cifar10/, ecg/, isbi2012/ (default $SPIKEFORGE_DATA)")
    p.add_argument("--cache", default=os.environ.get("SPIKEFORGE_CACHE", str(Path.home() / ".cache" / "spikeforge")),
                   help="where trained checkpoints are kept")
    p.add_argument("--apps", nargs="+", default=list(APPS), choices=list(APPS))
    p.add_argument("--hw", nargs="+", default=list(HARDWARE))
    p.add_argument("--cifar-checkpoint", help="CIFAR-10 model file (default: train the fallback CNN)")
    p.add_argument("--tiny", action="store_true", help="seconds-long settings (smoke test)")
    p.set_defaults(run=run_suite)


COMMANDS = (
    Command("suite", "the application suite on every hardware: accuracy, guaranteed throughput and "
                     "latency, energy", _suite),
)
