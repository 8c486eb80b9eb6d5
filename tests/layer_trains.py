"""Every layer's output at every timestep, recorded by the simulator's own loop: the shared
helper of the tests that compare traces step by step (NIR round trips, read-outs)."""

from __future__ import annotations

import numpy as np
import torch

from spikeforge.ir import network as ir
from spikeforge.sim import simulator


def layer_trains(net: ir.Network, x: np.ndarray, integer: bool = False) -> dict[str, np.ndarray]:
    """Every layer's output, step by step, (T, N, ...), for a temporal input ``x`` (N, T, ...)."""
    c = simulator.compiled(net, integer)
    seen: dict[str, np.ndarray] = {}
    t = x.shape[1]
    simulator.run_batch(c, torch.as_tensor(x, dtype=c.dtype), t, torch.tensor([t]), lambda n, v: v.data,
                        observe=lambda node, ins, v: seen.__setitem__(node.name, v.data.numpy().copy()))
    return seen
