import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.convert.normalise import convert
from spikeforge.errors import InvalidDataError, SimulationError
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.ir.network import IF, LIF, Conv2d, Flatten, Input, Linear, MaxPool2d, Network, ReLU
from spikeforge.models import build_model
from spikeforge.sim.simulator import simulate

from reference import naive_simulate


def one_neuron(threshold=1.0, v_init=0.0, cls=IF, **kw):
    return Network((Input("x", (), (1,)), Linear("w", ("x",), np.ones((1, 1), np.float32)),
                    cls("n", ("w",), threshold=threshold, v_init=v_init, **kw),
                    Linear("out", ("n",), np.ones((1, 1), np.float32))), ("out",))


def test_if_neuron_hand_computed():
    # input 0.4 per step, threshold 1, v0 = 0: v = 0.4, 0.8, 1.2→0.2 (spike), 0.6, 1.0→0 (spike)
    result = simulate(one_neuron(), np.array([[0.4]], np.float32), timesteps=5, checkpoints=[1, 2, 3, 4, 5])
    assert [float(result.outputs[t][0, 0]) * t for t in range(1, 6)] == pytest.approx([0, 0, 1, 1, 2])
    assert result.profile.layer("n").spikes == 2


def test_spikes_are_binary_even_for_large_input():
    result = simulate(one_neuron(), np.array([[5.0]], np.float32), timesteps=4)
    assert result.profile.layer("n").spikes == 4  # one per step, not five


def test_lif_leak():
    # beta 0.5, input 0.6: v = 0.6, 0.9, 1.05→spike
    result = simulate(one_neuron(cls=LIF, beta=0.5), np.array([[0.6]], np.float32), timesteps=3)
    assert result.profile.layer("n").spikes == 1


def test_v_init_half_threshold():
    result = simulate(one_neuron(v_init=0.5), np.array([[0.5]], np.float32), timesteps=1)
    assert result.profile.layer("n").spikes == 1


@pytest.mark.parametrize("name,options,statistic", [
    ("digits-cnn", {}, "p99.9"), ("digits-cnn", {"pool": "max"}, "max"), ("lenet5", {"size": 16}, "max"),
    ("resnet18", {"width": 0.08, "size": 16}, "p99"), ("unet", {"size": 16, "base": 4, "depth": 2}, "max"),
])
def test_fast_simulator_matches_naive_reference(name, options, statistic):
    torch.manual_seed(0)
    model, shape = build_model(name, **options)
    x = np.random.default_rng(0).random((6, *shape), dtype=np.float32)
    snn = convert(import_torch(model, shape), x, statistic=statistic)
    result = simulate(snn, x, timesteps=6, batch_size=4)
    out, counts = naive_simulate(snn, x, 6)
    np.testing.assert_allclose(result.outputs[6], out, rtol=1e-4, atol=1e-4)
    for layer, c in counts.items():
        np.testing.assert_allclose(result.profile.layer(layer).spike_counts, c, atol=1e-6)


def test_checkpoints_equal_separate_runs():
    torch.manual_seed(0)
    model, shape = build_model("digits-cnn")
    x = np.random.default_rng(1).random((10, *shape), dtype=np.float32)
    snn = convert(import_torch(model, shape), x)
    full = simulate(snn, x, timesteps=8, checkpoints=[2, 5, 8])
    for t in (2, 5):
        np.testing.assert_allclose(full.outputs[t], simulate(snn, x, timesteps=t).outputs[t], atol=1e-5)


def test_synops_counted_per_spike_and_synapse():
    # 2 inputs -> 3 neurons (dense) -> 4 outputs: each spike of the hidden layer drives 4 synapses.
    w1 = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    net = Network((Input("x", (), (2,)), Linear("l1", ("x",), w1), IF("s", ("l1",), threshold=1.0, v_init=0.0),
                   Linear("l2", ("s",), np.ones((4, 3), np.float32))), ("l2",))
    result = simulate(net, np.array([[1.0, 0.0]], np.float32), timesteps=3)
    layer = result.profile.layer("l2")
    assert result.profile.layer("s").spikes == 6  # neurons 0 and 2 fire every step
    assert layer.synops == 6 * 4 and layer.input_kind == "spikes"
    # The nonzero analog input x0 drives its 3 synapses (structural, zero weights included) at each
    # of 3 steps: counted separately as input MACs; the zero input x1 costs nothing.
    assert result.profile.layer("l1").input_kind == "analog"
    assert result.profile.input_macs_per_sample == 3 * 3


