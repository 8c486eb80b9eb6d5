"""Quantised leaky, CUBA, biased, reset-to-value and recurrent SNNs: the integer simulation equals
the naive reference run on the quantised parameters, the integer decay factors are exact, and the
synaptic-current register saturates and is counted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import naive_activity

from spikeforge.errors import QuantizationError
from spikeforge.ir import network as ir
from spikeforge.quantize import (
    load_quantized,
    quantize,
    quantize_decay,
    save_quantized,
    simulate_integer,
)
from spikeforge.sim.neuron import (
    IntegerArithmetic,
    NeuronParams,
    Tally,
    initial_state,
    neuron_step,
)


def _neuron(kind: str, name: str, src: str, size: int, rng: np.random.Generator, per_neuron: bool,
            v_reset: float | None) -> ir.Node:
    shape = (size,) if per_neuron else ()
    threshold = rng.uniform(0.5, 2.0, shape).astype(np.float32)
    common = {"threshold": threshold, "v_init": float(rng.uniform(0, 0.9)), "v_reset": v_reset}
    if kind == "IF":
        return ir.IF(name, (src,), **common)
    # per neuron: the decays too (as Rockpool trains them)
    leaky = {"beta": rng.uniform(0.3, 1.0, shape), "bias": rng.uniform(-0.3, 0.3, shape).astype(np.float32)}
    if kind == "LIF":
        return ir.LIF(name, (src,), **common, **leaky)
    return ir.CubaLIF(name, (src,), **common, **leaky, alpha=rng.uniform(0.3, 1.0, shape))


def random_dynamic_snn(seed: int, kind: str, recurrent: bool, per_neuron: bool, v_reset: float | None,
                       spiking_out: bool) -> ir.Network:
    """Input → Linear → [+ recurrent Linear of the delayed spikes] → neurons → Linear → [neurons]."""
    rng = np.random.default_rng(seed)
    f, h, o = (int(v) for v in rng.integers(2, 6, 3))
    nodes: list[ir.Node] = [ir.Input("x", (), (f,), temporal=bool(seed % 2)),
                            ir.Linear("fc1", ("x",), rng.normal(0, 1, (h, f)).astype(np.float32),
                                      rng.normal(0, 0.2, h).astype(np.float32))]
    src = "fc1"
    if recurrent:
        nodes[1:1] = [ir.Delay("d", ("n1",), steps=int(rng.integers(1, 3)), shape=(h,)),
                      ir.Linear("rec", ("d",), rng.normal(0, 0.5, (h, h)).astype(np.float32))]
        nodes.append(ir.Add("sum", ("fc1", "rec")))
        src = "sum"
    nodes.append(_neuron(kind, "n1", src, h, rng, per_neuron, v_reset))
    nodes.append(ir.Linear("fc2", ("n1",), rng.normal(0, 1, (o, h)).astype(np.float32)))
    if spiking_out:
        nodes.append(_neuron(kind, "n2", "fc2", o, rng, per_neuron, v_reset))
    return ir.Network(tuple(nodes), (nodes[-1].name,))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(["IF", "LIF", "CubaLIF"]), recurrent=st.booleans(),
       per_neuron=st.booleans(), v_reset=st.sampled_from([None, 0.0, -0.25]), spiking_out=st.booleans(),
       weight_bits=st.integers(3, 8), leak_bits=st.integers(4, 12), per_channel=st.booleans(),
       timesteps=st.integers(1, 12), threshold_bits=st.integers(3, 10))
def test_integer_simulation_equals_the_reference_on_quantised_parameters(
        seed, kind, recurrent, per_neuron, v_reset, spiking_out, weight_bits, leak_bits, per_channel, timesteps,
        threshold_bits):
    net = random_dynamic_snn(seed, kind, recurrent, per_neuron, v_reset, spiking_out)
    # Narrow thresholds: a membrane of a few units, where every floored fraction changes spikes.
    q = quantize(net, weight_bits=weight_bits, leak_bits=leak_bits, per_channel=per_channel, input_bits=6,
                 threshold_bits=threshold_bits)
    rng = np.random.default_rng(seed + 1)
    shape = (3, timesteps, *net.input.shape) if net.input.temporal else (3, *net.input.shape)
    x = rng.uniform(0, 1, shape)
    r = simulate_integer(q, x, timesteps)
    mean, counts, _, _ = naive_activity(q.network, q.quantize_input(x), timesteps, integer=True)
    for name, count in counts.items():
        np.testing.assert_array_equal(r.spike_counts[name], count)
    out = r.outputs[net.outputs[0]]
    np.testing.assert_allclose(out.sum(0) if net.node(net.outputs[0]).is_neuron else out,
                               mean * timesteps if not net.node(net.outputs[0]).is_neuron else
                               counts[net.outputs[0]], rtol=0, atol=1e-6)
    assert r.total_overflows == 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(["LIF", "CubaLIF"]), recurrent=st.booleans(),
       weight_bits=st.integers(2, 8), leak_bits=st.integers(1, 16), per_channel=st.booleans())
def test_quantised_parameters_are_integers_in_their_documented_units(seed, kind, recurrent, weight_bits, leak_bits,
                                                                      per_channel):
    net = random_dynamic_snn(seed, kind, recurrent, seed % 3 == 0, None, True)
    q = quantize(net, weight_bits=weight_bits, leak_bits=leak_bits, per_channel=per_channel)
    levels = 2 ** (weight_bits - 1) - 1
    for node in q.network.nodes:
        for f in ("beta", "alpha"):
            if hasattr(node, f):
                d = np.asarray(getattr(node, f)) * 2**leak_bits
                # an integer decay of leak_bits fraction bits (per neuron when the float ones were)
                assert (d == np.round(d)).all() and (d >= 1).all() and (d <= 2**leak_bits).all()
                np.testing.assert_array_equal(quantize_decay(getattr(node, f), leak_bits), getattr(node, f))
        if node.is_neuron:
            for f in ("threshold", "bias"):
                values = np.asarray(getattr(node, f, 0.0))
                np.testing.assert_array_equal(values, np.round(values))
            assert node.threshold.min() >= 1 and node.threshold.max() <= 2**16 - 1
        if node.has_weights:
            # feeding leaky neurons: weight_bits mantissas times a power of two 2^k, k the same for
            # every weight of the layer (the accumulator unit is the step over 2^k)
            w = node.weight.astype(np.int64)
            nz = np.abs(w[w != 0])
            k = int(min((int(v) & -int(v)).bit_length() - 1 for v in nz)) if nz.size else 0
            assert np.abs(w).max(initial=0) <= levels * 2**k
    if recurrent:  # the recurrent and the feed-forward Affine share the membrane's unit: unit gains
        assert q.network.node("sum").gains is None
        np.testing.assert_array_equal(q.layer_scales["rec"], q.layer_scales["fc1"])


def test_quantised_cuba_neuron_matches_hand_computed_integers():
    # fc: w = 0.5 → q = 127 at a step 0.5/127; the neuron's θ = 1, bias 0.1, beta 0.9, alpha 0.5,
    # 4 fraction bits: beta = round(14.4)/16, alpha = 8/16, weight exponent k with θ/(step/2^k) ≤ 65535.
    net = ir.Network((ir.Input("x", (), (1,)), ir.Linear("fc", ("x",), np.array([[0.5]], np.float32)),
                      ir.CubaLIF("n", ("fc",), threshold=np.float32(1), beta=0.9, alpha=0.5, bias=np.float32(0.1),
                                 v_init=0.0, v_reset=0.0)), ("n",))
    q = quantize(net, input_bits=1, leak_bits=4)
    n, fc = q.network.node("n"), q.network.node("fc")
    k = 8  # 254 · 2^8 = 65024 ≤ 65535 < 254 · 2^9
    assert (n.beta, n.alpha, int(fc.weight[0, 0]), float(n.threshold), float(n.bias)) == \
           (14 / 16, 8 / 16, 127 << k, 254.0 * 2**k, round(0.1 / (0.5 / 127 / 2**k)))
    assert float(q.layer_scales["fc"][0]) == pytest.approx(0.5 / 127 / 2**k, rel=1e-12)


def test_synaptic_current_register_saturates_and_is_counted():
    # Input 3 every step into alpha = 1: i = 3, 6, 9 → the 4-bit register (−8..7) clamps the third.
    net = ir.Network((ir.Input("x", (), (1,)), ir.Linear("w", ("x",), np.array([[1]])),
                      ir.CubaLIF("n", ("w",), threshold=np.float32(7), v_init=0.0, alpha=1.0, beta=0.5)), ("n",))
    r = simulate_integer(net, np.array([[3.0]]), timesteps=3, membrane_bits=4)
    assert r.current_overflows == {"n": 1} and r.peak_current == {"n": 9}
    assert r.total_overflows == r.overflows["n"] + 1
    assert simulate_integer(net, np.array([[3.0]]), timesteps=3).membrane_bits_needed >= 5


def test_float_arithmetic_leaves_the_synaptic_current_alone():
    params = NeuronParams(torch.tensor(100.0, dtype=torch.float64), beta=0.5, v_init=0.0, alpha=0.5)
    state = initial_state(params, torch.zeros(1, dtype=torch.float64))
    tally = Tally()
    _, s = neuron_step(state, torch.tensor([9.0], dtype=torch.float64), params,
                       arithmetic=IntegerArithmetic(bits=4, current_tally=tally))
    assert float(s.i_syn[0]) == 7.0 and tally.overflows == 1
    _, s = neuron_step(state, torch.tensor([9.0], dtype=torch.float64), params)
    assert float(s.i_syn[0]) == 9.0


def test_a_saved_recurrent_cuba_network_loads_back_and_runs_the_same(tmp_path):
    net = random_dynamic_snn(7, "CubaLIF", True, True, 0.0, True)
    q = quantize(net, leak_bits=10)
    back = load_quantized(save_quantized(q, tmp_path / "q"))
    assert back.leak_bits == 10
    for a, b in zip(back.network.nodes, q.network.nodes):
        if a.is_neuron:
            np.testing.assert_array_equal(a.beta, b.beta)
            assert np.shape(b.beta) == (len(b.threshold),)  # per neuron, kept per neuron
    x = np.random.default_rng(0).uniform(0, 1, (2, 5, *net.input.shape) if net.input.temporal else (2, *net.input.shape))
    for name, count in simulate_integer(back, x, 5).spike_counts.items():
        np.testing.assert_array_equal(count, simulate_integer(q, x, 5).spike_counts[name])


@pytest.mark.parametrize("per_channel", [False, True])
def test_per_neuron_conv_thresholds_divide_by_their_channels_unit(per_channel):
    rng = np.random.default_rng(3)
    theta = rng.uniform(0.5, 2.0, (3, 4, 4)).astype(np.float32)
    net = ir.Network((ir.Input("x", (), (2, 4, 4)),
                      ir.Conv2d("conv", ("x",), rng.normal(0, 1, (3, 2, 3, 3)).astype(np.float32), padding=(1, 1)),
                      ir.LIF("n", ("conv",), threshold=theta, beta=0.8, bias=rng.uniform(0, 0.2, 3).astype(np.float32),
                             v_reset=0.0)), ("n",))
    q = quantize(net, per_channel=per_channel, threshold_bits=10)
    unit = q.layer_scales["conv"].reshape(-1, 1, 1)
    n = q.network.node("n")
    assert n.threshold.shape == (3, 4, 4) and n.bias.shape == (3,)
    np.testing.assert_array_equal(n.threshold, np.maximum(1, np.round(theta / unit)))
    assert n.threshold.max() <= 2**10 - 1
    x = rng.uniform(0, 1, (2, 2, 4, 4))
    _, counts, _, _ = naive_activity(q.network, q.quantize_input(x), 6, integer=True)
    np.testing.assert_array_equal(simulate_integer(q, x, 6).spike_counts["n"], counts["n"])


def _fc_into(neuron_cls, **params) -> ir.Network:
    r = np.random.default_rng(3)
    return ir.Network((
        ir.Input("x", (), (6,)),
        ir.Linear("fc", ("x",), r.normal(0, 0.6, (5, 6)).astype(np.float32)),
        neuron_cls("n", ("fc",), **params)), ("n",))


def test_a_threshold_layer_keeps_its_memoryless_step_and_runs_in_integers():
    snn = _fc_into(ir.Threshold, threshold=np.float32(0.4))
    q = quantize(snn, weight_bits=8)
    assert type(q.network.node("n")) is ir.Threshold and q.network.node("n").beta == 0.0
    x = np.random.default_rng(4).uniform(0, 1, (16, 6)).astype(np.float32)
    got = simulate_integer(q, x, 6)
    _, counts, _, _ = naive_activity(q.network, q.quantize_input(x), 6, integer=True)
    np.testing.assert_array_equal(got.spike_counts["n"], counts["n"])
    assert 0 < counts["n"].sum() < counts["n"].size * 6 * len(x)  # neither silent nor saturated


def test_a_non_spiking_read_out_is_refused_by_name():
    with pytest.raises(QuantizationError, match=r"layer n \(LI\): a non-spiking read-out is not supported"):
        quantize(_fc_into(ir.LI, beta=0.9), weight_bits=8)
