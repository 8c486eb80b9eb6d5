"""Image smoothing (3×3 Gaussian) and edge detection (Sobel x/y, ON/OFF channels) as hand-built SNNs
(SparseLinear synapse lists) on crops of the ISBI 2012 EM slices; rate-decoded output against the
exact float filter (PSNR, correlation), mapped with the neuron-level ``greedy`` partitioner and
analysed on xbar-mesh and loihi.

    .venv/bin/python examples/em_filters.py [--data DIR] [--hw loihi]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE, DATA
from spikeforge.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["suite", "--apps", "em-smoothing", "em-edges", "--data", str(DATA), "--cache", str(CACHE),
                           *sys.argv[1:]]))
