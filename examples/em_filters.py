"""Image smoothing (3×3 Gaussian) and edge detection (Sobel x/y, ON/OFF channels) as hand-built SNNs
(SparseLinear synapse lists) on crops of the ISBI 2012 EM slices; rate-decoded output against the
exact float filter (PSNR, correlation), mapped with the neuron-level ``greedy`` partitioner and
analysed on xbar-mesh and loihi.

    .venv/bin/python examples/em_filters.py [--data DIR] [--hw loihi]
"""

from _suite import run_apps

if __name__ == "__main__":
    run_apps("em-smoothing", "em-edges")
