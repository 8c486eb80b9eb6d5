r"""Spiking U-Net segmentation of ISBI 2012 electron-microscopy slices (after Patel et al.).

Data: the ISBI 2012 EM segmentation challenge training stack (30 serial-section TEM slices of the
Drosophila ventral nerve cord, 512×512, 8-bit), labels 255 = cell interior, 0 = membrane.
Non-commercial research use only; publications must cite TrakEM2 and Cardona A. et al. 2010,
PLoS Biol 8(10): e1000502. Slices 0–23 train, 24–29 validate (a fixed split: the test stack of the
challenge is unlabelled).

The network predicts two classes per pixel, 0 = membrane and 1 = cell interior (foreground).
Metrics, averaged over slices:

* pixel accuracy and foreground IoU :math:`|P \cap G| / |P \cup G|` of the cell-interior mask;
* adapted Rand error and variation of information (ISBI 2012 style) between *segmentations*:
  each mask is labelled into connected components of cell interior (4-connectivity,
  :func:`skimage.measure.label`); membrane is the boundary, label 0. Ground-truth membrane
  pixels are ignored (``ignore_labels=(0,)``), so predicted membrane inside a true cell counts as
  a wrong segment and a missing membrane merges two cells:

  .. math::
      \mathrm{ARE} = 1 - F_1(\text{Rand precision}, \text{Rand recall}), \qquad
      \mathrm{VI} = H(G \mid P) + H(P \mid G)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.api import ArrayLike, public
from spikeforge.errors import InvalidDataError
from spikeforge.regularize import ActivationRecorder, PercentileRegularizer

__all__ = [
    "CITATION",
    "RECIPE",
    "TRAIN_SLICES",
    "VAL_SLICES",
    "EMData",
    "foreground_iou",
    "load_isbi",
    "pixel_accuracy",
    "predict_torch",
    "random_crops",
    "save_comparison",
    "segment",
    "segmentation_errors",
    "segmentation_metrics",
    "train_or_load",
    "train_unet",
]

CITATION = ("ISBI 2012 EM data: non-commercial research use only; publications must cite TrakEM2 and "
            "Cardona A. et al. 2010, PLoS Biol 8(10): e1000502")
TRAIN_SLICES = tuple(range(24))
VAL_SLICES = tuple(range(24, 30))
_SPLITS = {"train": TRAIN_SLICES, "val": VAL_SLICES, "all": TRAIN_SLICES + VAL_SLICES}

#: The benchmark's U-Net recipe (``bench/unet_em.py``, ``examples/unet_em``): model options, initial
#: QCFS clip, training and regulariser settings. Sized for ~33 min on one shared CPU thread.
RECIPE: dict[str, Any] = {
    "model": {"base": 12, "depth": 3, "qcfs_levels": 4},
    "qcfs_clip_init": 2.0,
    "train": {"iterations": 4000, "crop": 128, "batch_size": 4, "lr": 2e-3, "max_seconds": 33 * 60, "seed": 0},
    "regularizer": {"q": 99.9, "lo": 0.25, "hi": 1.0, "weight": 0.01, "per_channel": True},
}


@dataclass(frozen=True, eq=False)
class EMData:
    """Slices and masks of one split.

    Attributes
    ----------
    images : float32 array (N, 1, H, W)
        Intensities in [0, 1] (8-bit value / 255).
    masks : uint8 array (N, H, W) or None
        1 = cell interior, 0 = membrane; None for the unlabelled test stack.
    slices : tuple of int
        Slice numbers (file names) in order.
    """

    images: np.ndarray
    masks: np.ndarray | None
    slices: tuple[int, ...]
    split: str

    def __len__(self) -> int:
        return len(self.slices)


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


@public
def load_isbi(root: str | os.PathLike, split: str = "train") -> EMData:
    """Load a split of the ISBI 2012 stack from ``root`` (the ``isbi2012`` folder).

    Parameters
    ----------
    root : path
        Folder holding ``train/image/0..29.png``, ``train/label/0..29.png`` (and ``test/``).
    split : {'train', 'val', 'all', 'test'}
        Slices 0–23, 24–29, 0–29 of the labelled stack, or the unlabelled test stack.

    Returns
    -------
    EMData

    Raises
    ------
    InvalidDataError
        Unknown split, missing folder or file (the message says where the data goes and its
        terms), or an image and label of different sizes.
    """
    root = Path(root)
    if split not in (*_SPLITS, "test"):
        raise InvalidDataError(f"ISBI split {split!r}: use one of train, val, all, test")
    folder = root / "test" if split == "test" else root / "train" / "image"
    if not folder.is_dir():
        raise InvalidDataError(
            f"ISBI 2012 data not found: {folder} is missing. Put the challenge's training stack as "
            f"{root}/train/image/0..29.png and {root}/train/label/0..29.png (512x512 8-bit PNG, label "
            f"255 = cell interior) and the test stack as {root}/test/0..29.png. {CITATION}.")
    slices = tuple(range(30)) if split == "test" else _SPLITS[split]
    images, masks = [], []
    for i in slices:
        image_path = folder / f"{i}.png"
        if not image_path.is_file():
            raise InvalidDataError(f"ISBI 2012 data incomplete: {image_path} is missing ({CITATION})")
        images.append(_read_png(image_path))
        if split != "test":
            label_path = root / "train" / "label" / f"{i}.png"
            if not label_path.is_file():
                raise InvalidDataError(f"ISBI 2012 data incomplete: {label_path} is missing ({CITATION})")
            label = _read_png(label_path)
            if label.shape != images[-1].shape:
                raise InvalidDataError(f"ISBI slice {i}: label {label.shape} and image {images[-1].shape} differ")
            masks.append((label > 127).astype(np.uint8))
    x = (np.stack(images)[:, None].astype(np.float32) / 255.0)
    return EMData(x, np.stack(masks) if masks else None, slices, split)


@public
def random_crops(images: np.ndarray, masks: np.ndarray, size: int, count: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random ``size``×``size`` crops with random flips and 90° rotations (the 8
    symmetries of the square, which EM slices share).

    Returns
    -------
    x : float32 (count, 1, size, size), y : int64 (count, size, size)

    Raises
    ------
    InvalidDataError
        ``size`` larger than the slices or not positive.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x, y = random_crops(np.zeros((2, 1, 8, 8), np.float32), np.ones((2, 8, 8), np.uint8), 4, 3, rng)
    >>> x.shape, y.shape, int(y.sum())
    ((3, 1, 4, 4), (3, 4, 4), 48)
    """
    n, _, h, w = images.shape
    if not 0 < size <= min(h, w):
        raise InvalidDataError(f"crop size {size}: must lie in 1..{min(h, w)} for {h}×{w} slices")
    xs = np.empty((count, 1, size, size), np.float32)
    ys = np.empty((count, size, size), np.int64)
    for k in range(count):
        i = rng.integers(n)
        r, c = rng.integers(h - size + 1), rng.integers(w - size + 1)
        x, y = images[i, 0, r:r + size, c:c + size], masks[i, r:r + size, c:c + size]
        turns, flip = int(rng.integers(4)), bool(rng.integers(2))
        x, y = np.rot90(x, turns), np.rot90(y, turns)
        if flip:
            x, y = x[:, ::-1], y[:, ::-1]
        xs[k, 0], ys[k] = x, y
    return xs, ys


