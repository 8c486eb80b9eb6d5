r"""NeuroBench's metrics of a spikeforge simulation, in NeuroBench's definitions and result layout.

NeuroBench (Yik et al., *The neurobench framework for benchmarking neuromorphic computing
algorithms and systems*, Nature Communications 16, 2025; the ``neurobench`` package, 2.3.0) reports
a model by a fixed set of metrics. :func:`neurobench_metrics` computes them from spikeforge's own
simulation (no ``neurobench`` import) with NeuroBench's definitions, taking the network as
NeuroBench would see it rebuilt in torch/snnTorch: every ``Conv2d`` and ``Linear`` a connection
layer, every IF/LIF layer a spiking neuron layer, the input presented at every timestep:

* ``Footprint`` — bytes of the model's parameters and buffers: here every weight, bias and gain
  and every neuron parameter (threshold, leak, initial potential) at float32, 4 bytes;
* ``ConnectionSparsity`` — zero weights over all weights of the connection layers (rounded to 4
  decimals);
* ``ActivationSparsity`` — zero outputs over all outputs of the neuron layers, over every
  timestep and sample;
* ``SynapticOperations`` — per sample, over all timesteps, summed over connection layers and
  timesteps: ``Effective_MACs`` / ``Effective_ACs``, the (non-zero input, non-zero weight) pairs
  of a layer's call, counted as accumulations when every input of the batch at that timestep is
  0 or ±1 (spikes) and as multiply-accumulates otherwise; ``Dense``, every (input, weight) pair
  (padding excluded), zeros included; biases are not synaptic operations;
* ``MembraneUpdates`` — per sample: every neuron at the first timestep, then at each later step
  the neurons whose membrane potential changed, :math:`v'_t \ne v'_{t-1}` with :math:`v'` the
  potential before the reset (what snnTorch stores; for IF neurons :math:`I_t \ne s_{t-1}\theta`);
* ``ClassificationAccuracy`` — top-1 accuracy of the read-out at the last timestep (with labels).

:func:`write_neurobench` writes them as NeuroBench's ``Benchmark.save_benchmark_results`` does
(a JSON object of those keys), with a ``spikeforge`` entry beside them saying what was measured.

Examples
--------
>>> import numpy as np
>>> from spikeforge.ir import network as ir
>>> net = ir.Network((ir.Input("x", (), (3,)),
...                   ir.Linear("fc", ("x",), np.array([[1.0, 0.0, 1.0]], np.float32)),
...                   ir.IF("n", ("fc",), threshold=np.float32(2.0), v_init=0.0)), ("n",))
>>> m = neurobench_metrics(net, np.array([[1.0, 1.0, 0.0]], np.float32), timesteps=4)
>>> m["ConnectionSparsity"], m["SynapticOperations"], m["ActivationSparsity"]
(0.3333, {'Effective_MACs': 0.0, 'Effective_ACs': 4.0, 'Dense': 12.0}, 0.5)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from spikeforge.api import ArrayLike, public
from spikeforge.errors import InvalidDataError, SimulationError
from spikeforge.ir import network as ir

__all__ = ["METRICS", "neurobench_metrics", "write_neurobench"]

#: NeuroBench's metric names, the keys of its results.
METRICS = ("Footprint", "ConnectionSparsity", "ActivationSparsity", "SynapticOperations", "MembraneUpdates",
           "ClassificationAccuracy")
_CONNECTIONS = (ir.Conv2d, ir.Linear)
_FLOAT32 = 4


def _static(net: ir.Network) -> tuple[int, float, dict[str, int]]:
    params = neurons = 0
    zeros = weights = 0
    for node in net.nodes:
        for field in ("weight", "bias"):
            value = getattr(node, field, None)
            if isinstance(value, np.ndarray):
                params += value.size
        for gain in (getattr(node, "gains", None) or ()):
            params += 0 if gain is None else np.asarray(gain).size
        if isinstance(node, _CONNECTIONS):
            zeros += int((np.asarray(node.weight) == 0).sum())
            weights += int(np.asarray(node.weight).size)
        if node.is_neuron:
            neurons += np.asarray(node.threshold).size + 1 + (1 if hasattr(node, "beta") else 0)
    sparsity = round(zeros / weights, 4) if weights else 0.0
    return (params + neurons) * _FLOAT32, sparsity, {"parameters_bytes": params * _FLOAT32,
                                                     "neuron_parameters_bytes": neurons * _FLOAT32}


def _layer_ops(node: ir.Node, binary, torch) -> tuple[Any, Any]:
    """NeuroBench's count for one call of a connection layer on a batch: (effective, dense) operations."""
    import torch.nn.functional as F

    w = torch.tensor(np.array(node.weight), dtype=torch.float64)
    wb, ones = (w != 0).to(torch.float64), torch.ones_like(w)
    if isinstance(node, ir.Linear):
        flat = binary.reshape(binary.shape[0], -1)
        return (flat @ wb.T).sum(), (torch.ones_like(flat) @ ones.T).sum()
    kw = {"stride": node.stride, "padding": node.padding, "dilation": node.dilation, "groups": node.groups}
    return F.conv2d(binary, wb, **kw).sum(), F.conv2d(torch.ones_like(binary), ones, **kw).sum()


