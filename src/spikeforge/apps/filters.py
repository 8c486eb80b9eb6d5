r"""Hand-built SNNs for image smoothing and edge detection, as explicit synapse lists.

The networks are built, not trained: each output neuron is connected to the pixels under a fixed
3×3 kernel :math:`K` by a :class:`~spikeforge.ir.network.SparseLinear` layer whose synapse
weights *are* the kernel taps. Two layers of IF neurons (reset by subtraction, :math:`v_0 = \theta/2`):

- ``retina``: one neuron per pixel, driven by the pixel value :math:`p \in [0, 1]` through a
  one-to-one synapse of weight 1 and threshold 1, so it fires at rate :math:`r \approx p`;
- ``filter``: one neuron per (channel, output pixel) over the ``valid`` region
  :math:`(H-2) \times (W-2)`, fed by the retina spikes through the kernel taps, with threshold
  :math:`\theta_c` per channel. Over :math:`T` steps it fires
  :math:`n \approx \mathrm{clip}\big((K \star r)/\theta_c \cdot T, 0, T\big)` spikes.

Signed kernels (edges) use an ON and an OFF channel, :math:`+K` and :math:`-K`, each rectified by
the neuron. The output is rate-decoded, :math:`\hat y_c = \theta_c\, n / T`, and compared with
the exact float filter :math:`y_c = \max(0, \pm K \star p)` (``scipy.signal.correlate2d``, an
independent implementation). :math:`\theta_c` is the largest response of the channel on
inputs in [0, 1] (the sum of the kernel's positive taps), so :math:`\hat y_c` never saturates.

The synapse list of a 2-D correlation is written by hand (index arithmetic below): no library
produces one in the IR's ``(pre, post, weight)`` form. Images are crops of the ISBI 2012 EM
slices (Cardona et al. 2010, PLoS Biol 8(10): e1000502; non-commercial research use).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikeforge.api import public
from spikeforge.errors import InvalidDataError
from spikeforge.ir import network as ir

__all__ = [
    "BANKS",
    "KERNELS",
    "FilterResult",
    "correlation_synapses",
    "em_crops",
    "exact_filter",
    "filter_snn",
    "run_filter",
]

#: Fixed 3×3 kernels (correlation, as ``scipy.signal.correlate2d``).
KERNELS: dict[str, np.ndarray] = {
    "box": np.full((3, 3), 1 / 9),
    "gaussian": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
    "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float),
    "sobel_y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float),
}

#: Filter banks of the two applications: output channels as (kernel name, sign); sign −1 is OFF.
BANKS: dict[str, tuple[tuple[str, int], ...]] = {
    "smoothing": (("gaussian", 1),),
    "edges": (("sobel_x", 1), ("sobel_x", -1), ("sobel_y", 1), ("sobel_y", -1)),
}


@public
def correlation_synapses(height: int, width: int, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Synapse list of a ``valid`` 2-D correlation of an ``height`` × ``width`` image.

    Output pixel :math:`(y, x)`, :math:`0 \le y < H-k_h+1`, receives input pixel
    :math:`(y+i, x+j)` with weight :math:`K_{ij}`; zero taps get no synapse. Indices are
    row-major (``y * width + x``).

    Returns
    -------
    pre, post : int64 arrays
    weight : float32 array
        One entry per synapse.

    Raises
    ------
    InvalidDataError
        The kernel is larger than the image.
    """
    kh, kw = kernel.shape
    ho, wo = height - kh + 1, width - kw + 1
    if ho < 1 or wo < 1:
        raise InvalidDataError(f"filter: kernel {kernel.shape} does not fit a {height}×{width} image")
    ys, xs = np.meshgrid(np.arange(ho), np.arange(wo), indexing="ij")
    post = (ys * wo + xs).ravel()
    pres, posts, weights = [], [], []
    for (i, j), w in np.ndenumerate(kernel):
        if w == 0:
            continue
        pres.append(((ys + i) * width + xs + j).ravel())
        posts.append(post)
        weights.append(np.full(post.size, w, dtype=np.float32))
    return np.concatenate(pres), np.concatenate(posts), np.concatenate(weights)


def _bank_kernels(bank: str) -> list[np.ndarray]:
    if bank not in BANKS:
        raise InvalidDataError(f"filter bank {bank!r}: known banks are {', '.join(BANKS)}")
    return [sign * KERNELS[name] for name, sign in BANKS[bank]]


