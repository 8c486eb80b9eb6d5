"""Non-spiking read-outs in the IR (LI, CubaLI) and memoryless thresholds: fields checked
on construction, only a network output may read a read-out, and they save and load."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from spikeforge.errors import InvalidNetworkError, ShapeError
from spikeforge.ir.network import (
    LI,
    LIF,
    NODE_TYPES,
    CubaLI,
    Delay,
    Input,
    Linear,
    Network,
    Threshold,
)
from spikeforge.ir.serialize import load_network, save_network


def readout_net(readout) -> Network:
    return Network((Input("x", (), (3,), temporal=True), Linear("fc", ("x",), np.eye(3, dtype=np.float32)),
                    readout), outputs=("li",))


def test_readouts_are_neurons_that_do_not_spike():
    assert {name for name, cls in NODE_TYPES.items() if cls.is_neuron and not cls.spiking} == {"LI", "CubaLI"}
    assert {name for name, cls in NODE_TYPES.items() if cls.spiking} == {"IF", "LIF", "CubaLIF", "Threshold"}
    net = readout_net(CubaLI("li", ("fc",), alpha=0.5, beta=0.9, bias=np.array([0.0, 0.1, 0.2], np.float32)))
    assert net.kind == "snn" and net.neuron_count() == 3 and net.shape("li") == (3,)
    assert float(net.node("li").threshold) == np.inf  # never reached; not a parameter
    assert "threshold" not in {f.name for f in dataclasses.fields(net.node("li"))}


@pytest.mark.parametrize("make, pattern", [
    (lambda: LI("li", ("fc",), beta=0.0), r"layer li \(LI\): beta=0\.0 must be a number in \(0, 1\]"),
    (lambda: LI("li", ("fc",), beta=1.5), r"layer li \(LI\): beta=1\.5 must be a number in \(0, 1\]"),
    (lambda: CubaLI("li", ("fc",), alpha=0.0), r"layer li \(CubaLI\): alpha=0\.0 must be a number in \(0, 1\]"),
    (lambda: LI("li", ("fc",), bias=np.array([np.nan, 0, 0])), r"layer li\.bias: 1 of 3 values are NaN or Inf"),
    (lambda: LIF("n", ("fc",), threshold=np.float32(1), beta=-0.1), r"layer n \(LIF\): beta=-0\.1 must be"),
])
def test_readout_fields_are_checked(make, pattern):
    with pytest.raises(InvalidNetworkError, match=pattern):
        make()


def test_a_threshold_is_a_neuron_without_memory():
    t = Threshold("t", ("fc",), threshold=np.array([0.5, 1.0], np.float32))
    assert (t.beta, t.v_init, t.v_reset) == (0.0, 0.0, 0.0) and t.spiking
    with pytest.raises(InvalidNetworkError, match=r"layer t \(Threshold\): thresholds must be > 0"):
        Threshold("t", ("fc",), threshold=np.float32(0))


def test_only_an_output_may_read_a_readout():
    base = (Input("x", (), (3,)), Linear("fc", ("x",), np.eye(3, dtype=np.float32)), LI("li", ("fc",), beta=0.9))
    with pytest.raises(InvalidNetworkError, match=r"layer fc2 \(Linear\) reads li \(LI\), a non-spiking read-out"):
        Network((*base, Linear("fc2", ("li",), np.eye(3, dtype=np.float32))), outputs=("fc2",))
    with pytest.raises(InvalidNetworkError, match=r"layer d \(Delay\) reads li \(LI\), a non-spiking read-out"):
        Network((Delay("d", ("li",), shape=(3,)), *base), outputs=("li",))
    with pytest.raises(ShapeError, match=r"layer li \(LI\): bias shape \(2,\) is neither scalar"):
        readout_net(LI("li", ("fc",), bias=np.zeros(2, np.float32)))


def test_readouts_save_and_load(tmp_path):
    net = readout_net(CubaLI("li", ("fc",), alpha=0.25, beta=0.75, bias=np.float32(0.5)))
    back = load_network(save_network(net, tmp_path / "net"))
    li = back.node("li")
    assert isinstance(li, CubaLI) and (li.alpha, li.beta, float(li.bias)) == (0.25, 0.75, 0.5)
    net = Network((Input("x", (), (2,)), Threshold("t", ("x",), threshold=np.array([0.5, 2.0], np.float32))), ("t",))
    t = load_network(save_network(net, tmp_path / "t")).node("t")
    assert isinstance(t, Threshold) and t.threshold.tolist() == [0.5, 2.0]
