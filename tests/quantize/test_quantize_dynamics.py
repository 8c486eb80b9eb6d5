"""quantize refuses the dynamics it has no scale rules for, one line naming the layer."""

from __future__ import annotations

import numpy as np
import pytest

from spikeforge.errors import QuantizationError
from spikeforge.ir import network as ir
from spikeforge.quantize.core import quantize


def _net(neuron: ir.Node, *extra: ir.Node) -> ir.Network:
    return ir.Network((ir.Input("x", (), (4,)), ir.Linear("fc", ("x",), np.ones((4, 4), np.float32)), neuron,
                       *extra), (extra[-1].name if extra else neuron.name,))


@pytest.mark.parametrize(("net", "match"), [
    (_net(ir.CubaLIF("n", ("fc",), threshold=np.float32(1), alpha=0.5)),
     r"layer n \(CubaLIF\): not supported by quantize yet"),
    (_net(ir.IF("n", ("fc",), threshold=np.float32(1)), ir.Delay("d", ("n",), shape=(4,))),
     r"layer d \(Delay\): not supported by quantize yet"),
    (_net(ir.LIF("n", ("fc",), threshold=np.float32(1), bias=np.float32(0.5))),
     r"layer n \(LIF\): a bias current or v_reset is not supported by quantize yet"),
    (_net(ir.IF("n", ("fc",), threshold=np.float32(1), v_reset=0.0)),
     r"layer n \(IF\): a bias current or v_reset is not supported by quantize yet"),
])
def test_unsupported_dynamics_are_refused(net, match):
    with pytest.raises(QuantizationError, match=match):
        quantize(net, input_range=1.0)
