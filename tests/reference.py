"""A deliberately naive, step-by-step SNN reference: every layer at every timestep, one at a time.

Used only to check the fast simulator's shortcuts (static inputs, time-batched layers,
collapsed read-out) and its counters."""

from __future__ import annotations

import numpy as np
import torch

from spikeforge.ir import network as ir
from spikeforge.sim.ops import compile_layer, unit_fanout

_KEEP_SPIKES = (ir.MaxPool2d, ir.Upsample, ir.Flatten, ir.Concat)
_LINEAR = (ir.Linear, ir.Conv2d, ir.ConvTranspose2d, ir.SparseLinear, ir.AvgPool2d, ir.Upsample, ir.Flatten, ir.Add,
           ir.Concat)
_STRUCTURAL = (ir.Flatten, ir.Upsample, ir.Concat, ir.AvgPool2d, ir.Add)


def naive_simulate(net: ir.Network, x: np.ndarray, timesteps: int):
    """Return (mean output over T, spikes per neuron layer summed over T and batch)."""
    out, counts, _, _ = naive_activity(net, x, timesteps)
    return out, counts


def naive_activity(net: ir.Network, x: np.ndarray, timesteps: int, integer: bool = False):
    """Return (mean output over T, spikes per neuron layer, synops per synaptic layer, input kinds).

    Synaptic operations are counted at every step as (non-zero input entries × synapses leaving
    each). The simulator evaluates the read-out region (linear layers from which no neuron is
    reachable) on time averages, and counts a synaptic layer fed from there on its input's average
    (non-zero entries × T): for those layers the synops are ``None`` here. Input kinds:
    ``'analog'`` without a neuron upstream, ``'spikes'`` for neurons and spike-preserving layers
    of spikes, else ``'graded'``. ``integer`` starts membranes at floor(v_init·θ), as the
    simulator's integer mode.
    """
    kernels = {n.name: compile_layer(n, net, torch.float64) for n in net.nodes
               if not isinstance(n, ir.Input) and not n.is_neuron}
    fanout = {n.name: f.double() for n in net.nodes if (f := unit_fanout(n, net)) is not None}
    xt = torch.as_tensor(x, dtype=torch.float64)
    spiking = {n.name for n in net.nodes if n.is_neuron}
    temporal = set(spiking)
    for node in net.nodes:
        if any(i in temporal for i in node.inputs):
            temporal.add(node.name)
        if isinstance(node, _KEEP_SPIKES) and all(i in spiking for i in node.inputs):
            spiking.add(node.name)
    kinds = {n.name: ("spikes" if n.inputs[0] in spiking else "graded") if n.inputs[0] in temporal else "analog"
             for n in net.nodes if n.name in fanout}
    readout: set[str] = set()
    for node in reversed(net.nodes):
        if isinstance(node, _LINEAR) and all(c.name in readout for c in net.consumers(node.name)):
            readout.add(node.name)
    averaged: set[str] = set()
    for node in net.nodes:
        if node.name in temporal and (any(i in averaged for i in node.inputs)
                                      or (node.name in readout and not isinstance(node, _STRUCTURAL))):
            averaged.add(node.name)
    v, counts, running, peaks, synops = {}, {}, {}, {}, dict.fromkeys(fanout, 0.0)
    total = 0
    for _ in range(timesteps):
        vals = {}
        for node in net.nodes:
            if node.name in fanout:
                synops[node.name] += float(((vals[node.inputs[0]] != 0).double().sum(0) * fanout[node.name]).sum())
            if isinstance(node, ir.Input):
                vals[node.name] = xt
            elif node.is_neuron:
                cur = vals[node.inputs[0]]
                theta = torch.as_tensor(np.array(node.threshold), dtype=torch.float64)
                theta = theta.reshape(-1, *([1] * (cur.ndim - 2))) if theta.ndim else theta
                if node.name not in v:
                    v[node.name] = torch.full_like(cur, node.v_init) * theta
                    if integer:
                        v[node.name] = torch.floor(v[node.name])
                v[node.name] = v[node.name] * getattr(node, "beta", 1.0) + cur
                s = (v[node.name] >= theta).double()
                v[node.name] = v[node.name] - s * theta
                counts[node.name] = counts.get(node.name, 0) + s.sum(0)
                vals[node.name] = s
            elif isinstance(node, ir.MaxPool2d) and net.node(node.inputs[0]).is_neuron:
                # a spike whenever the window's largest running count grows
                running[node.name] = running.get(node.name, 0) + vals[node.inputs[0]]
                peak = torch.nn.functional.max_pool2d(running[node.name], node.kernel, node.stride, node.padding)
                vals[node.name] = peak - peaks.get(node.name, 0)
                peaks[node.name] = peak
            else:
                vals[node.name] = kernels[node.name](*(vals[i] for i in node.inputs))
        total = total + vals[net.outputs[0]]
    synops = {k: None if net.node(k).inputs[0] in averaged else n for k, n in synops.items()}
    return (total / timesteps).numpy(), {k: c.numpy() for k, c in counts.items()}, synops, kinds
