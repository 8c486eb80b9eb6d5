"""quantize refuses what integer hardware cannot hold, one line naming the layer and the number."""

from __future__ import annotations

import numpy as np
import pytest

from spikeforge.errors import QuantizationError
from spikeforge.ir import network as ir
from spikeforge.quantize.core import QuantizedNetwork, quantize, quantize_decay


def _net(neuron: ir.Node, *extra: ir.Node) -> ir.Network:
    return ir.Network((ir.Input("x", (), (4,)), ir.Linear("fc", ("x",), np.ones((4, 4), np.float32)), neuron,
                       *extra), (extra[-1].name if extra else neuron.name,))


def _loop_from_linear() -> ir.Network:
    # fc2's output (not spikes) comes back through the Delay: its unit is unknown before the loop.
    return ir.Network((ir.Input("x", (), (4,)), ir.Delay("d", ("fc2",), shape=(4,)), ir.Add("a", ("x", "d")),
                       ir.IF("n", ("a",), threshold=np.float32(1)),
                       ir.Linear("fc2", ("n",), np.ones((4, 4), np.float32))), ("fc2",))


@pytest.mark.parametrize(("net", "options", "match"), [
    (_loop_from_linear(), {},
     r"layer d \(Delay\): closes a loop from layer fc2 \(Linear\), not a neuron layer"),
    (_net(ir.LIF("n", ("fc",), threshold=np.float32(1), beta=1e-5)), {"leak_bits": 4},
     r"layer n\.beta=1e-05: rounds to 0 with leak_bits=4 \(smallest decay factor 0\.0625\)"),
    (_net(ir.CubaLIF("n", ("fc",), threshold=np.float32(1), alpha=0.01)), {"leak_bits": 4},
     r"layer n\.alpha=0\.01: rounds to 0 with leak_bits=4"),
    (_net(ir.LIF("n", ("fc",), threshold=np.float32(1), bias=np.float32(1e6))), {},
     r"layer n: bias 127000000 \(in unit 0\.00787\) needs more than the 24 bits float32 holds exactly"),
    (_net(ir.LIF("n", ("fc",), threshold=np.float32(1), bias=np.float32(3.0))), {"threshold_bits": 8, "membrane_bits": 9},
     r"layer n: bias 381 does not fit the 9-bit membrane \(max 255\)"),
    (_net(ir.IF("n", ("fc",), threshold=np.float32(1), v_reset=-3.0)), {"threshold_bits": 8, "membrane_bits": 9},
     r"layer n: reset potential 762 does not fit the 9-bit membrane \(max 255\)"),
    (_net(ir.LIF("n", ("fc",), threshold=np.float32(1), beta=0.5)), {"leak_bits": 25},
     r"leak_bits=25: must be in 1\.\.24"),
])
def test_impossible_dynamics_are_refused(net, options, match):
    with pytest.raises(QuantizationError, match=match):
        quantize(net, input_range=1.0, input_bits=1, **options)  # fc: step 1/127 (v_reset: 1/254)


def test_a_quantised_network_holds_decays_to_its_fraction_bits():
    net = _net(ir.LIF("n", ("fc",), threshold=np.float32(5), beta=0.9))
    with pytest.raises(QuantizationError, match=r"layer n\.beta=0\.9: not a multiple of 2\*\*-12 \(leak_bits=12\)"):
        QuantizedNetwork(net, 8, 16, None, False, 8, 1 / 255)
    q = quantize(net, input_range=1.0)
    assert q.network.node("n").beta == quantize_decay(0.9, 12) == 3686 / 4096  # round(3686.4)


def test_decay_factor_of_no_bits_is_refused():
    with pytest.raises(QuantizationError, match=r"leak_bits=0: must be in 1\.\.24"):
        quantize_decay(0.5, 0)
