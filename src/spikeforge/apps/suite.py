"""The standard SNN application suite: six applications, each mapped and analysed on two chips.

After the evaluation suite of Song et al., *Compiling Spiking Neural Networks to Neuromorphic
Hardware* (LCTES 2020): image smoothing and edge detection (hand-built SNNs), MLP and LeNet-5 on
MNIST, a CNN on CIFAR-10, and heartbeat classification on ECG. Each application is converted
(or built) and simulated once; the SNN and its profile then go through the compiler's own passes
(:func:`~spikeforge.pipeline.partition_pass`, ``place_pass``, ``dataflow_pass``,
``analyse_pass``) on every hardware, giving one :class:`SuiteRow` per (application, hardware):
neurons, synapses, the application's metric, clusters, crossbars, guaranteed throughput,
latency and energy per inference (estimate).

Data live under one folder (``mnist/``, ``cifar10/``, ``ecg/``, ``isbi2012/``, as
``../shared/data``); an application whose data is missing raises
:class:`~spikeforge.errors.InvalidDataError` saying where to put it, and the suite records the
row as skipped with that reason. Trained models are cached under ``cache/checkpoints``.

    python -m spikeforge.apps.suite --data ../shared/data [--apps mnist-mlp em-edges] [--hw loihi]
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from spikeforge.api import public
from spikeforge.datasets import Dataset
from spikeforge.errors import InvalidDataError, SpikeforgeError
from spikeforge.ir.network import Network
from spikeforge.mapping.place import DEFAULT_PLACER

__all__ = [
    "APPS",
    "HARDWARE",
    "AppResult",
    "SuiteConfig",
    "SuiteResult",
    "SuiteRow",
    "map_app",
    "run_suite",
    "suite_table",
]

HARDWARE = ("xbar-mesh", "loihi")


@dataclass(frozen=True)
class SuiteConfig:
    """Sizes and training budgets of the suite (defaults: a few CPU minutes per application)."""

    timesteps: int = 8                   # MNIST and CIFAR-10 classifiers
    ecg_timesteps: int = 16
    filter_timesteps: int = 32
    mnist_train: int | None = None       # None: all (5,000); test on all 10,000 unless mnist_test
    mnist_test: int | None = None
    mlp_hidden: tuple[int, ...] = (256, 128)
    mlp_epochs: int = 20
    lenet_epochs: int = 15
    cifar_checkpoint: str | None = None  # a model file (e.g. the reference VGG-11); None: train the fallback
    cifar_width: float = 0.25            # fallback: VGG 'small', QCFS (4 levels)
    cifar_train: int | None = 20_000
    cifar_epochs: int = 2
    cifar_test: int | None = 2_000
    calib_samples: int = 1_000
    ecg_epochs: int = 30
    ecg_width: int = 8
    crop_size: int = 64
    crops: int = 8
    placer: str = DEFAULT_PLACER
    seed: int = 0

    @classmethod
    def tiny(cls) -> SuiteConfig:
        """Seconds-long settings for tests: few images, narrow layers, one epoch."""
        return cls(timesteps=4, ecg_timesteps=4, filter_timesteps=8, mnist_train=200, mnist_test=50,
                   mlp_hidden=(16,), mlp_epochs=1, lenet_epochs=1, cifar_width=0.125, cifar_train=200,
                   cifar_epochs=1, cifar_test=20, calib_samples=64, ecg_epochs=1, ecg_width=2, crop_size=12,
                   crops=2)


@dataclass(frozen=True, eq=False)
class AppResult:
    """An application's SNN, its activity profile and its metric, before mapping."""

    name: str
    snn: Network
    profile: Any                     # spikeforge.sim.simulator.Profile
    timesteps: int
    partitioner: str
    metric: str                      # as shown in the table
    model: str                       # what was trained, converted or built
    data: str                        # what it was evaluated on
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SuiteRow:
    """One application on one hardware; ``skipped`` holds the reason when it could not run."""

    app: str
    hardware: str
    model: str = ""
    data: str = ""
    partitioner: str = ""
    timesteps: int = 0
    neurons: int = 0
    synapses: int = 0
    metric: str = ""
    clusters: int = 0
    crossbars: int = 0
    chips: int = 0
    inferences_per_s: float = math.nan
    latency_us: float = math.nan
    energy_uj: float = math.nan
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class SuiteResult:
    rows: tuple[SuiteRow, ...]
    apps: dict[str, AppResult]


