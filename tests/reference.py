"""A deliberately naive, step-by-step SNN reference: every layer at every timestep, one at a time.

Used only to check the fast simulator's shortcuts (static inputs, time-batched layers,
collapsed read-out) and its counters."""

from __future__ import annotations

import numpy as np
import torch

from spikeforge.ir import network as ir
from spikeforge.sim.ops import compile_layer


def naive_simulate(net: ir.Network, x: np.ndarray, timesteps: int):
    """Return (mean output over T, spikes per neuron layer summed over T and batch)."""
    kernels = {n.name: compile_layer(n, net, torch.float64) for n in net.nodes
               if not isinstance(n, ir.Input) and not n.is_neuron}
    xt = torch.as_tensor(x, dtype=torch.float64)
    v, counts, running = {}, {}, {}
    total = 0
    for _ in range(timesteps):
        vals = {}
        for node in net.nodes:
            if isinstance(node, ir.Input):
                vals[node.name] = xt
            elif node.is_neuron:
                cur = vals[node.inputs[0]]
                theta = torch.as_tensor(np.array(node.threshold), dtype=torch.float64)
                theta = theta.reshape(-1, *([1] * (cur.ndim - 2))) if theta.ndim else theta
                if node.name not in v:
                    v[node.name] = torch.full_like(cur, node.v_init) * theta
                v[node.name] = v[node.name] * getattr(node, "beta", 1.0) + cur
                s = (v[node.name] >= theta).double()
                v[node.name] = v[node.name] - s * theta
                counts[node.name] = counts.get(node.name, 0) + s.sum(0)
                vals[node.name] = s
            elif isinstance(node, ir.MaxPool2d) and net.node(node.inputs[0]).is_neuron:
                src = vals[node.inputs[0]]
                running[node.name] = running.get(node.name, 0) + src
                _, idx = torch.nn.functional.max_pool2d(running[node.name], node.kernel, node.stride,
                                                        node.padding, return_indices=True)
                vals[node.name] = src.flatten(2).gather(2, idx.flatten(2)).reshape(idx.shape)
            else:
                vals[node.name] = kernels[node.name](*(vals[i] for i in node.inputs))
        total = total + vals[net.outputs[0]]
    return (total / timesteps).numpy(), {k: c.numpy() for k, c in counts.items()}
