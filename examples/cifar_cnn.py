"""A CNN on CIFAR-10: the reference VGG-11 checkpoint (bench/checkpoints/cifar10_vgg11_w*.pt) when it
exists, else a small VGG trained with QCFS activations for two epochs; converted to IF neurons,
tested on 2,000 test images, then partitioned with ``tiles``, placed and analysed on xbar-mesh and loihi.

    .venv/bin/python examples/cifar_cnn.py [--cifar-checkpoint FILE] [--data DIR] [--cache DIR] [--hw loihi]
"""

from _suite import run_apps

if __name__ == "__main__":
    from bench.app_suite import reference_cifar_checkpoint

    reference = reference_cifar_checkpoint()
    run_apps("cifar-cnn", extra=("--cifar-checkpoint", reference) if reference else ())
