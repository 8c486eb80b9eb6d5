"""Non-spiking read-outs (LI, CubaLI) and memoryless thresholds in the simulator: the
equations step by step, no spikes counted for a read-out, its synaptic input counted, and the
read-out at t its potential averaged over the first t steps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_trains import layer_trains

from spikeforge.ir import network as ir
from spikeforge.sim import simulator


def readout_net(readout: ir.Node, n: int = 3) -> ir.Network:
    return ir.Network((ir.Input("x", (), (n,), temporal=True), readout), outputs=(readout.name,))


@settings(max_examples=30, deadline=None)
@given(alpha=st.floats(0.05, 1.0), beta=st.floats(0.05, 1.0), bias=st.floats(-1, 1), cuba=st.booleans(),
       seed=st.integers(0, 2**16))
def test_readout_membrane_follows_its_equations(alpha, beta, bias, cuba, seed):
    x = np.random.default_rng(seed).normal(size=(2, 9, 3)).astype(np.float32)
    node = ir.CubaLI("li", ("x",), alpha=alpha, beta=beta, bias=np.float32(bias)) if cuba else \
        ir.LI("li", ("x",), beta=beta, bias=np.float32(bias))
    got = layer_trains(readout_net(node), x)["li"]
    i = v = np.zeros((2, 3))
    for t in range(9):
        i = alpha * i + x[:, t] if cuba else x[:, t]
        v = beta * v + i + np.float32(bias)
        np.testing.assert_allclose(got[t], v, rtol=1e-5, atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(theta=st.floats(0.05, 2.0), seed=st.integers(0, 2**16))
def test_a_threshold_is_the_heaviside_of_its_input(theta, seed):
    x = np.random.default_rng(seed).uniform(-2, 2, (2, 7, 4)).astype(np.float32)
    got = layer_trains(readout_net(ir.Threshold("t", ("x",), threshold=np.float32(theta)), 4), x)["t"]
    assert np.array_equal(got.astype(bool), (x >= np.float32(theta)).transpose(1, 0, 2))


def test_readout_counts_no_spikes_but_its_synapses():
    net = ir.Network((ir.Input("x", (), (4,), temporal=True), ir.Linear("fc", ("x",), np.ones((2, 4), np.float32)),
                      ir.LI("li", ("fc",), beta=0.5)), outputs=("li",))
    x = (np.random.default_rng(0).random((3, 5, 4)) < 0.5).astype(np.float32)
    result = simulator.simulate(net, x, timesteps=5, checkpoints=[2, 5])
    layer = result.profile.layer("li")
    assert layer.spikes == 0 and layer.neurons == 2 and not result.profile.rates("li").any()
    assert result.profile.layer("fc").synops == x.sum() * 2 and result.profile.layer("fc").input_kind == "spikes"
    membrane = layer_trains(net, x)["li"]
    for t in (2, 5):
        np.testing.assert_allclose(result.outputs[t], membrane[:t].mean(0), rtol=1e-6)


def test_readout_runs_in_integer_arithmetic_with_floored_leak():
    net = readout_net(ir.CubaLI("li", ("x",), alpha=0.5, beta=0.75, bias=np.float32(1)), 1)
    x = np.array([[[7.0], [0.0], [3.0]]])
    got = layer_trains(net, x, integer=True)["li"][:, 0, 0]
    i, v, want = 0.0, 0.0, []
    for xt in (7.0, 0.0, 3.0):
        i = np.floor(0.5 * i) + xt
        v = np.floor(0.75 * v) + i + 1
        want.append(v)
    assert got.tolist() == want


def test_readout_neuron_never_fires():
    stand_in = simulator.readout_neuron(ir.LI("li", ("x",), beta=0.5))
    assert isinstance(stand_in, ir.LIF) and float(stand_in.threshold) == pytest.approx(simulator.NEVER)