# ---------------------------------------------------------------------------------------------
# helpers


def _task(progress: Progress | None, description: str, total: int) -> Callable[..., None]:
    """A progress callback ``(done, *_)`` for ``fit``'s ``on_epoch`` or ``simulate``'s ``on_batch``."""
    if progress is None:
        return lambda *_: None
    task = progress.add_task(description, total=total)
    return lambda done, *_: progress.update(task, completed=done)


def _require(folder: Path, files: Sequence[str], what: str) -> None:
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise InvalidDataError(f"{what}: {', '.join(missing)} not found in {folder}; put the files there "
                               f"(see ../shared/data/README.md)")


def _trained(model: torch.nn.Module, arch: str, options: dict[str, Any], train: Dataset, path: Path | None,
             epochs: int, seed: int, on_epoch: Callable[..., None]) -> torch.nn.Module:
    """``model`` trained with :func:`spikeforge.train.fit` and saved as a model file at ``path``,
    or loaded from it when it exists."""
    from spikeforge.frontends.model_file import load_model, save_model
    from spikeforge.train import fit

    if path is not None and path.is_file():
        return load_model(path)[0]
    fit(model, train, epochs=epochs, lr=3e-3, batch_size=64, seed=seed, on_epoch=on_epoch)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_model(path, model, arch, options)
    return model.eval()


def _classifier(name: str, model: torch.nn.Module, shape: tuple[int, ...], calib: np.ndarray, test: Dataset,
                timesteps: int, progress: Progress | None) -> tuple[Network, Any, float, float]:
    """Import, convert (p99.9 normalisation; QCFS clips where trained) and simulate on ``test``:
    the SNN, its profile, the ANN's and the SNN's accuracy."""
    from spikeforge.convert.normalise import convert
    from spikeforge.frontends.torch_fx import import_torch
    from spikeforge.sim.simulator import simulate
    from spikeforge.train import accuracy

    ann = import_torch(model.eval(), shape, name=name)
    snn = convert(ann, calib, statistic="p99.9")
    sim = simulate(snn, test.x, timesteps=timesteps, labels=test.y,
                   on_batch=_task(progress, f"{name}: simulate", len(test)))
    return snn, sim.profile, accuracy(model, test), sim.accuracy[timesteps]


def _acc(snn_acc: float, ann_acc: float) -> str:
    return f"{100 * snn_acc:.2f}% (ANN {100 * ann_acc:.2f}%)"


def _synapses(snn: Network) -> int:
    return sum(snn.synapse_count(n) for n in snn.nodes)


def _subset(data: Dataset, n: int | None, seed: int) -> Dataset:
    """``n`` samples (all when None) in a seeded random order: the MNIST and CIFAR-10 files are
    sorted by class, so a prefix would hold one class."""
    order = np.random.default_rng(seed).permutation(len(data))[:n]
    return Dataset(data.x[order], data.y[order], data.name)


def _checkpoint(cache: Path | None, stem: str) -> Path | None:
    return None if cache is None else cache / "checkpoints" / f"apps_{stem}.pt"


# ---------------------------------------------------------------------------------------------
# the applications


def _mnist(root: Path, config: SuiteConfig, flat: bool = False) -> tuple[Dataset, Dataset]:
    """(train, test) MNIST, as (N, 784) vectors when ``flat``."""
    from spikeforge.datasets import mnist

    folder = root / "mnist"
    _require(folder, ("mnist_5k_train.csv.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"), "MNIST")
    train = _subset(mnist(folder, "train"), config.mnist_train, config.seed)
    test = _subset(mnist(folder, "test"), config.mnist_test, config.seed)
    if flat:
        train, test = (Dataset(d.x.reshape(len(d), -1), d.y, d.name) for d in (train, test))
    return train, test


