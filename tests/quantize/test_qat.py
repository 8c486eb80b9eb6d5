"""Quantisation-aware fine-tuning: the weight grid, the straight-through gradient, the quantised SNN
of a QAT model against its ANN, argument errors, and the fake-quantisation error bound."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

from spikeforge.convert.normalise import convert
from spikeforge.datasets import Dataset, digits
from spikeforge.errors import InvalidDataError, QuantizationError
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.models import build_model
from spikeforge.models.layers import QCFS
from spikeforge.quantize import qat, quantize, simulate_integer
from spikeforge.quantize.qat import (
    distillation_loss,
    fake_quantize,
    quantized_modules,
    spiking,
)
from spikeforge.train import fit

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def train() -> Dataset:
    return digits("train").take(400)


@pytest.fixture(scope="module")
def trained(train: Dataset) -> nn.Module:
    """A digits CNN with QCFS activations (L = 4), briefly trained."""
    torch.manual_seed(0)
    model, _ = build_model("digits-cnn", qcfs_levels=4)
    return fit(model, train, epochs=8, lr=1e-2, batch_size=32)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_weights_on_grid(trained: nn.Module, train: Dataset, bits: int) -> None:
    tuned = qat(trained, train, bits=bits, timesteps=4, epochs=0.5, quiet=True)
    levels = 2 ** (bits - 1) - 1
    for name, module, per_channel in quantized_modules(tuned):
        w = module.weight.detach().double()
        rows = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
        for row in rows:
            assert len(torch.unique(row)) <= 2**bits - 1, name
            step = row.abs().max() / levels
            q = row / step
            assert torch.allclose(q, q.round(), atol=1e-4), name  # integer multiples of one step
            assert q.abs().max() <= levels + 1e-4


def test_caller_model_untouched(trained: nn.Module, train: Dataset) -> None:
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    relu_model, _ = build_model("digits-cnn")
    tuned = qat(relu_model, train, bits=4, timesteps=2, epochs=0.2, quiet=True)
    qat(trained, train, bits=4, epochs=0.2, quiet=True)
    assert all(torch.equal(v, trained.state_dict()[k]) for k, v in before.items())
    assert isinstance(relu_model[1], nn.ReLU)  # ReLUs swapped in the copy only
    assert isinstance(tuned[1], QCFS) and tuned[1].levels == 2
    assert set(tuned.state_dict()) == set(trained.state_dict())  # loads into the architecture


def test_ste_gradient_flows() -> None:
    w = torch.tensor([[0.9, -0.31, 0.02], [0.2, -0.4, 0.05]], requires_grad=True)
    g = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    (fake_quantize(w, 3) * g).sum().backward()
    assert torch.equal(w.grad, g)  # straight through: d w_q / d w = 1
    assert not torch.equal(fake_quantize(w, 3).detach(), w.detach())


def test_spike_phase_trains_weights(trained: nn.Module, train: Dataset) -> None:
    ann = qat(trained, train, bits=8, timesteps=4, epochs=0, quiet=True)
    snn_tuned = qat(trained, train, bits=8, timesteps=4, epochs=0, spike_epochs=0.3, lr=1e-3, quiet=True)
    changed = [not torch.equal(a, b) for a, b in zip(ann.state_dict().values(), snn_tuned.state_dict().values())]
    assert any(changed)  # surrogate gradients reached the weights through the IF layers
    assert all(isinstance(m, QCFS) for m in (snn_tuned[1], snn_tuned[4]))  # QCFS restored after the phase


@pytest.mark.parametrize("bits", [4, 8])
def test_quantized_snn_matches_ann(trained: nn.Module, train: Dataset, bits: int) -> None:
    tuned = qat(trained, train, bits=bits, timesteps=4, epochs=1, lr=1e-3, quiet=True)
    test = digits("test")
    ann = import_torch(tuned, (1, 8, 8))
    # 24-bit thresholds: with 16, quantize() coarsens the first layer's step to fit its threshold
    qnet = quantize(convert(ann), weight_bits=bits, threshold_bits=24, per_channel=True, calib=train.x)
    levels = 2 ** (bits - 1) - 1
    for name, module, per_channel in quantized_modules(tuned):  # quantize() finds the trained grid again
        w = module.weight.detach().double().reshape(module.weight.shape[0], -1)
        q = np.asarray(qnet.network.node(name).weight, np.float64).reshape(w.shape[0], -1)
        expected = w / (w.abs().amax(1, keepdim=True) if per_channel else w.abs().max()) * levels
        assert np.array_equal(q, expected.round().numpy()), name
    with torch.no_grad():
        ann_acc = float((tuned(torch.as_tensor(test.x)).argmax(1).numpy() == test.y).mean())
    snn_acc = simulate_integer(qnet, test.x, timesteps=8).accuracy(test.y)
    assert abs(snn_acc - ann_acc) <= 0.03


@pytest.mark.parametrize(("options", "message"), [
    ({"bits": 1}, r"bits=1: must be in 2\.\.8"),
    ({"bits": 9}, r"bits=9: must be in 2\.\.8"),
    ({"bits": 4.0}, r"bits=4\.0: must be an integer"),
    ({"timesteps": 0}, r"timesteps=0: must be an integer in 1\.\.256"),
    ({"timesteps": 2.5}, r"timesteps=2\.5"),
    ({"levels": 0}, r"levels=0"),
    ({"epochs": -1}, r"epochs=-1"),
    ({"spike_epochs": float("nan")}, r"spike_epochs=nan"),
    ({"lr": 0.0}, r"lr=0\.0"),
    ({"batch_size": 0}, r"batch_size=0"),
    ({"spike_timesteps": (4, 0)}, r"spike_timesteps=\(4, 0\): must be integers in 1\.\.256"),
    ({"distill": 1.5}, r"distill=1\.5: must be a number in \[0, 1\]"),
    ({"temperature": 0}, r"temperature=0: must be a finite number > 0"),
    ({"v_init": 1.0}, r"v_init=1\.0: must be a number in \[0, 1\)"),
    ({"beta": 0}, r"beta=0: must be a number in \(0, 1\]"),
])
def test_bad_arguments(trained: nn.Module, train: Dataset, options: dict, message: str) -> None:
    with pytest.raises(QuantizationError, match=message):
        qat(trained, train, quiet=True, **options)


def test_mismatched_data(trained: nn.Module, train: Dataset) -> None:
    with pytest.raises(InvalidDataError, match=r"y of shape \(10,\) for 400 samples"):
        qat(trained, (train.x, train.y[:10]), quiet=True)
    with pytest.raises(InvalidDataError, match=r"samples of shape \(1, 28, 28\) do not fit the model"):
        qat(trained, (np.zeros((4, 1, 28, 28), np.float32), np.zeros(4, np.int64)), quiet=True)
    with pytest.raises(InvalidDataError, match=r"labels span 0\.\.12 but the model has 10 outputs"):
        qat(trained, (train.x[:3], np.array([0, 5, 12])), quiet=True)
    with pytest.raises(InvalidDataError, match="no labels"):
        qat(trained, Dataset(train.x), quiet=True)


def test_distillation_from_a_teacher(trained: nn.Module, train: Dataset) -> None:
    teacher = build_model("digits-cnn")[0].eval()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    options = {"bits": 8, "timesteps": 4, "epochs": 0, "spike_epochs": 0.3, "lr": 1e-3, "quiet": True}
    plain = qat(trained, train, **options)
    taught = qat(trained, train, teacher=teacher, distill=0.9, **options)
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in before.items())  # the teacher is only run
    assert any(not torch.equal(a, b) for a, b in zip(plain.state_dict().values(), taught.state_dict().values()))
    wrong = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))
    with pytest.raises(InvalidDataError, match=r"labels span 0\.\.9 but the teacher has 5 outputs"):
        qat(trained, train, teacher=wrong, **options)
    with pytest.raises(InvalidDataError, match=r"teacher: 12 outputs but the model has 10"):
        qat(trained, train, teacher=nn.Sequential(nn.Flatten(), nn.Linear(64, 12)), **options)
    with pytest.raises(InvalidDataError, match=r"do not fit the teacher"):
        qat(trained, train, teacher=nn.Sequential(nn.Flatten(), nn.Linear(3, 10)), **options)


@settings(max_examples=40, deadline=None)
@given(logits=hnp.arrays(np.float32, (6, 4), elements=st.floats(-8, 8, width=32)),
       alpha=st.floats(0, 1), tau=st.floats(0.5, 8))
def test_distillation_loss(logits: np.ndarray, alpha: float, tau: float) -> None:
    s = torch.as_tensor(logits)
    y = torch.arange(6) % 4
    ce = torch.nn.functional.cross_entropy(s, y)
    assert torch.equal(distillation_loss(s, y, None, alpha, tau), ce)
    # a teacher that agrees with the student adds nothing: KL = 0
    assert torch.allclose(distillation_loss(s, y, s.clone(), alpha, tau), (1 - alpha) * ce, atol=1e-5)
    # any other teacher can only add (KL ≥ 0)
    assert distillation_loss(s, y, s.flip(1), alpha, tau) >= (1 - alpha) * ce - 1e-5


def test_distillation_loss_rejects_teacher_logits_of_another_shape() -> None:
    s = torch.zeros(6, 4)
    # (6, 1) would broadcast against (6, 4) inside the KL term and yield a number
    with pytest.raises(InvalidDataError, match=r"teacher logits of shape \(6, 1\) for logits of shape \(6, 4\)"):
        distillation_loss(s, torch.zeros(6, dtype=torch.int64), torch.zeros(6, 1), 0.5, 2.0)


def test_spiking_swaps_qcfs_only_inside_the_block() -> None:
    model = nn.Sequential(nn.Linear(3, 4), QCFS(4, 2.0), nn.BatchNorm1d(4), nn.Linear(4, 2))
    qcfs = model[1]
    with pytest.raises(RuntimeError, match="boom"), spiking(model, (2, 3)) as snn:
        assert model[1] is not qcfs and not model[2].training  # neurons in, BatchNorm frozen
        assert snn(torch.ones(5, 3)).shape == (5, 2)  # read-out averaged over T, per sample
        raise RuntimeError("boom")
    assert model[1] is qcfs  # restored even when the block raises
    for bad, match in (({"timesteps": 0}, "timesteps=0: must be integers in 1..256"),
                       ({"timesteps": ()}, r"timesteps=\(\): must be integers"),
                       ({"timesteps": 4, "v_init": 1.0}, r"v_init=1.0: must be a number in \[0, 1\)"),
                       ({"timesteps": 4, "beta": 0.0}, r"beta=0.0: must be a number in \(0, 1\]")):
        with pytest.raises(QuantizationError, match=match), spiking(model, **bad):
            pass
    assert model[1] is qcfs


def test_model_without_activations(train: Dataset) -> None:
    linear = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with pytest.raises(QuantizationError, match="Sequential has no nn.ReLU or QCFS activations"):
        qat(linear, train, quiet=True)


@settings(max_examples=60, deadline=None)
@given(w=hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=5),
                    elements=st.floats(-100, 100, width=32)),
       bits=st.integers(2, 8), per_channel=st.booleans())
def test_fake_quant_error_bound(w: np.ndarray, bits: int, per_channel: bool) -> None:
    """|w − w_q| ≤ s/2 everywhere (s = max|w| / (2^(b−1) − 1) covers the whole range)."""
    t = torch.as_tensor(w)
    wq = fake_quantize(t, bits, per_channel=per_channel).double()
    levels = 2 ** (bits - 1) - 1
    peak = t.abs().reshape(t.shape[0], -1).amax(1) if per_channel else t.abs().amax().expand(t.shape[0])
    step = torch.where(peak > 0, peak / levels, torch.ones_like(peak)).double()
    err = (t.double() - wq).abs().reshape(t.shape[0], -1).amax(1)
    assert torch.all(err <= step / 2 * (1 + 1e-5) + 1e-12)


def test_fake_quant_of_weights_whose_step_underflows_is_finite():
    """A subnormal peak weight (1e-45) over 3 levels underflows to a zero step; not a NaN."""
    wq = fake_quantize(torch.tensor([[1e-45, 0.0]]), 3, per_channel=False)
    assert torch.isfinite(wq).all() and wq.abs().max() <= 1e-45