@public(own_checks="timesteps batch_size")
def neurobench_metrics(net: ir.Network, x: ArrayLike, labels: ArrayLike | None = None, *, timesteps: int,
                       batch_size: int = 128, integer: bool = False,
                       output_scale: ArrayLike | float | None = None) -> dict[str, Any]:
    """NeuroBench's metrics of simulating ``net`` on ``x`` for ``timesteps`` (see the module docstring).

    Parameters
    ----------
    net : Network
        A converted SNN.
    x : array (N, *input_shape)
    labels : array (N,), optional
        Class labels: adds ``ClassificationAccuracy``.
    timesteps : int
    batch_size : int
    integer : bool
        Integer arithmetic (quantised networks, integer inputs).
    output_scale : array, optional
        Per-channel scale of the read-out before the argmax (a quantised network's output scale).

    Returns
    -------
    dict
        NeuroBench's keys (:data:`METRICS`; ``ClassificationAccuracy`` only with labels) and
        ``spikeforge``: the footprint's parts, timesteps, samples and the neuron and connection
        layers counted.

    Raises
    ------
    SimulationError
        ``timesteps`` or ``batch_size`` out of range; ``net`` not an SNN, or not integer with ``integer``.
    InvalidDataError
        ``x`` or ``labels`` do not fit the network; ``output_scale`` is not one or one per output
        channel of finite values > 0.
    """
    import torch

    from spikeforge.resources import check_count
    from spikeforge.sim.simulator import (
        check_labels,
        check_run,
        compiled,
        run_batches,
        top1_accuracy,
    )

    check_count(batch_size, "neurobench_metrics: batch_size", error=SimulationError)
    check_run(net, timesteps, min(batch_size, len(x)), 8 if integer else 4)
    if output_scale is not None:  # a NaN or zero scale would make every argmax class 0
        try:
            scale = np.asarray(output_scale, np.float64)
        except (TypeError, ValueError):
            raise InvalidDataError(f"neurobench_metrics: output_scale {output_scale!r:.60}: not numbers") from None
        channels = net.shape(net.outputs[0])[0]
        if scale.ndim > 1 or scale.size not in (1, channels) or not (np.isfinite(scale) & (scale > 0)).all():
            raise InvalidDataError(f"neurobench_metrics: output_scale {np.array2string(scale.ravel()[:4])} "
                                   f"(shape {scale.shape}): expected one or {channels} finite values > 0")
    T = int(timesteps)
    c = compiled(net, integer)
    data = torch.as_tensor(np.asarray(net.check_input(x)), dtype=c.dtype)
    if labels is not None:
        labels = check_labels(labels, data.shape[0], net.shape(net.outputs[0]))
    counts = {"spikes": 0.0, "outputs": 0.0, "mac": 0.0, "ac": 0.0, "dense": 0.0, "updates": 0.0}
    # a current the neuron layer will overwrite with its spikes (the simulator reuses the buffer)
    pending: dict[str, Any] = {}

    def observe(node, ins, value) -> None:
        if node.name in c.exclusive and value.mode == "temporal":
            pending[node.name] = value.data.clone()
        if node.is_neuron:
            spikes = value.data                                   # (T, B, ...); a read-out's membrane
            if node.spiking:  # a read-out's graded membrane is not an activation that spikes
                counts["spikes"] += float(torch.count_nonzero(spikes))
                counts["outputs"] += spikes.numel()
            current = pending.pop(node.inputs[0], None)
            if current is None:
                current = ins[0].data if ins[0].mode == "temporal" else ins[0].data.unsqueeze(0).expand_as(spikes)
            params = c.params[node.name]
            no_leak = isinstance(params.beta, float) and params.beta == 1.0
            counts["updates"] += spikes[0].numel()
            if T > 1:
                if no_leak and not node.spiking:  # an integrator: v_t - v_{t-1} = I_t + b
                    change = current[1:] + (0 if params.bias is None else params.bias)
                elif no_leak:
                    change = current[1:] - spikes[:-1] * params.threshold
                else:  # v'_t - v'_{t-1} = (beta - 1) v''_{t-1} + I_t, with v''_{t-1} = v'_{t-1} - s θ
                    raise SimulationError(f"neurobench_metrics: layer {node.name}: membrane updates of leaky "
                                          f"neurons need the potentials; only IF layers are counted exactly")
                counts["updates"] += float(torch.count_nonzero(change))
        elif isinstance(node, _CONNECTIONS):
            v = ins[0]
            steps = v.data if v.mode == "temporal" else v.data.unsqueeze(0).expand(T, *v.data.shape)
            for t in range(T):
                step = steps[t]
                spiking = bool(((step == 0) | (step == 1) | (step == -1)).all())
                effective, dense = _layer_ops(node, (step != 0).to(torch.float64), torch)
                counts["ac" if spiking else "mac"] += float(effective)
                counts["dense"] += float(dense)

    outputs = run_batches(c, data, T, torch.as_tensor([T]), lambda _, v: v.data.sum(0),
                          batch_size=batch_size, observe=observe, collapse=False)
    n = data.shape[0]
    footprint, connection_sparsity, parts = _static(net)
    result: dict[str, Any] = {
        "Footprint": footprint,
        "ConnectionSparsity": connection_sparsity,
        "ActivationSparsity": 1.0 - counts["spikes"] / counts["outputs"] if counts["outputs"] else 0.0,
        "SynapticOperations": {"Effective_MACs": counts["mac"] / n, "Effective_ACs": counts["ac"] / n,
                               "Dense": counts["dense"] / n},
        "MembraneUpdates": counts["updates"] / n,
    }
    if labels is not None:
        out = torch.cat(outputs[net.outputs[0]]).numpy()
        if output_scale is not None:
            scale = np.asarray(output_scale, np.float64)
            out = out * (scale.reshape(-1, *([1] * (out.ndim - 2))) if scale.ndim else scale)
        result["ClassificationAccuracy"] = top1_accuracy(out, labels)
    result["spikeforge"] = {
        **parts, "timesteps": T, "samples": int(n), "network": net.name,
        "neuron_layers": [node.name for node in net.nodes if node.is_neuron],
        "connection_layers": [node.name for node in net.nodes if isinstance(node, _CONNECTIONS)],
        "definitions": "NeuroBench 2.3.0 (neurobench.metrics): the network as rebuilt in torch/snnTorch, "
                       "float32 parameters, the input presented at every timestep",
    }
    return result


@public
def write_neurobench(path: str | os.PathLike, metrics: dict[str, Any], inputs: tuple = ()) -> Path:
    """Write ``metrics`` (:func:`neurobench_metrics`) as a JSON file, atomically.

    Raises
    ------
    OutputPathError
        ``path`` is a folder, or one of ``inputs``.
    InvalidDataError
        A metric is NaN, infinite or not a number JSON stores (nothing is written).
    """
    from spikeforge.outputs import check_output_file, write_json_atomic

    check_output_file(path, inputs)
    return write_json_atomic(path, metrics, inputs, strict=True)