@public
def filter_snn(height: int, width: int, bank: str = "smoothing") -> ir.Network:
    """The two-layer filter SNN of the module docstring for ``height`` × ``width`` images.

    Raises
    ------
    InvalidDataError
        Unknown bank, or a kernel larger than the image.
    """
    kernels = _bank_kernels(bank)
    n_pix = height * width
    eye = np.arange(n_pix)
    pre, post, weight = [], [], []
    for c, k in enumerate(kernels):
        p, q, w = correlation_synapses(height, width, k)
        pre.append(p)
        post.append(q + c * (height - k.shape[0] + 1) * (width - k.shape[1] + 1))
        weight.append(w)
    ho, wo = height - 2, width - 2
    thresholds = np.array([k.clip(min=0).sum() for k in kernels], dtype=np.float32)
    nodes = (
        ir.Input("pixels", (), (1, height, width)),
        ir.SparseLinear("retina_syn", ("pixels",), pre=eye, post=eye, weight=np.ones(n_pix, np.float32),
                        n_out=n_pix),
        ir.IF("retina", ("retina_syn",), threshold=np.float32(1.0)),
        ir.SparseLinear("filter_syn", ("retina",), pre=np.concatenate(pre), post=np.concatenate(post),
                        weight=np.concatenate(weight), n_out=len(kernels) * ho * wo),
        ir.IF("filter", ("filter_syn",), threshold=np.repeat(thresholds, ho * wo)),
    )
    return ir.Network(nodes, outputs=("filter",), name=f"em-{bank}")


@public
def exact_filter(images: np.ndarray, bank: str = "smoothing") -> np.ndarray:
    """Float reference: rectified ``valid`` correlations, (N, C, H-2, W-2), by ``scipy.signal``."""
    from scipy.signal import correlate2d

    kernels = _bank_kernels(bank)
    return np.stack([np.stack([np.maximum(correlate2d(img[0], k, mode="valid"), 0) for k in kernels])
                     for img in images]).astype(np.float32)


@public
def em_crops(root: str | os.PathLike, size: int = 64, count: int = 8, seed: int = 0) -> np.ndarray:
    """``count`` random ``size`` × ``size`` crops of the ISBI 2012 training slices, (N, 1, s, s) in [0, 1].

    Crop ``i`` comes from slice ``i mod n_slices`` at a random offset (fixed ``seed``).

    Raises
    ------
    InvalidDataError
        No slices in ``root/train/image`` (with where to put them), or crops larger than a slice.
    """
    from skimage.io import imread

    folder = Path(root) / "train" / "image"
    files = sorted(folder.glob("*.png"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise InvalidDataError(f"ISBI 2012 EM slices not found: put train/image/0..29.png (512×512 PNG) "
                               f"under {Path(root)} (see ../shared/data/README.md)")
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(count):
        img = imread(files[i % len(files)])
        if img.ndim != 2 or min(img.shape) < size:
            raise InvalidDataError(f"{files[i % len(files)]}: {img.shape} is not a grey image of at least {size}×{size}")
        y, x = rng.integers(0, img.shape[0] - size + 1), rng.integers(0, img.shape[1] - size + 1)
        crops.append(img[y:y + size, x:x + size] / 255.0)
    return np.stack(crops)[:, None].astype(np.float32)


@dataclass(frozen=True, eq=False)
class FilterResult:
    r"""A filter SNN run on images, against the exact float filter.

    ``psnr_db`` is :math:`10 \log_{10}(\theta^2 / \mathrm{MSE})` over all channels, with each
    channel's error divided by its full range :math:`\theta_c`; ``correlation`` is Pearson's
    :math:`r` between rate-decoded and exact outputs; ``max_error`` is the largest absolute
    error in units of :math:`\theta_c`.
    """

    bank: str
    snn: ir.Network
    profile: object  # spikeforge.sim.simulator.Profile
    images: int
    size: int
    timesteps: int
    decoded: np.ndarray
    exact: np.ndarray
    psnr_db: float
    correlation: float
    max_error: float


@public
def run_filter(images: np.ndarray, bank: str = "smoothing", *, timesteps: int = 32,
               on_batch: Callable[[int], None] | None = None) -> FilterResult:
    """Build the SNN of ``bank`` for the images' size, simulate it and compare with :func:`exact_filter`.

    Raises
    ------
    InvalidDataError
        Images not (N, 1, H, W) in [0, 1], unknown bank.
    """
    from spikeforge.sim.simulator import simulate

    if images.ndim != 4 or images.shape[1] != 1 or images.min() < 0 or images.max() > 1:
        raise InvalidDataError(f"filter images: shape {images.shape}, range [{images.min():.3g}, "
                               f"{images.max():.3g}]; need (N, 1, H, W) in [0, 1]")
    snn = filter_snn(images.shape[2], images.shape[3], bank)
    sim = simulate(snn, images, timesteps=timesteps, batch_size=8, on_batch=on_batch)
    exact = exact_filter(images, bank)
    theta = snn.node("filter").threshold.reshape(1, *exact.shape[1:])
    decoded = sim.outputs[timesteps].reshape(exact.shape) * theta
    err = (decoded - exact) / theta
    mse = float((err ** 2).mean())
    return FilterResult(bank, snn, sim.profile, images.shape[0], images.shape[2], timesteps, decoded, exact,
                        psnr_db=math.inf if mse == 0 else 10 * math.log10(1 / mse),
                        correlation=float(np.corrcoef(decoded.ravel(), exact.ravel())[0, 1]),
                        max_error=float(np.abs(err).max()))