def test_maxpool_passes_the_highest_rate_neuron():
    # Two neurons in one pooling window with rates 1/2 and 1/3: an OR of their spikes would
    # fire at 2/3; gating by spike count passes the winner's rate, 1/2.
    net = Network((Input("x", (), (1, 1, 2)),
                   Conv2d("id", ("x",), np.ones((1, 1, 1, 1), np.float32)),
                   IF("s", ("id",), threshold=1.0, v_init=0.0),
                   MaxPool2d("p", ("s",), kernel=(1, 2)),
                   Flatten("f", ("p",)), Linear("o", ("f",), np.ones((1, 1), np.float32))), ("o",))
    x = np.array([[[[0.5, 1 / 3 + 1e-6]]]], np.float32)
    result = simulate(net, x, timesteps=12)
    assert float(result.outputs[12][0, 0]) == pytest.approx(0.5)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), hidden=st.integers(2, 12))
def test_snn_output_approaches_ann_as_t_grows(seed, hidden):
    rng = np.random.default_rng(seed)
    ann = Network((Input("x", (), (5,)),
                   Linear("l1", ("x",), rng.normal(size=(hidden, 5)).astype(np.float32),
                          rng.normal(size=hidden).astype(np.float32) * 0.1),
                   ReLU("r1", ("l1",)),
                   Linear("l2", ("r1",), rng.normal(size=(3, hidden)).astype(np.float32), None)), ("l2",))
    x = rng.random((64, 5), dtype=np.float32)
    snn = convert(ann, x, statistic="max")
    from spikeforge.sim.simulator import run_ann

    target = run_ann(ann, x)
    result = simulate(snn, x, timesteps=256, checkpoints=[4, 16, 256])
    errors = {t: np.abs(result.outputs[t] - target).mean() for t in (4, 16, 256)}
    scale = np.abs(target).mean() + 1e-3
    assert errors[256] <= errors[4] + 1e-6
    assert errors[256] / scale < 0.05


@pytest.mark.parametrize("kwargs,error,match", [
    ({"timesteps": 0}, SimulationError, "timesteps=0"),
    ({"timesteps": 4, "checkpoints": [5]}, SimulationError, r"checkpoints \[5\] must lie in 1..4"),
    ({"timesteps": 4, "labels": np.zeros(3)}, InvalidDataError, "labels: shape"),
])
def test_bad_requests(kwargs, error, match):
    with pytest.raises(error, match=match):
        simulate(one_neuron(), np.ones((2, 1), np.float32), **kwargs)


def test_bad_data():
    net = one_neuron()
    with pytest.raises(InvalidDataError, match=r"shape \(2, 3\) does not match network input \(N, 1\)"):
        simulate(net, np.ones((2, 3), np.float32), timesteps=2)
    with pytest.raises(InvalidDataError, match="no samples"):
        simulate(net, np.ones((0, 1), np.float32), timesteps=2)
    with pytest.raises(InvalidDataError, match="1 values are NaN or Inf"):
        simulate(net, np.array([[np.inf]], np.float32), timesteps=2)


def test_ann_cannot_be_simulated_as_snn():
    ann = Network((Input("x", (), (1,)), Linear("w", ("x",), np.ones((1, 1), np.float32)), ReLU("r", ("w",))), ("r",))
    with pytest.raises(SimulationError, match="no spiking neurons; convert it first"):
        simulate(ann, np.ones((1, 1), np.float32), timesteps=2)


def integer_net():
    w1 = np.array([[3, -1], [2, 2]], np.float32)
    return Network((Input("x", (), (2,)), Linear("l1", ("x",), w1, np.array([1, 0], np.float32)),
                    IF("s", ("l1",), threshold=np.array([7, 5], np.float32), v_init=0.5),
                    Linear("l2", ("s",), np.array([[1, -2]], np.float32))), ("l2",))


def test_integer_mode_is_bit_exact_against_hand_loop():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(20, 2)).astype(np.float32)
    result = simulate(integer_net(), x, timesteps=9, integer=True)
    w1, b1, theta = np.array([[3, -1], [2, 2]]), np.array([1, 0]), np.array([7, 5])
    v = np.floor(0.5 * theta) * np.ones((20, 2), np.int64)
    counts = np.zeros(2, np.int64)
    for _ in range(9):
        v = v + x.astype(np.int64) @ w1.T + b1
        s = v >= theta
        v = v - s * theta
        counts += s.sum(0)
    np.testing.assert_array_equal(result.profile.layer("s").spike_counts, counts)


def test_integer_mode_rejects_fractions():
    net = one_neuron(threshold=1.5)
    with pytest.raises(SimulationError, match=r"layer n has 1 non-integer parameters \(e.g. 1.5\)"):
        simulate(net, np.ones((1, 1), np.float32), timesteps=2, integer=True)
    with pytest.raises(InvalidDataError, match="integer mode needs integer inputs"):
        simulate(integer_net(), np.full((1, 2), 0.5, np.float32), timesteps=2, integer=True)
