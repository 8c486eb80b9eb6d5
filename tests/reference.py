"""A deliberately naive, step-by-step SNN reference: every layer at every timestep, one at a time.

Used only to check the fast simulator's shortcuts (static inputs, time-batched layers,
collapsed read-out) and its counters."""

from __future__ import annotations

import numpy as np
import torch

from spikeforge.ir import network as ir
from spikeforge.sim.ops import compile_layer, unit_fanout

_KEEP_SPIKES = (ir.MaxPool2d, ir.Upsample, ir.Flatten, ir.Concat, ir.Delay)
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
    temporal_input = net.input.temporal
    spiking = {n.name for n in net.nodes if n.is_neuron}
    if temporal_input and bool(((xt == 0) | (xt == 1)).all()):
        spiking.add(net.input.name)
    temporal = set(spiking) | {n.name for n in net.nodes if isinstance(n, ir.Delay)}
    if temporal_input:
        temporal.add(net.input.name)
    for _ in net.nodes:  # to a fixed point: a Delay may read a later layer
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
    v, syn, counts, running, peaks, synops = {}, {}, {}, {}, {}, dict.fromkeys(fanout, 0.0)
    floor = torch.floor if integer else (lambda a: a)
    history: list[dict[str, torch.Tensor]] = []  # every layer's value at every past step
    total = 0
    for step in range(timesteps):
        vals = {}
        for node in net.nodes:
            if node.name in fanout:
                synops[node.name] += float(((vals[node.inputs[0]] != 0).double().sum(0) * fanout[node.name]).sum())
            if isinstance(node, ir.Input):
                vals[node.name] = xt[:, step] if node.temporal else xt
            elif isinstance(node, ir.Delay):
                past = step - node.steps
                vals[node.name] = history[past][node.inputs[0]] if past >= 0 else \
                    torch.zeros(xt.shape[0], *node.shape, dtype=torch.float64)
            elif node.is_neuron:
                cur = vals[node.inputs[0]]
                theta = _per_neuron(node.threshold, cur)
                if node.name not in v:
                    v[node.name] = floor(torch.full_like(cur, node.v_init) * theta)
                    syn[node.name] = torch.zeros_like(cur)
                if isinstance(node, ir.CubaLIF):
                    syn[node.name] = floor(syn[node.name] * _per_neuron(node.alpha, cur)) + cur
                    cur = syn[node.name]
                leak = getattr(node, "beta", 1.0)
                kept = v[node.name] if np.all(leak == 1.0) else floor(v[node.name] * _per_neuron(leak, cur))
                v[node.name] = kept + cur + _per_neuron(getattr(node, "bias", np.float32(0)), cur)
                s = (v[node.name] >= theta).double()
                if node.v_reset is None:
                    v[node.name] = v[node.name] - s * theta
                else:
                    v[node.name] = torch.where(s > 0, floor(node.v_reset * theta) + 0 * cur, v[node.name])
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
        history.append(vals)
        total = total + vals[net.outputs[0]]
    synops = {k: None if net.node(k).inputs[0] in averaged else n for k, n in synops.items()}
    return (total / timesteps).numpy(), {k: c.numpy() for k, c in counts.items()}, synops, kinds


def _per_neuron(values: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """A scalar, per-channel or per-neuron parameter broadcast against a batch ``like``."""
    t = torch.as_tensor(np.array(values), dtype=torch.float64)
    return t.reshape(-1, *([1] * (like.ndim - 2))) if t.ndim == 1 else t
