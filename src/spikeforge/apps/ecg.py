r"""Heartbeat classification on MIT-BIH Arrhythmia Database record 100, as a converted SNN.

Data: record 100 (30 min, leads MLII and V5, 360 Hz, 2,274 beat annotations; Moody & Mark 2001,
Goldberger et al. 2000, PhysioNet, ODC-By), read with ``wfdb.rdrecord`` / ``wfdb.rdann``.

- **Beats**: every annotation whose code is a beat (``wfdb``'s ``is_qrs`` table) gives an R-peak
  :math:`t_i`; the window :math:`[t_i - a, t_i + b)` of both leads is one sample (shape
  :math:`(2, 1, a + b)`); beats whose window leaves the record are dropped. Each window minus
  its median (baseline wander), divided by the standard deviation of the training windows.
- **Labels**: ``'N'`` (normal) is class 0; every other beat symbol (record 100: 33 ``'A'``,
  1 ``'V'``) is class 1, *abnormal*.
- **Split by time**: beats before ``split`` × record length train, later beats test, so no
  test beat has a neighbour in the training set. The classes are very imbalanced, so the
  training set is balanced by repeating abnormal beats, and besides accuracy the test reports
  balanced accuracy :math:`\tfrac12(\mathrm{recall}_N + \mathrm{recall}_{abn})` and each recall.
- **Model**: a 1-D CNN written as ``Conv2d`` with :math:`1 \times k` kernels (the IR's
  convolutions are 2-D), average pooling, two dense layers; trained with
  :func:`spikeforge.train.fit`, converted by data-based normalisation, simulated with IF neurons.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from spikeforge.api import ArrayLike, public
from spikeforge.datasets import Dataset
from spikeforge.errors import InvalidDataError
from spikeforge.outputs import atomic_file

__all__ = [
    "HeartbeatResult",
    "Record",
    "beat_data",
    "beat_labels",
    "class_recalls",
    "cut_beats",
    "heartbeat_cnn",
    "load_record",
    "run_heartbeat",
]

RECORD = "100"


@dataclass(frozen=True, eq=False)
class Record:
    """A WFDB record: ``signal`` (samples, leads) in mV, beat annotations ``peaks`` and ``symbols``."""

    name: str
    fs: float
    signal: np.ndarray
    leads: tuple[str, ...]
    peaks: np.ndarray
    symbols: tuple[str, ...]


@public
def load_record(root: str | os.PathLike, record: str = RECORD) -> Record:
    """Read ``root/record.{hea,dat,atr}``, keeping only beat annotations.

    Raises
    ------
    InvalidDataError
        The record's files are missing (with where to put them) or unreadable.
    """
    import wfdb
    from wfdb.io.annotation import ann_labels, is_qrs

    base = Path(root) / record
    missing = [f"{record}.{ext}" for ext in ("hea", "dat", "atr") if not base.with_suffix(f".{ext}").is_file()]
    if missing:
        raise InvalidDataError(f"MIT-BIH record {record}: {', '.join(missing)} not found in {Path(root)}; put the "
                               f"PhysioNet files there (mitdb, see ../shared/data/README.md)")
    try:
        rec = wfdb.rdrecord(str(base))
        ann = wfdb.rdann(str(base), "atr")
    except (OSError, ValueError) as exc:
        raise InvalidDataError(f"MIT-BIH record {base}: unreadable ({exc})") from None
    beats = {label.symbol for label in ann_labels if is_qrs[label.label_store]}
    beat = np.array([s in beats for s in ann.symbol], dtype=bool)
    return Record(record, float(rec.fs), rec.p_signal.astype(np.float32), tuple(rec.sig_name),
                  np.asarray(ann.sample)[beat], tuple(s for s, b in zip(ann.symbol, beat) if b))


@public
def beat_labels(symbols: tuple[str, ...] | list[str]) -> np.ndarray:
    """0 for normal (``'N'``), 1 for every other beat symbol."""
    return np.array([0 if s == "N" else 1 for s in symbols], dtype=np.int64)


@public
def cut_beats(signal: np.ndarray, peaks: ArrayLike, before: int, after: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``signal[p - before : p + after]`` around each R-peak, as (beats, leads, 1, before + after).

    Returns the windows and the indices of the peaks kept (windows inside the record).

    Raises
    ------
    InvalidDataError
        ``signal`` is not (samples, leads), or the window is empty.
    """
    if signal.ndim != 2 or before < 0 or after < 1:
        raise InvalidDataError(f"cut_beats: signal {signal.shape} must be (samples, leads), window "
                               f"[-{before}, +{after}) must be non-empty")
    peaks = np.asarray(peaks, dtype=np.int64)
    kept = np.flatnonzero((peaks - before >= 0) & (peaks + after <= signal.shape[0]))
    idx = peaks[kept, None] + np.arange(-before, after)[None, :]
    return signal[idx].transpose(0, 2, 1)[:, :, None, :].astype(np.float32), kept


@dataclass(frozen=True, eq=False)
class BeatData:
    """Train and test beats, split by time at ``split_s`` seconds."""

    train: Dataset
    test: Dataset
    split_s: float
    window: tuple[int, int]


