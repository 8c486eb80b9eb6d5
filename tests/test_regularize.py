"""Percentile firing-rate regulariser: value, gradient, parameter errors, activation hooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.models.layers import QCFS
from spikeforge.regularize import (
    ActivationRecorder,
    PercentileRegularizer,
    RegularizerError,
    percentile,
    percentile_loss,
)


def test_value_and_gradient_hand_computed():
    # 3 samples × 2 neurons; q = 100 → p = (4, 10); band [5, 8]; w = 0.5
    a = torch.tensor([[0.0, 0.0], [1.0, 0.0], [4.0, 10.0]], requires_grad=True)
    loss = percentile_loss(a, q=100, lo=5, hi=8, weight=0.5)
    assert loss.item() == pytest.approx(0.5 * ((5 - 4) ** 2 + (10 - 8) ** 2))
    loss.backward()
    # dL/dp0 = 2w(p0 − lo) = −1, dL/dp1 = 2w(p1 − hi) = 2, both at the maximum sample
    assert a.grad.tolist() == [[0.0, 0.0], [0.0, 0.0], [-1.0, 2.0]]


def test_interpolated_percentile_gradient_splits_between_order_statistics():
    a = torch.tensor([[0.0], [1.0], [2.0], [3.0]], requires_grad=True)  # q = 50 → p = 1.5
    loss = percentile_loss(a, q=50, lo=2.5, hi=3.0, weight=1.0)
    assert loss.item() == pytest.approx(1.0)
    loss.backward()
    assert a.grad[:, 0].tolist() == pytest.approx([0.0, -1.0, -1.0, 0.0])


@pytest.mark.parametrize("q", [0.1, 25.0, 50.0, 99.9, 100.0])
def test_percentile_matches_numpy(q):
    x = torch.randn(1001, 5, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(percentile(x, q).numpy(), np.percentile(x.numpy(), q, axis=0), atol=1e-6)


def test_per_channel_and_time_dimensions():
    a = torch.zeros(2, 3, 2, 4, 4)          # (T, B, C, H, W)
    a[1, 2, 0, 3, 3] = 1.0                  # one active position in channel 0 only
    per_neuron = percentile_loss(a, q=100, lo=0.5, hi=1.0, sample_dims=2)
    per_channel = percentile_loss(a, q=100, lo=0.5, hi=1.0, sample_dims=2, per_channel=True)
    assert float(per_neuron) == pytest.approx(0.25 * (2 * 16 - 1))   # every other neuron is silent
    assert float(per_channel) == pytest.approx(0.25)                  # only channel 1 is silent


@pytest.mark.parametrize("kwargs, match", [
    ({"lo": 0.9, "hi": 0.1}, r"lo = 0.9 > hi = 0.1"),
    ({"q": 0.0}, r"q = 0.0: must lie in \(0, 100\]"),
    ({"q": 100.5}, r"q = 100.5: must lie in \(0, 100\]"),
    ({"weight": -1.0}, r"weight = -1.0: must be ≥ 0"),
])
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(RegularizerError, match=match):
        PercentileRegularizer(**kwargs)
    with pytest.raises(RegularizerError, match=match):
        percentile_loss(torch.zeros(2, 3), **kwargs)


def test_no_neuron_dimension_raises():
    with pytest.raises(RegularizerError, match=r"shape \(4,\): need 1 sample"):
        percentile_loss(torch.zeros(4))


def test_recorder_collects_relu_and_qcfs_rates_and_removes_hooks():
    act = QCFS(levels=4, clip=2.0)
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2), act)
    with torch.no_grad():
        for layer in (model[0], model[2]):
            layer.weight.copy_(torch.eye(2))
            layer.bias.zero_()
    with ActivationRecorder(model) as rec:
        model(torch.tensor([[1.0, 3.0]]))
        assert len(rec.activations) == 2
        assert rec.activations[0].tolist() == [[1.0, 3.0]]
        assert rec.activations[1].tolist() == [[0.5, 1.0]]     # QCFS output / λ: rates
        reg = PercentileRegularizer(q=100, lo=0.75, hi=1.0, weight=1.0)
        assert reg(rec.activations[1:]).item() == pytest.approx(0.25 ** 2)
    rec.clear()
    model(torch.ones(1, 2))
    assert rec.activations == []                                # hooks gone


def test_recorder_needs_an_activation():
    with pytest.raises(RegularizerError, match="Linear: no nn.ReLU or QCFS"):
        ActivationRecorder(nn.Linear(2, 2))