def to_tiles(images: np.ndarray, size: int) -> np.ndarray:
    """Cut (N, C, H, W) slices into non-overlapping ``size``² tiles, (N·(H/size)·(W/size), C, size, size),
    row-major per slice; a fully convolutional network then runs on tiles (less memory).

    Raises
    ------
    InvalidDataError
        ``size`` does not divide the slice height and width.

    Examples
    --------
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> t = to_tiles(x, 2)
    >>> t.shape, t[1, 0].tolist(), bool((from_tiles(t[:, 0], 4) == x[:, 0]).all())
    ((4, 1, 2, 2), [[2.0, 3.0], [6.0, 7.0]], True)
    """
    n, c, h, w = images.shape
    if size < 1 or h % size or w % size:
        raise InvalidDataError(f"tile size {size} does not divide {h}×{w} slices")
    t = images.reshape(n, c, h // size, size, w // size, size)
    return t.transpose(0, 2, 4, 1, 3, 5).reshape(-1, c, size, size)


def from_tiles(tiles: np.ndarray, side: int) -> np.ndarray:
    """Inverse of :func:`to_tiles` for square slices of ``side`` pixels: (N·k², s, s) → (N, side, side)."""
    s = tiles.shape[-1]
    k = side // s
    return tiles.reshape(-1, k, k, s, s).transpose(0, 1, 3, 2, 4).reshape(-1, side, side)


@public
def segment(logits: ArrayLike) -> np.ndarray:
    """Class scores (N, 2, H, W) → cell-interior mask (N, H, W), uint8 (argmax)."""
    return np.asarray(logits).argmax(1).astype(np.uint8)


def _check_pair(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, truth = np.asarray(pred).astype(bool), np.asarray(truth).astype(bool)
    if pred.shape != truth.shape:
        raise InvalidDataError(f"prediction {pred.shape} and ground truth {truth.shape} differ in shape")
    return pred, truth


@public
def pixel_accuracy(pred: ArrayLike, truth: ArrayLike) -> float:
    """Fraction of pixels whose class (cell interior / membrane) is right.

    Examples
    --------
    >>> pixel_accuracy(np.array([[1, 1], [0, 0]]), np.array([[1, 0], [0, 0]]))
    0.75
    """
    pred, truth = _check_pair(pred, truth)
    return float((pred == truth).mean())


@public
def foreground_iou(pred: ArrayLike, truth: ArrayLike) -> float:
    """IoU of the cell-interior (foreground) masks; 1.0 when both are empty.

    Examples
    --------
    >>> foreground_iou(np.array([[1, 1], [0, 0]]), np.array([[1, 0], [0, 0]]))
    0.5
    """
    pred, truth = _check_pair(pred, truth)
    union = int((pred | truth).sum())
    return float((pred & truth).sum() / union) if union else 1.0


@public
def segmentation_errors(pred: ArrayLike, truth: ArrayLike) -> tuple[float, float]:
    """Adapted Rand error and variation of information of one slice (module docstring convention).

    Examples
    --------
    >>> truth = np.array([[1, 1, 0, 1, 1]] * 3)
    >>> segmentation_errors(truth, truth)
    (0.0, 0.0)
    >>> are, vi = segmentation_errors(np.ones_like(truth), truth)   # the two cells merged
    >>> round(are, 3), round(vi, 3)
    (0.375, 1.0)
    """
    from skimage.measure import label
    from skimage.metrics import adapted_rand_error, variation_of_information

    pred, truth = _check_pair(pred, truth)
    seg_pred, seg_true = label(pred, connectivity=1), label(truth, connectivity=1)
    are = adapted_rand_error(seg_true, seg_pred, ignore_labels=(0,))[0]
    vi = variation_of_information(seg_true, seg_pred, ignore_labels=(0,))
    return float(are), float(np.sum(vi))


@public
def segmentation_metrics(pred: ArrayLike, truth: ArrayLike) -> dict[str, float]:
    """Pixel accuracy, foreground IoU, adapted Rand error and VI, each the mean over slices.

    Parameters
    ----------
    pred, truth : arrays (N, H, W)
        Cell-interior masks (nonzero = cell interior).

    Raises
    ------
    InvalidDataError
        Shapes differ or are not (N, H, W).
    """
    pred, truth = _check_pair(pred, truth)
    if pred.ndim != 3:
        raise InvalidDataError(f"masks of shape {pred.shape}: need (N, H, W)")
    rows = [(pixel_accuracy(p, t), foreground_iou(p, t), *segmentation_errors(p, t)) for p, t in zip(pred, truth)]
    mean = np.mean(rows, axis=0)
    return {"pixel_accuracy": float(mean[0]), "foreground_iou": float(mean[1]),
            "adapted_rand_error": float(mean[2]), "variation_of_information": float(mean[3])}


@public
def train_unet(model: nn.Module, data: EMData, *, iterations: int, crop: int = 128, batch_size: int = 4,
               lr: float = 2e-3, weight_decay: float = 1e-4, regularizer: PercentileRegularizer | None = None,
               max_seconds: float | None = None, seed: int = 0,
               on_step: Callable[[int, float, float], None] | None = None) -> tuple[nn.Module, int]:
    r"""Train a segmentation network on random augmented crops; return it (eval mode) and the
    iterations done.

    Loss: pixel-wise cross entropy plus the regulariser on every ReLU/QCFS output (see
    :mod:`spikeforge.regularize`); AdamW with a cosine learning-rate decay over the progress
    :math:`\pi = \max(i / \text{iterations},\ t / \text{max\_seconds})`, so a wall-time budget on
    a busy machine still ends with a fully decayed learning rate:

    .. math::
        \eta_i = \tfrac12\,\eta_0\,(1 + \cos \pi\pi_i)

    Parameters
    ----------
    iterations : int
        Most optimiser steps.
    max_seconds : float, optional
        Wall-time budget; training stops when it is used up.
    on_step : callable, optional
        Called as ``on_step(iteration, cross_entropy, regulariser_loss)`` (progress bars).

    Raises
    ------
    InvalidDataError
        ``data`` has no masks, or ``iterations`` / ``batch_size`` are not positive.
    """
    if data.masks is None:
        raise InvalidDataError(f"ISBI split {data.split!r} has no labels to train on")
    if iterations < 1 or batch_size < 1:
        raise InvalidDataError(f"iterations = {iterations}, batch_size = {batch_size}: both must be ≥ 1")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    start = time.perf_counter()
    done = 0
    with ActivationRecorder(model) as rec:
        while done < iterations:
            progress = done / iterations
            if max_seconds is not None:
                progress = max(progress, (time.perf_counter() - start) / max_seconds)
            if progress >= 1.0:
                break
            for group in opt.param_groups:
                group["lr"] = 0.5 * lr * (1.0 + math.cos(math.pi * progress))
            x, y = random_crops(data.images, data.masks, crop, batch_size, rng)
            rec.clear()
            ce = F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
            reg = regularizer(rec.activations) if regularizer is not None else torch.zeros(())
            opt.zero_grad()
            (ce + reg).backward()
            opt.step()
            done += 1
            if on_step:
                on_step(done, ce.item(), reg.item())
    return model.eval(), done


@public
def train_or_load(data: EMData, recipe: Mapping[str, Any] = RECIPE, cache: str | os.PathLike | None = None, *,
                  progress: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """The U-Net of ``recipe`` from the checkpoint cache, trained (and cached) first when absent.

    The checkpoint is ``<cache>/checkpoints/unet_em_<hash of recipe>.pt`` (a model file, see
    :func:`~spikeforge.frontends.model_file.save_model`) with its training record beside it as
    ``.json``; ``cache`` defaults to ``$SPIKEFORGE_CACHE`` or ``~/.cache/spikeforge``.

    Returns
    -------
    model : nn.Module (eval mode, QCFS activations)
    record : dict
        Iterations done, training seconds, losses every 50 iterations, load average.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from spikeforge.frontends.model_file import load_model, save_model
    from spikeforge.models import build_model
    from spikeforge.models.layers import relu_to_qcfs

    cache = Path(cache or os.environ.get("SPIKEFORGE_CACHE", Path.home() / ".cache" / "spikeforge"))
    key = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]
    path = cache / "checkpoints" / f"unet_em_{key}.pt"
    record_path = path.with_suffix(".json")
    if path.exists() and record_path.exists():
        return load_model(path)[0], json.loads(record_path.read_text())
    options = dict(recipe["model"])
    levels = options.pop("qcfs_levels")
    t = recipe["train"]
    model, _ = build_model("unet", size=t["crop"], **options)
    relu_to_qcfs(model, levels=levels, clip=recipe["qcfs_clip_init"])
    losses: list[tuple[int, float, float]] = []
    t0 = time.perf_counter()
    with Progress(TextColumn("training U-Net"), BarColumn(), TextColumn("{task.completed}/{task.total} it"),
                  TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), disable=not progress) as bar:
        task = bar.add_task("train", total=t["iterations"], loss="")

        def on_step(i: int, ce: float, reg: float) -> None:
            if i % 50 == 0 or i == 1:
                losses.append((i, ce, reg))
                bar.update(task, completed=i, loss=f"CE {ce:.3f} reg {reg:.4f}")

        model, done = train_unet(model, data, iterations=t["iterations"], crop=t["crop"],
                                 batch_size=t["batch_size"], lr=t["lr"],
                                 regularizer=PercentileRegularizer(**recipe["regularizer"]),
                                 max_seconds=t["max_seconds"], seed=t["seed"], on_step=on_step)
    record = {"iterations_done": done, "train_seconds": time.perf_counter() - t0, "losses": losses,
              "torch_threads": torch.get_num_threads(), "load_average_end": os.getloadavg(), "config": recipe}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(path, model, "unet", {**recipe["model"], "size": t["crop"]})
    record_path.write_text(json.dumps(record, indent=1))
    return model, record


@public
def predict_torch(model: nn.Module, images: np.ndarray) -> tuple[np.ndarray, float]:
    """Scores of a PyTorch model, one slice at a time (online, batch 1), and seconds per slice."""
    model.eval()
    outs = []
    t0 = time.perf_counter()
    with torch.inference_mode():
        for img in images:
            outs.append(model(torch.from_numpy(img[None])).numpy())
    return np.concatenate(outs), (time.perf_counter() - t0) / len(images)


@public
def save_comparison(path: str | os.PathLike, image: ArrayLike, truth: np.ndarray,
                    predictions: Mapping[str, np.ndarray], title: str = "") -> Path:
    """Side-by-side PNG: input slice, ground truth, then one panel per prediction (e.g. ANN, SNN).

    Parameters
    ----------
    image : array (H, W) or (1, H, W)
        Intensities in [0, 1].
    truth : array (H, W)
        Cell-interior mask.
    predictions : mapping of panel title to mask (H, W)
        Each panel's title gets its pixel accuracy and foreground IoU.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("input", np.asarray(image).reshape(np.shape(truth))), ("ground truth", truth)]
    panels += [(f"{k}\nacc {pixel_accuracy(v, truth):.3f}, IoU {foreground_iou(v, truth):.3f}", v)
               for k, v in predictions.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
    for ax, (name, img) in zip(np.atleast_1d(axes), panels):
        ax.imshow(img, cmap="gray", interpolation="nearest", vmin=0, vmax=1)   # masks: 1 = white
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93 if title else 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
