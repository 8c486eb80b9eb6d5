"""A CNN on CIFAR-10: the reference VGG-11 checkpoint (bench/checkpoints/cifar10_vgg11_w*.pt) when it
exists, else a small VGG trained with QCFS activations for two epochs; converted to IF neurons,
tested on 2,000 test images, then partitioned with ``tiles``, placed and analysed on xbar-mesh and loihi.

    .venv/bin/python examples/cifar_cnn.py [--cifar-checkpoint FILE] [--data DIR] [--cache DIR] [--hw loihi]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.app_suite import reference_cifar_checkpoint
from bench.common import CACHE, DATA
from spikeforge.cli import main

if __name__ == "__main__":
    reference = reference_cifar_checkpoint()
    args = ["suite", "--apps", "cifar-cnn", "--data", str(DATA), "--cache", str(CACHE)]
    raise SystemExit(main(args + (["--cifar-checkpoint", reference] if reference else []) + sys.argv[1:]))
