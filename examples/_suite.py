"""Runs ``spikeforge suite`` on some applications, with the data and cache folders of the benchmarks
(``../shared/data`` or ``$SPIKEFORGE_DATA``; ``~/.cache/spikeforge``) and the script's own arguments."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE, DATA  # noqa: E402
from spikeforge.cli import main  # noqa: E402


def run_apps(*apps: str, extra: tuple[str, ...] = ()) -> None:
    """``spikeforge suite --apps APPS...`` and exit with its status."""
    raise SystemExit(main(["suite", "--apps", *apps, "--data", str(DATA), "--cache", str(CACHE), *extra,
                           *sys.argv[1:]]))
