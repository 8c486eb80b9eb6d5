"""LIF bias, CubaLIF, reset to a potential, per-neuron parameters, Delays, recurrent loops and
temporal input: the simulator (float and integer) against the naive step-by-step reference, a
hand-computed trace, and a recurrent network against its unrolled feed-forward equivalent."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import naive_activity

from spikeforge.errors import SimulationError
from spikeforge.ir import network as ir
from spikeforge.quantize.integer_sim import record_trace, simulate_integer
from spikeforge.sim.neuron import initial_state, neuron_params, neuron_step
from spikeforge.sim.simulator import simulate


def _f32(a) -> np.ndarray:
    return np.asarray(a, np.float32)


def test_cubalif_single_neuron_trace_by_hand():
    """i_t = 0.5 i + I, v_t = 0.75 v + i + 0.25, θ = 2, reset to 0.25·θ; constant input 1."""
    net = ir.Network((ir.Input("x", (), (1,)),
                      ir.CubaLIF("n", ("x",), threshold=_f32(2.0), v_init=0.0, v_reset=0.25, alpha=0.5,
                                 beta=0.75, bias=_f32(0.25))), ("n",))
    # By hand (exact in binary fractions):
    # t1: i=1,    v=0+1+.25=1.25            no spike
    # t2: i=1.5,  v=.9375+1.5+.25=2.6875    spike -> v=0.5
    # t3: i=1.75, v=.375+1.75+.25=2.375     spike -> v=0.5
    # t4: i=1.875,v=.375+1.875+.25=2.5      spike -> v=0.5
    # t5: i=1.9375, v=.375+1.9375+.25=2.5625 spike
    params = neuron_params(net.node("n"), 2)
    state = initial_state(params, torch.zeros(1, 1))
    trace = []
    for _ in range(5):
        s, state = neuron_step(state, torch.ones(1, 1), params)
        trace.append((float(s), float(state.i_syn), float(state.v)))
    assert trace == [(0.0, 1.0, 1.25), (1.0, 1.5, 0.5), (1.0, 1.75, 0.5), (1.0, 1.875, 0.5), (1.0, 1.9375, 0.5)]
    r = simulate(net, np.ones((1, 1)), timesteps=5, checkpoints=[1, 2, 5])
    assert r.outputs[1].tolist() == [[0.0]] and r.outputs[2].tolist() == [[0.5]]
    assert r.outputs[5][0, 0] == pytest.approx(0.8) and r.profile.layer("n").spikes == 4


def _recurrent(n_in: int, n: int, rng, *, neuron: str, steps: int, temporal: bool, per_neuron: bool,
               v_reset, feed_delay: bool) -> ir.Network:
    theta = _f32(rng.uniform(0.5, 1.5, n) if per_neuron else 1.0)
    kw = {"threshold": theta, "v_init": 0.25, "v_reset": v_reset}
    bias = _f32(rng.uniform(-0.2, 0.3, n))
    # decays exact in binary, one per neuron when per_neuron
    beta = rng.choice([0.5, 0.75, 0.875, 1.0], n) if per_neuron else 0.875
    alpha = rng.choice([0.5, 0.75, 0.875, 1.0], n) if per_neuron else 0.75
    neurons = {"IF": lambda name, src: ir.IF(name, (src,), **kw),
               "LIF": lambda name, src: ir.LIF(name, (src,), beta=beta, bias=bias, **kw),
               "CubaLIF": lambda name, src: ir.CubaLIF(name, (src,), alpha=alpha, beta=beta, bias=bias, **kw)}
    nodes = [ir.Input("x", (), (n_in,), temporal=temporal),
             ir.Linear("fc", ("x",), _f32(rng.normal(0, 0.8, (n, n_in))), _f32(rng.normal(0, 0.1, n))),
             ir.Delay("back", ("rec",), steps=steps, shape=(n,)),
             ir.Add("sum", ("fc", "back")),
             neurons[neuron]("n", "sum"),
             ir.Linear("rec", ("n",), _f32(rng.normal(0, 0.6, (n, n))))]
    if feed_delay:
        nodes += [ir.Delay("late", ("n",), steps=2, shape=(n,)), ir.Linear("out", ("late",), _f32(rng.normal(0, 1, (3, n))))]
    else:
        nodes += [ir.Linear("out", ("n",), _f32(rng.normal(0, 1, (3, n))))]
    return ir.Network(tuple(nodes), ("out",))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), neuron=st.sampled_from(["IF", "LIF", "CubaLIF"]), steps=st.integers(1, 3),
       temporal=st.booleans(), per_neuron=st.booleans(), v_reset=st.sampled_from([None, 0.0, 0.3]),
       feed_delay=st.booleans(), timesteps=st.integers(1, 7))
def test_recurrent_matches_naive_reference(seed, neuron, steps, temporal, per_neuron, v_reset, feed_delay,
                                           timesteps):
    rng = np.random.default_rng(seed)
    net = _recurrent(4, 5, rng, neuron=neuron, steps=steps, temporal=temporal, per_neuron=per_neuron,
                     v_reset=v_reset, feed_delay=feed_delay)
    shape = (3, timesteps, 4) if temporal else (3, 4)
    x = (rng.random(shape) < 0.5).astype(np.float32) if temporal else rng.random(shape).astype(np.float32)
    r = simulate(net, x, timesteps=timesteps, batch_size=2)
    out, counts, synops, kinds = naive_activity(net, x, timesteps)
    np.testing.assert_allclose(r.outputs[timesteps], out, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(r.profile.layer("n").spike_counts, counts["n"])
    for name, n_ops in synops.items():
        layer = r.profile.layer(name)
        assert layer.input_kind == kinds[name]
        if n_ops is not None:
            assert layer.synops == pytest.approx(n_ops)
    assert r.profile.layer("rec").synops == pytest.approx(synops["rec"])  # recurrent synapses counted


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), neuron=st.sampled_from(["IF", "LIF", "CubaLIF"]),
       v_reset=st.sampled_from([None, 0.0, 0.5]), timesteps=st.integers(1, 6))
def test_integer_leaky_recurrent_matches_naive_floored(seed, neuron, v_reset, timesteps):
    """Integer arithmetic: integer weights, thresholds and biases; leak and reset products floored."""
    rng = np.random.default_rng(seed)
    kw = {"threshold": _f32(rng.integers(4, 12, 5)), "v_init": 0.5, "v_reset": v_reset}
    bias = _f32(rng.integers(-2, 3, 5))
    make = {"IF": lambda: ir.IF("n", ("sum",), **kw),
            "LIF": lambda: ir.LIF("n", ("sum",), beta=0.75, bias=bias, **kw),
            "CubaLIF": lambda: ir.CubaLIF("n", ("sum",), alpha=0.5, beta=0.75, bias=bias, **kw)}[neuron]
    net = ir.Network((ir.Input("x", (), (4,)),
                      ir.Linear("fc", ("x",), _f32(rng.integers(-3, 4, (5, 4))), None),
                      ir.Delay("back", ("rec",), shape=(5,)),
                      ir.Add("sum", ("fc", "back")), make(),
                      ir.Linear("rec", ("n",), _f32(rng.integers(-4, 5, (5, 5))), None)), ("n",))
    x = rng.integers(0, 6, (3, 4)).astype(np.float32)
    r = simulate(net, x, timesteps=timesteps, integer=True)
    out, counts, _, _ = naive_activity(net, x, timesteps, integer=True)
    np.testing.assert_array_equal(r.profile.layer("n").spike_counts, counts["n"])
    np.testing.assert_allclose(r.outputs[timesteps], out, atol=1e-12)
    ir_result = simulate_integer(net, x, timesteps, membrane_bits=24)
    np.testing.assert_array_equal(ir_result.spike_counts["n"], counts["n"])
    trace = record_trace(net, x, timesteps, integer=True)
    rec = next(layer for layer in trace.layers if layer.name == "rec")
    assert rec.input_kind == "spikes" and rec.ops.sum() == pytest.approx(r.profile.layer("rec").synops)


def test_linear_recurrence_equals_unrolled_feedforward():
    """y_t = x_t + W y_{t-1} (a loop through a Delay) equals sum_k W^k x_{t-k} built from
    feed-forward Delays, exactly: integer weights, spikes of an IF neuron layer identical."""
    rng = np.random.default_rng(3)
    w = rng.integers(-1, 2, (4, 4)).astype(np.float32)
    x = rng.integers(0, 3, (5, 6, 4)).astype(np.float32)
    T = 6
    loop = ir.Network((ir.Input("x", (), (4,), temporal=True), ir.Delay("d", ("w",), shape=(4,)),
                       ir.Add("y", ("x", "d")), ir.Linear("w", ("y",), w, None),
                       ir.IF("n", ("y",), threshold=_f32(2.0), v_init=0.0)), ("n",))
    nodes = [ir.Input("x", (), (4,), temporal=True)]
    terms = ["x"]
    power = np.eye(4, dtype=np.float32)
    for k in range(1, T):
        power = w @ power
        nodes += [ir.Delay(f"d{k}", ("x",), steps=k, shape=(4,)), ir.Linear(f"w{k}", (f"d{k}",), power.copy(), None)]
        terms.append(f"w{k}")
    nodes += [ir.Add("y", tuple(terms)), ir.IF("n", ("y",), threshold=_f32(2.0), v_init=0.0)]
    unrolled = ir.Network(tuple(nodes), ("n",))
    assert loop.loops() == (("d", "y", "w"),) and not unrolled.recurrent
    for integer in (False, True):
        a = simulate(loop, x, timesteps=T, checkpoints=range(1, T + 1), integer=integer)
        b = simulate(unrolled, x, timesteps=T, checkpoints=range(1, T + 1), integer=integer)
        for t in range(1, T + 1):
            np.testing.assert_array_equal(a.outputs[t], b.outputs[t])
        np.testing.assert_array_equal(a.profile.layer("n").spike_counts, b.profile.layer("n").spike_counts)


def test_temporal_input_of_repeated_frames_equals_static_input():
    rng = np.random.default_rng(0)
    layers = (ir.Linear("fc", ("x",), _f32(rng.normal(0, 1, (3, 4))), None),
              ir.LIF("n", ("fc",), threshold=_f32(0.7), beta=0.9, bias=_f32([0.1, 0.0, -0.1])))
    static = ir.Network((ir.Input("x", (), (4,)), *layers), ("n",))
    temporal = ir.Network((ir.Input("x", (), (4,), temporal=True), *layers), ("n",))
    x = rng.random((6, 4)).astype(np.float32)
    a = simulate(static, x, timesteps=5)
    b = simulate(temporal, np.repeat(x[:, None], 5, axis=1), timesteps=5)
    np.testing.assert_array_equal(a.outputs[5], b.outputs[5])
    assert a.profile.layer("fc").synops == b.profile.layer("fc").synops
    assert a.profile.layer("fc").input_kind == "analog" and b.profile.layer("fc").input_kind == "graded"


def test_temporal_input_needs_as_many_steps_as_the_run():
    net = ir.Network((ir.Input("x", (), (4,), temporal=True), ir.IF("n", ("x",), threshold=_f32(1))), ("n",))
    with pytest.raises(SimulationError, match="input data: 3 timesteps of temporal input, the simulation runs 5"):
        simulate(net, np.zeros((2, 3, 4)), timesteps=5)
    with pytest.raises(Exception, match=r"does not match network input \(N, T, 4\)"):
        simulate(net, np.zeros((2, 4)), timesteps=5)


def test_delay_outside_a_loop_shifts_spike_trains():
    x = np.zeros((1, 6, 2), np.float32)
    x[0, [0, 2, 5], 0] = 1
    net = ir.Network((ir.Input("x", (), (2,), temporal=True), ir.IF("n", ("x",), threshold=_f32(1), v_init=0.0),
                      ir.Delay("d", ("n",), steps=2, shape=(2,)), ir.Linear("fc", ("d",), np.eye(2, dtype=np.float32))),
                     ("fc",))
    r = simulate(net, x, timesteps=6, checkpoints=range(1, 7))
    # n spikes at steps 1, 3, 6 -> delayed to 3, 5 (8 is past the end)
    assert [float(r.outputs[t][0, 0] * t) for t in range(1, 7)] == [0, 0, 1, 1, 2, 2]
    assert r.profile.layer("fc").input_kind == "spikes" and r.profile.layer("fc").synops == 2 * 2  # 2 spikes, 2 synapses each


def test_maxpool_inside_a_loop_is_refused():
    net = ir.Network((ir.Input("x", (), (1, 4, 4)), ir.Delay("d", ("up",), shape=(1, 4, 4)), ir.Add("a", ("x", "d")),
                      ir.IF("n", ("a",), threshold=_f32(1)), ir.MaxPool2d("p", ("n",), kernel=(2, 2), stride=(2, 2)),
                      ir.Upsample("up", ("p",), scale=2)), ("n",))
    with pytest.raises(SimulationError, match=r"layer p \(MaxPool2d\): not supported inside a recurrent loop"):
        simulate(net, np.zeros((1, 1, 4, 4)), timesteps=2)