def _mnist_classifier(name: str, arch: str, options: dict[str, Any], epochs: int, stem: str, partitioner: str,
                      described: str, root: Path, cache: Path | None, config: SuiteConfig,
                      progress: Progress | None, flat: bool = False) -> AppResult:
    """``arch`` trained for ``epochs`` on the MNIST training images (checkpoint name starting ``stem``),
    converted and tested on the MNIST test images."""
    from spikeforge.models import build_model

    train, test = _mnist(root, config, flat)
    torch.manual_seed(config.seed)
    model, shape = build_model(arch, **options)
    path = _checkpoint(cache, f"{stem}_n{len(train)}_s{config.seed}")
    model = _trained(model, arch, options, train, path, epochs, config.seed,
                     _task(progress, f"{name}: train", epochs))
    snn, prof, ann_acc, acc = _classifier(name, model, shape, train.x[:config.calib_samples], test,
                                          config.timesteps, progress)
    return AppResult(name, snn, prof, config.timesteps, partitioner, _acc(acc, ann_acc),
                     f"{described} on {len(train):,} images",
                     f"MNIST test, {len(test):,} images", {"ann_accuracy": ann_acc, "snn_accuracy": acc})


def mnist_mlp(root: Path, cache: Path | None, config: SuiteConfig, progress: Progress | None = None) -> AppResult:
    """MLP 784-…-10 trained on the 5k MNIST training images, tested on the 10k test images."""
    widths = "-".join(map(str, config.mlp_hidden))
    return _mnist_classifier("mnist-mlp", "mlp", {"hidden": tuple(config.mlp_hidden)}, config.mlp_epochs,
                             f"mnist_mlp_h{widths}_e{config.mlp_epochs}", "greedy",
                             f"MLP 784-{widths}-10, {config.mlp_epochs} epochs", root, cache, config, progress,
                             flat=True)


def mnist_lenet(root: Path, cache: Path | None, config: SuiteConfig, progress: Progress | None = None) -> AppResult:
    """LeNet-5 trained on the 5k MNIST training images, tested on the 10k test images."""
    return _mnist_classifier("mnist-lenet5", "lenet5", {}, config.lenet_epochs,
                             f"mnist_lenet5_e{config.lenet_epochs}", "hypergraph",
                             f"LeNet-5, {config.lenet_epochs} epochs", root, cache, config, progress)


def cifar_cnn(root: Path, cache: Path | None, config: SuiteConfig, progress: Progress | None = None) -> AppResult:
    """A CNN on CIFAR-10: the model file ``config.cifar_checkpoint`` when given (e.g. the reference
    VGG-11), else the fallback, VGG 'small' at ``cifar_width`` trained with QCFS activations
    (4 levels, so few timesteps suffice) for ``cifar_epochs`` epochs. Mapped with ``tiles``:
    the structure-aware partitioner keeps conv nets of 10⁴–10⁵ neurons tractable on 128×128
    crossbars, where neuron-level views are not."""
    from spikeforge.datasets import cifar10
    from spikeforge.frontends.model_file import load_model
    from spikeforge.models import build_model

    folder = root / "cifar10"
    _require(folder, ("train_jpeg.npz", "test_jpeg.npz"), "CIFAR-10")
    train = _subset(cifar10(folder, "train", cache=cache), config.cifar_train, config.seed)
    test = _subset(cifar10(folder, "test", cache=cache), config.cifar_test, config.seed)
    if config.cifar_checkpoint:
        model, shape = load_model(config.cifar_checkpoint)
        described = f"checkpoint {Path(config.cifar_checkpoint).name}"
    else:
        options = {"config": "small", "width": config.cifar_width, "qcfs_levels": 4}
        torch.manual_seed(config.seed)
        model, shape = build_model("vgg", **options)
        n = len(train)
        path = _checkpoint(cache, f"cifar10_vgg-small_w{config.cifar_width}_qcfs4_e{config.cifar_epochs}_n{n}"
                                  f"_s{config.seed}")
        model = _trained(model, "vgg", options, train, path, config.cifar_epochs, config.seed,
                            _task(progress, "cifar-cnn: train", config.cifar_epochs))
        described = (f"fallback VGG-small ×{config.cifar_width} (QCFS), {config.cifar_epochs} epochs on "
                     f"{n:,} images")
    snn, prof, ann_acc, acc = _classifier("cifar-cnn", model, shape, train.x[:config.calib_samples], test,
                                          config.timesteps, progress)
    return AppResult("cifar-cnn", snn, prof, config.timesteps, "tiles", _acc(acc, ann_acc), described,
                     f"CIFAR-10 test, {len(test):,} images", {"ann_accuracy": ann_acc, "snn_accuracy": acc,
                                                              "checkpoint": config.cifar_checkpoint})