@public
def beat_data(record: Record, *, before_s: float = 0.25, after_s: float = 0.45, split: float = 2 / 3) -> BeatData:
    """Cut, label, normalise and split the beats of ``record`` (see the module docstring).

    Raises
    ------
    InvalidDataError
        ``split`` outside (0, 1), or a split with no beat of a class on one side.
    """
    if not 0 < split < 1:
        raise InvalidDataError(f"ECG split {split}: must be in (0, 1)")
    before, after = round(before_s * record.fs), round(after_s * record.fs)
    x, kept = cut_beats(record.signal, record.peaks, before, after)
    y = beat_labels(record.symbols)[kept]
    x = x - np.median(x, axis=3, keepdims=True)
    cut = split * record.signal.shape[0]
    train = record.peaks[kept] < cut
    x = x / x[train].std()
    for name, mask in (("train", train), ("test", ~train)):
        counts = np.bincount(y[mask], minlength=2)
        if counts.min() == 0:
            raise InvalidDataError(f"ECG record {record.name}: the {name} part (split at {cut / record.fs:.0f} s) has "
                                   f"{counts[0]} normal and {counts[1]} abnormal beats; need both")
    return BeatData(Dataset(x[train], y[train], f"mitdb{record.name}-train"),
                    Dataset(x[~train], y[~train], f"mitdb{record.name}-test"), cut / record.fs, (before, after))


@public
def heartbeat_cnn(length: int, leads: int = 2, width: int = 8, hidden: int = 32) -> nn.Sequential:
    """1-D CNN as ``Conv2d`` with 1×7 kernels: conv-pool-conv-pool, then two dense layers, two classes."""
    flat = 2 * width * (length // 4 // 4)
    return nn.Sequential(
        nn.Conv2d(leads, width, (1, 7), padding=(0, 3)), nn.ReLU(), nn.AvgPool2d((1, 4)),
        nn.Conv2d(width, 2 * width, (1, 7), padding=(0, 3)), nn.ReLU(), nn.AvgPool2d((1, 4)),
        nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def balanced(data: Dataset, seed: int = 0) -> Dataset:
    """Repeat the rarer classes' samples (at random) until every class has as many as the largest."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(data.y)
    idx = np.concatenate([rng.choice(np.flatnonzero(data.y == c), counts.max(), replace=counts[c] < counts.max())
                          for c in np.flatnonzero(counts)])
    return Dataset(data.x[idx], data.y[idx], f"{data.name}-balanced")


@public
def class_recalls(pred: ArrayLike, y: ArrayLike) -> tuple[float, float]:
    """Recall of the normal and of the abnormal class."""
    from sklearn.metrics import recall_score

    normal, abnormal = recall_score(y, pred, labels=[0, 1], average=None, zero_division=0.0)
    return float(normal), float(abnormal)


@dataclass(frozen=True, eq=False)
class HeartbeatResult:
    """The trained ANN's and the SNN's figures on the test beats (later in time than training)."""

    snn: object             # spikeforge.ir.network.Network
    profile: object         # spikeforge.sim.simulator.Profile
    timesteps: int
    train_counts: tuple[int, int]
    test_counts: tuple[int, int]
    split_s: float
    window: tuple[int, int]
    ann_accuracy: float
    ann_balanced_accuracy: float
    accuracy: float
    balanced_accuracy: float
    recall_normal: float
    recall_abnormal: float


@public
def run_heartbeat(root: str | os.PathLike, *, cache: str | os.PathLike | None = None, epochs: int = 30,
                  width: int = 8, hidden: int = 32, timesteps: int = 16, seed: int = 0,
                  on_epoch: Callable[[int, float], None] | None = None,
                  on_batch: Callable[[int], None] | None = None) -> HeartbeatResult:
    """Load record 100, train (or load from ``cache``) the CNN, convert and simulate it.

    Raises
    ------
    InvalidDataError
        Missing or unreadable record.
    """
    from spikeforge.convert.normalise import convert
    from spikeforge.frontends.torch_fx import import_torch
    from spikeforge.sim.simulator import simulate
    from spikeforge.train import fit

    data = beat_data(load_record(root))
    shape = data.train.x.shape[1:]
    torch.manual_seed(seed)
    model = heartbeat_cnn(shape[-1], shape[0], width, hidden)
    path = Path(cache) / "checkpoints" / f"ecg_mitdb100_cnn_w{width}_h{hidden}_e{epochs}_s{seed}.pt" if cache else None
    if path is None or not path.is_file():
        fit(model, balanced(data.train, seed), epochs=epochs, lr=3e-3, batch_size=64, seed=seed, on_epoch=on_epoch)
        if path is not None:
            atomic_file(path, lambda f: torch.save(model.state_dict(), f))
    else:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.eval()
    with torch.inference_mode():
        ann_pred = model(torch.as_tensor(data.test.x)).argmax(1).numpy()
    ann = import_torch(model, shape, name="ecg-heartbeat")
    snn = convert(ann, data.train.x, statistic="p99.9")
    sim = simulate(snn, data.test.x, timesteps=timesteps, labels=data.test.y, on_batch=on_batch)
    pred = sim.outputs[timesteps].argmax(1)
    normal, abnormal = class_recalls(pred, data.test.y)
    return HeartbeatResult(
        snn, sim.profile, timesteps,
        tuple(int(c) for c in np.bincount(data.train.y, minlength=2)),
        tuple(int(c) for c in np.bincount(data.test.y, minlength=2)), data.split_s, data.window,
        ann_accuracy=float((ann_pred == data.test.y).mean()),
        ann_balanced_accuracy=float(np.mean(class_recalls(ann_pred, data.test.y))),
        accuracy=float(sim.accuracy[timesteps]), balanced_accuracy=(normal + abnormal) / 2,
        recall_normal=normal, recall_abnormal=abnormal)
