"""Data sets: the embedded default (scikit-learn's digits), user npz files, and loaders for
MNIST, CIFAR-10 and the other real data sets in their published formats.

Inputs are float32 arrays (N, C, H, W) scaled to [0, 1]; labels int64 (N,).
"""

from __future__ import annotations

import gzip
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikeforge.api import public
from spikeforge.errors import InvalidDataError
from spikeforge.fileio import npz_headers, read_npz
from spikeforge.outputs import atomic_file
from spikeforge.resources import check_memory


@dataclass(frozen=True, eq=False)
class Dataset:
    """Inputs ``x`` (N, ...) float32 and optional labels ``y`` (N,) int64."""

    x: np.ndarray
    y: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.x.ndim < 2 or self.x.shape[0] == 0:
            raise InvalidDataError(f"data {self.name}: shape {self.x.shape} holds no samples")
        if self.y is not None and self.y.shape != (self.x.shape[0],):
            raise InvalidDataError(f"data {self.name}: {self.y.shape} labels for {self.x.shape[0]} samples")

    def __len__(self) -> int:
        return self.x.shape[0]

    def take(self, n: int) -> Dataset:
        return Dataset(self.x[:n], None if self.y is None else self.y[:n], self.name)


@public
def digits(split: str = "all", seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """scikit-learn's bundled 8×8 digits (1,797 images), as (N, 1, 8, 8) in [0, 1].

    ``split`` is ``'train'``, ``'test'`` (a fixed stratified 75/25 split) or ``'all'``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]
    y = bunch.target.astype(np.int64)
    if split == "all":
        return Dataset(x, y, "digits")
    if split not in ("train", "test"):
        raise InvalidDataError(f"digits split {split!r}: use 'train', 'test' or 'all'")
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Dataset(xtr, ytr, "digits-train") if split == "train" else Dataset(xte, yte, "digits-test")


@public
def load_data(spec: str | os.PathLike) -> Dataset:
    """Load data named on the command line: ``digits[:train|test]`` or an ``.npz`` file with ``x``
    (N, ...) and optionally ``y`` (N,). npz files are read with ``allow_pickle=False``.

    Raises
    ------
    InvalidDataError
        Unknown name; a missing file, not a regular file, or one too large; not an npz archive
        (an ``.npy``, a truncated or corrupt archive); no ``x``; ``x`` not numbers, with no
        samples, or not finite; ``y`` not integers ≥ 0 or not one label per sample.
    spikeforge.errors.ResourceError
        The arrays do not fit in the free memory (checked from their declared shapes, before
        reading them).
    """
    text = str(spec)
    if text.split(":")[0] == "digits":
        return digits(text.split(":")[1] if ":" in text else "all")
    path = Path(text)
    if not path.exists() and not path.is_symlink():
        raise InvalidDataError(f"{path}: no such data file (use an .npz with 'x' and 'y', or 'digits')")
    # Shapes and dtypes are checked from the npy headers, before any array is read.
    headers = npz_headers(path, "data", error=InvalidDataError)
    if "x" not in headers:
        raise InvalidDataError(f"data {path}: no array 'x' (found {', '.join(sorted(headers)) or 'none'})")
    x_shape, x_dtype = headers["x"]
    if x_dtype.kind not in "fiub":
        raise InvalidDataError(f"data {path}: x has dtype {x_dtype}, expected numbers")
    if len(x_shape) < 2 or x_shape[0] == 0:
        raise InvalidDataError(f"data {path}: x has shape {x_shape}, expected (N, ...) with N ≥ 1 samples")
    if "y" in headers:
        y_shape, y_dtype = headers["y"]
        if y_dtype.kind not in "iu":
            raise InvalidDataError(f"data {path}: y has dtype {y_dtype}, expected integer class labels")
        if y_shape != x_shape[:1]:
            raise InvalidDataError(f"data {path}: y has shape {y_shape}, expected ({x_shape[0]},), "
                                   f"one label per sample of x")
    n = math.prod(x_shape)
    # x as stored, its float32 copy and a finiteness mask.
    check_memory(n * x_dtype.itemsize + 4 * n + n, f"data {path}")
    arrays = read_npz(path, "data", error=InvalidDataError, names=("x", "y"))
    with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 become Inf, refused below
        x = arrays["x"].astype(np.float32, copy=False)
    finite = np.isfinite(x)
    if not finite.all():
        cast = "" if x_dtype == np.float32 else f" as float32 (stored as {x_dtype})"
        raise InvalidDataError(f"data {path}: x holds {int(finite.size - finite.sum())} NaN or Inf values{cast}")
    del finite
    y = arrays.get("y")
    if y is not None and y.size and y.min() < 0:
        raise InvalidDataError(f"data {path}: y holds {int((y < 0).sum())} negative class labels "
                               f"(minimum {int(y.min())})")
    return Dataset(x, None if y is None else y.astype(np.int64), path.stem)


@public
def save_data(path: str | os.PathLike, data: Dataset) -> None:
    """Write a data set as npz (``x`` and ``y``), atomically."""
    arrays = {"x": data.x} | ({"y": data.y} if data.y is not None else {})
    atomic_file(path, lambda f: np.savez(f, **arrays))


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = np.frombuffer(raw[4:4 + 4 * ndim], dtype=">u4")
    return np.frombuffer(raw[4 + 4 * ndim:], dtype=np.uint8).reshape(tuple(int(d) for d in dims))


@public
def mnist(root: str | os.PathLike, split: str = "test") -> Dataset:
    """MNIST from ``root``: ``'test'`` = the official 10k IDX files, ``'train'`` = a CSV of rows of
    784 pixels then the label (``mnist_5k_train.csv.gz``)."""
    root = Path(root)
    try:
        if split == "test":
            x = _idx(root / "t10k-images-idx3-ubyte.gz")
            y = _idx(root / "t10k-labels-idx1-ubyte.gz")
        else:
            table = np.loadtxt(root / "mnist_5k_train.csv.gz", delimiter=",", dtype=np.int64)
            x, y = table[:, :784].reshape(-1, 28, 28), table[:, 784]
    except OSError as exc:
        raise InvalidDataError(f"MNIST {split} in {root}: {exc}") from None
    return Dataset((x / 255.0).astype(np.float32)[:, None], y.astype(np.int64), f"mnist-{split}")


@public
def cifar10(root: str | os.PathLike, split: str = "test", cache: str | os.PathLike | None = None) -> Dataset:
    """CIFAR-10 from ``root/{train,test}_jpeg.npz`` (concatenated JPEGs + offsets), as (N, 3, 32, 32).

    Decoding takes seconds; pass ``cache`` (a folder outside any repository) to keep decoded arrays.
    """
    from PIL import Image

    cached = Path(cache) / f"cifar10_{split}.npz" if cache else None
    if cached and cached.is_file():
        with np.load(cached, allow_pickle=False) as npz:
            return Dataset(npz["x"], npz["y"], f"cifar10-{split}")
    path = Path(root) / f"{split}_jpeg.npz"
    try:
        with np.load(path, allow_pickle=False) as npz:
            blob, offsets, y = npz["jpeg"], npz["offsets"], npz["y"]
    except OSError as exc:
        raise InvalidDataError(f"CIFAR-10 {split}: {exc}") from None
    images = np.stack([np.asarray(Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB"))
                       for i in range(len(offsets) - 1)])
    data = Dataset((images.transpose(0, 3, 1, 2) / 255.0).astype(np.float32), y.astype(np.int64), f"cifar10-{split}")
    if cached:
        cached.parent.mkdir(parents=True, exist_ok=True)
        save_data(cached, data)
    return data
