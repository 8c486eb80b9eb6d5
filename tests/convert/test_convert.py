import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.convert.normalise import activation_scales, convert
from spikeforge.errors import ConversionError, InvalidDataError
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.ir import network as ir
from spikeforge.models.layers import QCFS, relu_to_qcfs
from spikeforge.sim.simulator import run_ann, simulate


def mlp_ann(bias=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return ir.Network((ir.Input("x", (), (4,)),
                       ir.Linear("l1", ("x",), rng.normal(size=(6, 4)).astype(np.float32),
                                 np.full(6, bias, np.float32)),
                       ir.ReLU("r1", ("l1",)),
                       ir.Linear("l2", ("r1",), rng.normal(size=(3, 6)).astype(np.float32),
                                 np.full(3, bias, np.float32))), ("l2",))


def test_biases_are_rescaled_with_weights():
    ann = mlp_ann()
    x = np.random.default_rng(1).random((200, 4), dtype=np.float32)
    lam = activation_scales(ann, x, statistic="max", per_channel=True)["r1"]
    snn = convert(ann, x, statistic="max")
    np.testing.assert_allclose(snn.node("l1").bias, 1.0 / lam, rtol=1e-5)
    np.testing.assert_allclose(snn.node("l1").weight, ann.node("l1").weight / lam[:, None], rtol=1e-5)
    # The output layer reads rates (×λ) back into the ANN's units; its bias is unchanged.
    np.testing.assert_allclose(snn.node("l2").weight, ann.node("l2").weight * lam[None, :], rtol=1e-5)
    np.testing.assert_allclose(snn.node("l2").bias, 1.0, rtol=1e-6)
    assert isinstance(snn.node("r1"), ir.IF) and float(snn.node("r1").threshold) == pytest.approx(1.0)


@pytest.mark.parametrize("balance", ["weights", "thresholds"])
@pytest.mark.parametrize("per_channel", [True, False])
def test_conversion_is_accurate_with_large_biases(balance, per_channel):
    ann = mlp_ann(bias=0.5)
    x = np.random.default_rng(1).random((300, 4), dtype=np.float32)
    snn = convert(ann, x, statistic="max", balance=balance, per_channel=per_channel)
    out = simulate(snn, x, timesteps=512).outputs[512]
    np.testing.assert_allclose(out, run_ann(ann, x), atol=0.05 * np.abs(run_ann(ann, x)).max())


def test_balance_modes_give_identical_spikes():
    ann = mlp_ann()
    x = np.random.default_rng(2).random((50, 4), dtype=np.float32)
    a = simulate(convert(ann, x, balance="weights"), x, timesteps=16)
    b = simulate(convert(ann, x, balance="thresholds"), x, timesteps=16)
    np.testing.assert_allclose(a.profile.layer("r1").spike_counts, b.profile.layer("r1").spike_counts)
    np.testing.assert_allclose(a.outputs[16], b.outputs[16], rtol=1e-4, atol=1e-5)


def test_qcfs_network_converts_without_data_and_matches_at_t_equal_levels():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), QCFS(levels=4, clip=1.5), nn.Linear(8, 3))
    ann = import_torch(model, (4,))
    snn = convert(ann)  # clip known: no calibration needed
    x = np.random.default_rng(0).random((500, 4), dtype=np.float32)
    # A single layer of IF neurons with v0 = θ/2 and constant input reproduces QCFS exactly at T = L.
    np.testing.assert_allclose(simulate(snn, x, timesteps=4).outputs[4], run_ann(ann, x), atol=1e-5)


def test_residual_add_gets_gains(residual_model):
    ann = import_torch(residual_model, (1, 8, 8))
    x = np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)
    snn = convert(ann, x, statistic="max")
    add = next(n for n in snn.nodes if isinstance(n, ir.Add))
    assert add.gains is not None and add.gains[0] is None and add.gains[1] is not None
    out = simulate(snn, x, timesteps=256).outputs[256]
    ref = run_ann(ann, x)
    assert np.abs(out - ref).mean() < 0.1 * np.abs(ref).mean()


def test_relu_to_qcfs_swaps_modules():
    model = relu_to_qcfs(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Sequential(nn.ReLU())), levels=3)
    assert isinstance(model[1], QCFS) and isinstance(model[2][0], QCFS) and model[1].levels == 3


@pytest.mark.parametrize("kwargs,match", [
    ({"statistic": "median"}, "statistic 'median'"),
    ({"statistic": "p120"}, r"percentile must be in \(0, 100\]"),
    ({"balance": "both"}, "balance='both'"),
    ({"neuron": "Izhikevich"}, "neuron='Izhikevich'"),
    ({"v_init": 1.5}, "v_init=1.5"),
])
def test_bad_options(kwargs, match):
    x = np.ones((4, 4), np.float32)
    with pytest.raises(ConversionError, match=match):
        convert(mlp_ann(), x, **kwargs)


def test_bad_calibration_data():
    with pytest.raises(ConversionError, match="need calibration data"):
        convert(mlp_ann())
    with pytest.raises(InvalidDataError, match="no samples"):
        convert(mlp_ann(), np.ones((0, 4), np.float32))
    with pytest.raises(InvalidDataError, match=r"shape \(3, 5\) does not match"):
        convert(mlp_ann(), np.ones((3, 5), np.float32))
    with pytest.raises(ConversionError, match="already has spiking neurons"):
        convert(convert(mlp_ann(), np.arange(12, dtype=np.float32).reshape(3, 4)))


def test_qcfs_rejects_bad_parameters():
    with pytest.raises(ConversionError, match="levels=0"):
        QCFS(levels=0)


def test_an_ann_sum_with_gains_keeps_them():
    """A hand-built ANN whose Add has gains (3, 1): the SNN computes the same weighted sum."""
    net = ir.Network((ir.Input("x", (), (2,)),
                      ir.Linear("a", ("x",), np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)),
                      ir.ReLU("ra", ("a",), clip=1.0),
                      ir.Linear("b", ("x",), np.array([[0.5, 0.0], [0.0, 0.5]], np.float32)),
                      ir.ReLU("rb", ("b",), clip=1.0),
                      ir.Add("sum", ("ra", "rb"), gains=(np.float32([3.0, 3.0]), None)),
                      ir.Linear("out", ("sum",), np.eye(2, dtype=np.float32))), ("out",))
    x = np.array([[0.5, 0.25], [1.0, 0.75]], np.float32)
    snn = convert(net)
    out = simulate(snn, x, timesteps=512).outputs[512]
    np.testing.assert_allclose(out, run_ann(net, x), atol=0.02)