def ecg_heartbeat(root: Path, cache: Path | None, config: SuiteConfig, progress: Progress | None = None) -> AppResult:
    """Normal vs abnormal beats of MIT-BIH record 100 (:mod:`spikeforge.apps.ecg`)."""
    from spikeforge.apps.ecg import run_heartbeat

    r = run_heartbeat(root / "ecg", cache=cache, epochs=config.ecg_epochs, width=config.ecg_width,
                      timesteps=config.ecg_timesteps, seed=config.seed,
                      on_epoch=_task(progress, "ecg-heartbeat: train", config.ecg_epochs))
    figures = {k: getattr(r, k) for k in ("train_counts", "test_counts", "split_s", "window", "ann_accuracy",
                                          "ann_balanced_accuracy", "accuracy", "balanced_accuracy",
                                          "recall_normal", "recall_abnormal")}
    return AppResult("ecg-heartbeat", r.snn, r.profile, r.timesteps, "greedy",
                     f"{100 * r.accuracy:.2f}%, balanced {100 * r.balanced_accuracy:.1f}% (recall N "
                     f"{100 * r.recall_normal:.1f}%, abn. {100 * r.recall_abnormal:.1f}%)",
                     f"1-D CNN (width {config.ecg_width}), {config.ecg_epochs} epochs, abnormal beats repeated "
                     f"to balance",
                     f"record 100 after {r.split_s / 60:.0f} min: {r.test_counts[0]} N + {r.test_counts[1]} abnormal "
                     f"beats (trained on the first {r.split_s / 60:.0f} min)", figures)


def _em(bank: str, root: Path, config: SuiteConfig, progress: Progress | None) -> AppResult:
    from spikeforge.apps.filters import BANKS, em_crops, run_filter

    images = em_crops(root / "isbi2012", config.crop_size, config.crops, config.seed)
    r = run_filter(images, bank, timesteps=config.filter_timesteps,
                   on_batch=_task(progress, f"em-{bank}: simulate", len(images)))
    kernels = ", ".join(f"{k}{'' if s > 0 else ' OFF'}" for k, s in BANKS[bank])
    return AppResult(f"em-{bank}", r.snn, r.profile, r.timesteps, "greedy",
                     f"PSNR {r.psnr_db:.1f} dB, r = {r.correlation:.4f}",
                     f"hand-built SparseLinear: retina + {kernels} (3×3)",
                     f"{r.images} ISBI 2012 EM crops {r.size}×{r.size}",
                     {"psnr_db": r.psnr_db, "correlation": r.correlation, "max_error": r.max_error})


def em_smoothing(root: Path, cache: Path | None, config: SuiteConfig, progress: Progress | None = None) -> AppResult:
    """3×3 Gaussian smoothing of EM crops (:mod:`spikeforge.apps.filters`)."""
    return _em("smoothing", root, config, progress)


def em_edges(root: Path, cache: Path | None, config: SuiteConfig, progress: Progress | None = None) -> AppResult:
    """Sobel x/y edges with ON/OFF channels on EM crops (:mod:`spikeforge.apps.filters`)."""
    return _em("edges", root, config, progress)


#: Application name → builder ``(data_root, cache, config, progress) -> AppResult``.
APPS: dict[str, Callable[..., AppResult]] = {
    "em-smoothing": em_smoothing, "em-edges": em_edges, "mnist-mlp": mnist_mlp, "mnist-lenet5": mnist_lenet,
    "cifar-cnn": cifar_cnn, "ecg-heartbeat": ecg_heartbeat,
}


# ---------------------------------------------------------------------------------------------
# mapping and the table


