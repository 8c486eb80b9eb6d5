r"""Overflow-aware integer simulation, and spike traces for the accelerator model.

:func:`simulate_integer` runs a quantised network in integer arithmetic (held exactly in
float64, like :func:`spikeforge.sim.simulator.simulate` with ``integer=True``) and adds what
hardware registers impose: with ``membrane_bits`` = :math:`m`, every membrane potential and
read-out accumulator is a signed :math:`m`-bit register that **saturates**, and each
saturation is counted, never silent. One timestep of an IF layer is

.. math::
    \tilde v_t = v_{t-1} + I_t, \qquad
    v_t = \mathrm{clip}(\tilde v_t, -2^{m-1}, 2^{m-1}-1), \qquad
    s_t = [v_t \ge \Theta], \qquad v_t \leftarrow v_t - \Theta s_t,
    \qquad v_0 = \lfloor v_\mathrm{init}\,\Theta \rfloor

with one overflow event per neuron and timestep where :math:`\tilde v_t` leaves the range.
The synaptic input :math:`I_t` of one timestep is summed at full width before it reaches
the register (the accumulation order of events within a timestep does not matter). The
read-out accumulates :math:`A_t = \mathrm{clip}(A_{t-1} + y_t)` the same way. Without
``membrane_bits`` nothing saturates, the result equals the simulator's integer mode, and
:attr:`IntegerResult.membrane_bits_needed` says how wide the registers must be.

:func:`record_trace` runs the same layer-by-layer simulation (integer or float) and records,
for every synaptic layer, timestep and sample, the input events and the synaptic operations
landing on each output channel (or neuron): the input of
:func:`spikeforge.hardware.accelerator.accelerate`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from spikeforge.api import ArrayLike, public
from spikeforge.errors import InvalidDataError, QuantizationError, SimulationError
from spikeforge.ir import network as ir
from spikeforge.quantize.core import QuantizedNetwork, check_bits
from spikeforge.resources import check_memory
from spikeforge.sim.ops import compile_layer
from spikeforge.sim.simulator import check_integer, check_run, gated_maxpool

__all__ = ["IntegerResult", "LayerTrace", "SpikeTrace", "record_trace", "simulate_integer"]

_SYNAPTIC = (ir.Linear, ir.Conv2d, ir.ConvTranspose2d, ir.SparseLinear, ir.AvgPool2d)


@dataclass(frozen=True, eq=False)
class IntegerResult:
    """Outcome of :func:`simulate_integer`.

    Attributes
    ----------
    outputs : mapping of str to int64 array (N, ...)
        Read-out accumulated over all T timesteps (the simulator's read-out × T).
    spike_counts : mapping of str to int64 array
        Per neuron layer, spikes of each neuron summed over samples and timesteps.
    overflows : mapping of str to int
        Saturation events per neuron layer and per read-out (0 without ``membrane_bits``).
    peak_membrane : mapping of str to int
        Largest |potential| seen per neuron layer and read-out, before clamping (with
        saturation on, registers were clamped earlier, so this is a lower bound of the
        unbounded peak; run without ``membrane_bits`` to size the registers).
    """

    network: str
    timesteps: int
    samples: int
    membrane_bits: int | None
    outputs: Mapping[str, np.ndarray]
    spike_counts: Mapping[str, np.ndarray]
    overflows: Mapping[str, int]
    peak_membrane: Mapping[str, int]
    output_scale: np.ndarray | float = 1.0

    @property
    def total_overflows(self) -> int:
        return int(sum(self.overflows.values()))

    @property
    def membrane_bits_needed(self) -> int:
        """Signed register width that would hold every potential seen without saturating."""
        peak = max(self.peak_membrane.values(), default=0)
        return int(peak).bit_length() + 1

    def predictions(self) -> np.ndarray:
        """Argmax of the first output, dequantised by its output scale (class per sample)."""
        out = next(iter(self.outputs.values())).astype(np.float64)
        scale = np.asarray(self.output_scale, np.float64)
        if scale.ndim:
            out = out * scale.reshape(-1, *([1] * (out.ndim - 2)))
        return out.reshape(out.shape[0], -1).argmax(1)

    @public
    def accuracy(self, labels: ArrayLike) -> float:
        """Fraction of samples whose prediction equals ``labels``.

        Raises
        ------
        InvalidDataError
            ``labels`` are not one class index per sample within the outputs
            (:func:`~spikeforge.sim.simulator.check_labels`).
        """
        from spikeforge.sim.simulator import check_labels

        out = next(iter(self.outputs.values()))
        return float((self.predictions() == check_labels(labels, self.samples, out.shape[1:])).mean())


@dataclass(frozen=True, eq=False)
class LayerTrace:
    """Activity of one synaptic layer over a run.

    ``events[t, n]`` counts the non-zero input values (spikes, graded values or analog
    inputs) of sample n at timestep t; ``ops[t, n, u]`` the synaptic operations (one per
    event per synapse) landing on work unit u — an output channel or an output neuron —
    with ``neurons_per_unit[u]`` neurons in it. ``ops.sum()`` equals the layer's ``synops``
    in :class:`~spikeforge.sim.simulator.Profile` for the same spikes.
    """

    name: str
    kind: str
    input_kind: str
    events: np.ndarray
    ops: np.ndarray
    neurons_per_unit: np.ndarray
    parameters: int
    synapses: int


@dataclass(frozen=True, eq=False)
class SpikeTrace:
    """Per-layer, per-timestep, per-sample activity of a network run (see :func:`record_trace`)."""

    network: str
    timesteps: int
    samples: int
    granularity: str
    input_elements: int
    layers: tuple[LayerTrace, ...]

    @property
    def ops(self) -> float:
        """All synaptic operations of the run (all samples)."""
        return float(sum(layer.ops.sum(dtype=np.float64) for layer in self.layers))


@dataclass
class _V:
    data: torch.Tensor
    static: bool  # (B, ...) the same at every timestep, else (T, B, ...)
    spikes: bool = False


class _Run:
    """Accumulated state of a run over batches."""

    def __init__(self, net: ir.Network, timesteps: int, integer: bool, membrane_bits: int | None,
                 granularity: str | None):
        self.net = net
        self.T = timesteps
        self.integer = integer
        self.dtype = torch.float64 if integer else torch.float32
        self.lo = self.hi = None
        if membrane_bits is not None:
            self.lo, self.hi = -(2 ** (membrane_bits - 1)), 2 ** (membrane_bits - 1) - 1
        self.granularity = granularity
        self.kernels = {n.name: compile_layer(n, net, self.dtype) for n in net.nodes
                        if not (isinstance(n, ir.Input) or n.is_neuron)}
        self.ones = {}
        if granularity:
            for n in net.nodes:
                if isinstance(n, ir.AvgPool2d):
                    c = net.shape(n.name)[0]
                    ones = ir.Conv2d(n.name, n.inputs, np.ones((c, 1, *n.kernel), np.float32), None,
                                     stride=n.stride, padding=n.padding, groups=c)
                    self.ones[n.name] = compile_layer(ones, net, torch.float64)
                elif isinstance(n, _SYNAPTIC):
                    ones = dataclasses.replace(n, weight=np.ones(n.weight.shape, np.float32), bias=None)
                    self.ones[n.name] = compile_layer(ones, net, torch.float64)
        self.thresholds = {}
        for n in net.nodes:
            if n.is_neuron:
                ndim = len(net.shape(n.name)) + 1
                theta = torch.as_tensor(np.array(n.threshold), dtype=self.dtype)
                self.thresholds[n.name] = theta.reshape(-1, *([1] * (ndim - 2))) if theta.ndim else theta
        self.outputs: dict[str, list[np.ndarray]] = {o: [] for o in net.outputs}
        self.spikes = {n.name: torch.zeros(net.shape(n.name), dtype=torch.float64) for n in net.nodes if n.is_neuron}
        self.overflows = {n.name: 0 for n in net.nodes if n.is_neuron}
        self.peak = {n.name: 0.0 for n in net.nodes if n.is_neuron}
        for o in net.outputs:
            if not net.node(o).is_neuron:
                self.overflows[o] = 0
                self.peak[o] = 0.0
        self.events: dict[str, list[np.ndarray]] = {n: [] for n in self.ones}
        self.ops: dict[str, list[np.ndarray]] = {n: [] for n in self.ones}
        self.kind: dict[str, str] = {}

    def _saturate(self, name: str, v: torch.Tensor) -> torch.Tensor:
        self.peak[name] = max(self.peak[name], float(v.abs().max()) if v.numel() else 0.0)
        if self.lo is None:
            return v
        self.overflows[name] += int(((v < self.lo) | (v > self.hi)).sum())
        return v.clamp_(self.lo, self.hi)

    def _neuron(self, node: ir.Node, current: _V) -> torch.Tensor:
        theta = self.thresholds[node.name]
        first = current.data if current.static else current.data[0]
        out = torch.empty((self.T, *first.shape), dtype=self.dtype)
        v = torch.full_like(first, node.v_init) * theta
        if self.integer:
            v = torch.floor(v)
        beta = getattr(node, "beta", 1.0)
        for t in range(self.T):
            if beta != 1.0:
                v.mul_(beta)
            v.add_(current.data if current.static else current.data[t])
            v = self._saturate(node.name, v)
            torch.ge(v, theta, out=out[t])
            v.addcmul_(out[t], theta, value=-1.0) if theta.ndim else v.sub_(out[t], alpha=float(theta))
        return out

    def _record(self, node: ir.Node, value: _V) -> None:
        ind = (value.data != 0).to(torch.float64)
        counts = self.ones[node.name](ind if value.static else ind.flatten(0, 1))
        if isinstance(node, ir.AvgPool2d):
            counts = torch.round(counts)
        lead = (1,) if value.static else (self.T,)
        counts = counts.reshape(*lead, ind.shape[0 if value.static else 1], *counts.shape[1:])
        events = ind.flatten(1 if value.static else 2).sum(-1).reshape(*lead, -1)
        if self.granularity == "channel" and counts.ndim > 3:
            units = counts.flatten(3).sum(-1)
        else:
            units = counts.flatten(2)
        if value.static:
            units = units.expand(self.T, *units.shape[1:])
            events = events.expand(self.T, *events.shape[1:])
        self.ops[node.name].append(units.numpy().astype(np.float32 if units.max() < 2**24 else np.float64))
        self.events[node.name].append(events.numpy())
        self.kind[node.name] = "analog" if value.static else ("spikes" if value.spikes else "graded")

    def batch(self, x: torch.Tensor) -> None:
        values: dict[str, _V] = {}
        T = self.T
        for node in self.net.nodes:
            if isinstance(node, ir.Input):
                values[node.name] = _V(x.to(self.dtype), True)
                continue
            ins = [values[i] for i in node.inputs]
            if node.name in self.ones:
                self._record(node, ins[0])
            if node.is_neuron:
                spikes = self._neuron(node, ins[0])
                self.spikes[node.name] += spikes.to(torch.float64).sum((0, 1))
                values[node.name] = _V(spikes, False, True)
            elif all(v.static for v in ins):
                values[node.name] = _V(self.kernels[node.name](*(v.data for v in ins)), True)
            else:
                data = [v.data.unsqueeze(0).expand(T, *v.data.shape) if v.static else v.data for v in ins]
                if isinstance(node, ir.MaxPool2d) and ins[0].spikes:
                    out = gated_maxpool(node, data[0])
                else:
                    flat = [d.reshape(T * d.shape[1], *d.shape[2:]) for d in data]
                    out = self.kernels[node.name](*flat)
                    out = out.reshape(T, data[0].shape[1], *out.shape[1:])
                keeps = isinstance(node, (ir.MaxPool2d, ir.Upsample, ir.Flatten, ir.Concat)) and \
                    all(v.spikes for v in ins)
                values[node.name] = _V(out, False, keeps)
        for name in self.net.outputs:
            v = values[name]
            if v.spikes or self.net.node(name).is_neuron:
                acc = v.data.to(torch.float64).sum(0)
            else:
                acc = torch.zeros_like(v.data if v.static else v.data[0], dtype=torch.float64)
                for t in range(T):
                    acc = acc + (v.data if v.static else v.data[t]).to(torch.float64)
                    acc = self._saturate(name, acc)
            self.outputs[name].append(acc.numpy())


def _prepare(net: ir.Network | QuantizedNetwork, x: np.ndarray, timesteps: int, integer: bool | None,
             batch_size: int):
    q = net if isinstance(net, QuantizedNetwork) else None
    network = q.network if q else net
    if not isinstance(network, ir.Network):
        raise SimulationError(f"expected a Network or QuantizedNetwork, got {type(net).__name__}")
    network.require_snn("integer simulation")
    arr = network.check_input(x)
    check_run(network, timesteps, min(batch_size, len(arr)), 8)
    if q is not None:
        arr = q.quantize_input(arr)
    if integer is None:
        integer = q is not None
    if integer:
        check_integer(network)
        if not np.array_equal(arr, np.round(arr)):
            raise InvalidDataError("input data: integer mode needs integer inputs (or pass a QuantizedNetwork)")
    return q, network, torch.as_tensor(np.asarray(arr, np.float64)), bool(integer)


def _run_batches(run: _Run, xt: torch.Tensor, batch_size: int, on_batch: Callable[[int], None] | None) -> None:
    """Feed ``xt`` to ``run`` in batches, calling ``on_batch(samples done)`` after each."""
    with torch.inference_mode():
        for start in range(0, xt.shape[0], batch_size):
            run.batch(xt[start:start + batch_size])
            if on_batch is not None:
                on_batch(min(start + batch_size, xt.shape[0]))


@public
def simulate_integer(qnet: QuantizedNetwork | ir.Network, x: ArrayLike, timesteps: int,
                     membrane_bits: int | None = None, *, batch_size: int = 128,
                     on_batch: Callable[[int], None] | None = None) -> IntegerResult:
    """Simulate a quantised SNN bit-exactly, saturating and counting membrane overflows.

    Parameters
    ----------
    qnet : QuantizedNetwork or Network
        A :class:`QuantizedNetwork` (its analog input ``x`` is quantised with
        :meth:`QuantizedNetwork.quantize_input`), or an integer Network (``x`` integer).
    x : array (N, *input_shape)
    timesteps : int
    membrane_bits : int, optional
        Signed register width; default the network's ``membrane_bits`` (None: no saturation).
    on_batch : callable, optional
        Called with the number of samples done after each batch (progress bars).

    Returns
    -------
    IntegerResult

    Raises
    ------
    SimulationError
        Not an integer SNN (non-integer parameters, AvgPool2d, leaky LIF), bad ``timesteps``.
    InvalidDataError
        ``x`` of the wrong shape, empty, not finite, or non-integer for a plain Network.
    QuantizationError
        ``membrane_bits`` outside 2..53, or a threshold above the register's maximum.

    Examples
    --------
    >>> import numpy as np
    >>> from spikeforge.ir import network as ir
    >>> net = ir.Network((ir.Input("x", (), (1,)), ir.Linear("w", ("x",), np.array([[3]])),
    ...                   ir.IF("n", ("w",), threshold=np.float32(4), v_init=0.0),
    ...                   ir.Linear("out", ("n",), np.array([[1]]))), ("out",))
    >>> r = simulate_integer(net, np.array([[2.0]]), timesteps=4, membrane_bits=4)  # v in -8..7
    >>> int(r.spike_counts["n"][0]), r.overflows["n"], r.membrane_bits_needed
    (4, 3, 5)
    """
    q, network, xt, _ = _prepare(qnet, x, timesteps, True, batch_size)
    if membrane_bits is None and q is not None:
        membrane_bits = q.membrane_bits
    if membrane_bits is not None:
        membrane_bits = check_bits("membrane_bits", membrane_bits, 2, 53)
        top = 2 ** (membrane_bits - 1) - 1
        for node in network.nodes:
            if node.is_neuron and float(np.max(node.threshold)) > top:
                raise QuantizationError(f"layer {node.name}: threshold {float(np.max(node.threshold)):.0f} "
                                        f"does not fit the {membrane_bits}-bit membrane (max {top})")
    run = _Run(network, int(timesteps), True, membrane_bits, None)
    _run_batches(run, xt, batch_size, on_batch)
    outputs = {k: np.round(np.concatenate(v)).astype(np.int64) for k, v in run.outputs.items()}
    spikes = {k: v.numpy().astype(np.int64) for k, v in run.spikes.items()}
    scale = 1.0
    if q is not None:
        scale = q.output_scales.get(network.outputs[0], 1.0)
    return IntegerResult(network.name, int(timesteps), int(xt.shape[0]), membrane_bits, outputs, spikes,
                         dict(run.overflows), {k: int(v) for k, v in run.peak.items()}, scale)


@public
def record_trace(net: QuantizedNetwork | ir.Network, x: ArrayLike, timesteps: int, *,
                 granularity: str = "channel", integer: bool | None = None, batch_size: int = 64,
                 on_batch: Callable[[int], None] | None = None) -> SpikeTrace:
    """Run a network and record per-layer, per-timestep, per-sample synaptic activity.

    Parameters
    ----------
    net : QuantizedNetwork or Network
        A quantised network (simulated in integer arithmetic on quantised inputs) or a float SNN.
    x : array (N, *input_shape)
    timesteps : int
    granularity : {'channel', 'neuron'}
        Work unit of :attr:`LayerTrace.ops`: output channels (vector layers: output neurons) or
        single output neurons.
    integer : bool, optional
        Force integer (True) or float (False) arithmetic; default: integer for a
        QuantizedNetwork, float otherwise.
    on_batch : callable, optional
        As :func:`simulate_integer`.

    Raises
    ------
    SimulationError, InvalidDataError
        As :func:`simulate_integer`.
    QuantizationError
        Unknown ``granularity``.
    ResourceError
        The run or the trace would not fit in memory.

    Examples
    --------
    >>> import numpy as np
    >>> from spikeforge.ir import network as ir
    >>> net = ir.Network((ir.Input("x", (), (2,)), ir.Linear("w", ("x",), np.ones((3, 2), np.float32)),
    ...                   ir.IF("n", ("w",), threshold=np.float32(1))), ("n",))
    >>> record_trace(net, np.array([[1.0, 0.0]]), timesteps=2).ops
    6.0
    """
    if granularity not in ("channel", "neuron"):
        raise QuantizationError(f"granularity={granularity!r}: use 'channel' or 'neuron'")
    _, network, xt, integer = _prepare(net, x, timesteps, integer, batch_size)
    # The trace keeps ops[t, n, unit] of every synaptic layer for all samples: refuse it before running.
    units = sum(network.shape(n.name)[0] if granularity == "channel" else math.prod(network.shape(n.name))
                for n in network.nodes if n.is_synaptic or isinstance(n, ir.AvgPool2d))
    check_memory(8 * int(timesteps) * xt.shape[0] * max(units, 1),
                 f"recording a trace of {network.name} at T={timesteps} for {xt.shape[0]} samples ({units:,} units)")
    run = _Run(network, int(timesteps), integer, None, granularity)
    _run_batches(run, xt, batch_size, on_batch)
    layers = []
    for node in network.nodes:
        if node.name not in run.ones:
            continue
        out_shape = network.shape(node.name)
        ops = np.concatenate(run.ops[node.name], axis=1)
        units = ops.shape[2]
        per_unit = np.full(units, int(np.prod(out_shape)) // units, dtype=np.int64)
        params = 0 if isinstance(node, ir.AvgPool2d) else int(node.weight.size)
        layers.append(LayerTrace(node.name, type(node).__name__, run.kind[node.name],
                                 np.concatenate(run.events[node.name], axis=1), ops, per_unit, params,
                                 network.synapse_count(node)))
    return SpikeTrace(network.name, int(timesteps), int(xt.shape[0]), granularity,
                      int(np.prod(network.input.shape)), tuple(layers))
