"""LeNet-5 on MNIST: trained on the 5k training images, converted to IF neurons, tested on the 10k test images;
then partitioned, placed and analysed (guaranteed throughput, latency, energy) on xbar-mesh and loihi.

    .venv/bin/python examples/mnist_lenet.py [--data DIR] [--cache DIR] [--hw loihi]

Data from ../shared/data (or $SPIKEFORGE_DATA); trained weights cached in ~/.cache/spikeforge.
"""

from _suite import run_apps

if __name__ == "__main__":
    run_apps("mnist-lenet5")
