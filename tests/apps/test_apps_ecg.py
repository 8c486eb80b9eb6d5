"""ECG heartbeats: beat cutting, labels, the time split, and MIT-BIH record 100."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.apps.ecg import (
    Record,
    balanced,
    beat_data,
    beat_labels,
    class_recalls,
    cut_beats,
    heartbeat_cnn,
    load_record,
)
from spikeforge.datasets import Dataset
from spikeforge.errors import InvalidDataError


def _synthetic(n: int = 3600, peaks=(5, 300, 700, 1200, 2000, 2500, 3000, 3595), symbols="NANNNNVN") -> Record:
    t = np.arange(n, dtype=np.float32)
    signal = np.stack([np.sin(t / 50), np.cos(t / 70)], axis=1).astype(np.float32)
    return Record("syn", 360.0, signal, ("MLII", "V5"), np.array(peaks), tuple(symbols))


def test_cut_beats_windows_and_edge_beats_dropped():
    rec = _synthetic()
    x, kept = cut_beats(rec.signal, rec.peaks, before=10, after=20)
    assert kept.tolist() == [1, 2, 3, 4, 5, 6]  # the beats at 5 and 3595 leave the record
    assert x.shape == (6, 2, 1, 30)
    assert np.array_equal(x[0, 0, 0], rec.signal[290:320, 0]) and np.array_equal(x[-1, 1, 0], rec.signal[2990:3020, 1])
    with pytest.raises(InvalidDataError, match=r"signal \(3600,\) must be \(samples, leads\)"):
        cut_beats(rec.signal[:, 0], rec.peaks, 10, 20)


def test_labels_normal_vs_every_other_beat():
    assert beat_labels(["N", "A", "V", "N", "L"]).tolist() == [0, 1, 1, 0, 1]


def test_beat_data_splits_by_time_and_normalises():
    data = beat_data(_synthetic(), before_s=0.025, after_s=0.05, split=0.5)  # 9 + 18 samples at 360 Hz
    assert data.window == (9, 18) and data.split_s == pytest.approx(5.0)
    assert data.train.y.tolist() == [1, 0, 0] and data.test.y.tolist() == [0, 0, 1]  # peaks < 1800 train
    assert data.train.x.shape == (3, 2, 1, 27)
    assert np.allclose(np.median(data.train.x, axis=3), 0, atol=1e-6)
    assert data.train.x.std() == pytest.approx(1.0, rel=1e-4)
    with pytest.raises(InvalidDataError, match=r"the test part \(split at 8 s\) has 0 normal and 1 abnormal"):
        beat_data(_synthetic(), before_s=0.025, after_s=0.05, split=0.8)
    with pytest.raises(InvalidDataError, match="split 1.5"):
        beat_data(_synthetic(), split=1.5)


def test_balanced_repeats_the_rare_class_and_recalls():
    data = Dataset(np.arange(10, dtype=np.float32).reshape(10, 1), np.array([0] * 8 + [1] * 2))
    b = balanced(data)
    assert np.bincount(b.y).tolist() == [8, 8] and set(b.x[b.y == 1, 0]) == {8.0, 9.0}
    assert class_recalls(np.array([0, 1, 1, 1]), np.array([0, 0, 1, 1])) == (0.5, 1.0)


def test_heartbeat_cnn_takes_two_lead_windows():
    model = heartbeat_cnn(252, leads=2, width=4, hidden=8)
    assert model(torch.zeros(3, 2, 1, 252)).shape == (3, 2)


def test_missing_record_says_where_to_put_it(tmp_path):
    with pytest.raises(InvalidDataError, match=r"100\.hea, 100\.dat, 100\.atr not found in .*put the PhysioNet files"):
        load_record(tmp_path)


def test_record_100(shared_data):
    rec = load_record(shared_data / "ecg")
    assert rec.fs == 360 and rec.signal.shape == (650_000, 2) and rec.leads == ("MLII", "V5")
    symbols, counts = np.unique(rec.symbols, return_counts=True)
    assert dict(zip(symbols.tolist(), counts.tolist())) == {"A": 33, "N": 2239, "V": 1}  # '+' is not a beat
    data = beat_data(rec)
    assert data.window == (90, 162) and data.train.x.shape[1:] == (2, 1, 252)
    assert len(data.train) + len(data.test) == 2271  # the first and the last beats leave the record
    assert data.train.y.sum() > 0 and data.test.y.sum() > 0