@public
def map_app(app: AppResult, hardware: str, *, placer: str = DEFAULT_PLACER, progress: Progress | None = None) -> SuiteRow:
    """Partition, place, build the SDFG and analyse ``app`` on ``hardware`` with the pipeline's
    passes, on as many chips as the partition needs.

    Raises
    ------
    SpikeforgeError
        Unknown hardware, or a mapping the hardware cannot hold.
    """
    from spikeforge.hardware import load_hardware
    from spikeforge.pipeline import (
        analyse_pass,
        chips_needed,
        dataflow_pass,
        partition_pass,
        place_pass,
    )

    hw = load_hardware(hardware)
    step = _task(progress, f"{app.name} on {hardware}: map", 4)
    part = partition_pass(app.snn, app.profile, hw, app.partitioner)
    step(1)
    placement = place_pass(part, hw, placer, chips_needed(part.n_clusters, hw), None)
    step(2)
    # without time-multiplexing the binding strategy is unused: the placement is the binding
    _, schedule, graph, platform = dataflow_pass(placement, app.profile, hw, "in-order", None)
    step(3)
    g, figures = analyse_pass(graph, placement, app.profile, schedule, platform, app.timesteps)
    step(4)
    r = figures["resources"]
    return SuiteRow(app.name, hardware, app.model, app.data, app.partitioner, app.timesteps,
                    app.snn.neuron_count(), _synapses(app.snn), app.metric,
                    r["clusters"], r["crossbars"], r["chips"], g.inferences_per_s, g.latency_ns / 1e3,
                    figures["energy_per_inference_j"] * 1e6)


@public
def run_suite(data_root: str | os.PathLike, cache: str | os.PathLike | None = None, *,
              apps: Sequence[str] = tuple(APPS), hardware: Sequence[str] = HARDWARE,
              config: SuiteConfig = SuiteConfig(), console: Console | None = None,
              quiet: bool = False) -> SuiteResult:
    """Run ``apps`` and map each on every ``hardware``; an application whose data is missing (or
    whose mapping fails) gives skipped rows carrying the error's message.

    Raises
    ------
    InvalidDataError
        An unknown application name.
    """
    unknown = [a for a in apps if a not in APPS]
    if unknown:
        raise InvalidDataError(f"unknown application(s) {', '.join(unknown)}; known: {', '.join(APPS)}")
    root, cache = Path(data_root), None if cache is None else Path(cache)
    rows, results = [], {}
    progress = None if quiet else Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
                                           TimeElapsedColumn(), console=console)
    with progress or nullcontext():
        for name in apps:
            try:
                results[name] = app = APPS[name](root, cache, config, progress)
            except SpikeforgeError as exc:
                rows += [SuiteRow(name, hw, skipped=str(exc)) for hw in hardware]
                continue
            for hw in hardware:
                try:
                    rows.append(map_app(app, hw, placer=config.placer, progress=progress))
                except SpikeforgeError as exc:
                    rows.append(SuiteRow(name, hw, app.model, app.data, app.partitioner, app.timesteps,
                                         app.snn.neuron_count(), _synapses(app.snn), app.metric, skipped=str(exc)))
    return SuiteResult(tuple(rows), results)


COLUMNS = ("application", "hardware", "partitioner", "T", "neurons", "synapses", "accuracy / metric", "clusters",
           "crossbars", "chips", "throughput (inf/s)", "latency (µs)", "energy (µJ/inf)")


def row_cells(row: SuiteRow) -> list[str]:
    """The table cells of a row (:data:`COLUMNS`); a skipped row says why."""
    if row.skipped is not None and not row.neurons:
        return [row.app, row.hardware, f"skipped: {row.skipped}"] + [""] * (len(COLUMNS) - 3)
    mapped = row.skipped is None
    return [row.app, row.hardware, row.partitioner, str(row.timesteps), f"{row.neurons:,}", f"{row.synapses:,}",
            row.metric, f"{row.clusters:,}" if mapped else f"not mapped: {row.skipped}",
            f"{row.crossbars:,}" if mapped else "", f"{row.chips:,}" if mapped else "",
            f"{row.inferences_per_s:,.0f}" if mapped else "", f"{row.latency_us:,.1f}" if mapped else "",
            f"{row.energy_uj:,.2f}" if mapped else ""]


@public
def suite_table(rows: Sequence[SuiteRow]) -> Table:
    """One table: every application on every hardware (skipped rows give their reason)."""
    table = Table(title="spikeforge application suite (guaranteed throughput and latency; energy is an estimate)")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("application", "hardware", "partitioner",
                                                        "accuracy / metric") else "right")
    for row in rows:
        table.add_row(*row_cells(row))
    return table
