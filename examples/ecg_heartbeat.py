"""Heartbeat classification (normal vs abnormal) on MIT-BIH record 100 with a 1-D CNN, converted to an SNN;
then partitioned, placed and analysed (guaranteed throughput, latency, energy) on xbar-mesh and loihi.

    .venv/bin/python examples/ecg_heartbeat.py [--data DIR] [--cache DIR] [--hw loihi]

Data from ../shared/data (or $SPIKEFORGE_DATA); trained weights cached in ~/.cache/spikeforge.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE, DATA
from spikeforge.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["suite", "--apps", "ecg-heartbeat", "--data", str(DATA), "--cache", str(CACHE), *sys.argv[1:]]))
