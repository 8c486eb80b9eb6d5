r"""Overflow-aware integer simulation, and spike traces for the accelerator model.

:func:`simulate_integer` runs a quantised network in integer arithmetic (held exactly in
float64, like :func:`spikeforge.sim.simulator.simulate` with ``integer=True``) and adds what
hardware registers impose: with ``membrane_bits`` = :math:`m`, every membrane potential and
read-out accumulator is a signed :math:`m`-bit register that **saturates**, and each
saturation is counted, never silent. It is the simulator's own loop
(:func:`~spikeforge.sim.simulator.run_batch`, every layer stepped through time) with the neurons
stepped by :func:`~spikeforge.sim.neuron.neuron_step` in
:class:`~spikeforge.sim.neuron.IntegerArithmetic`; one timestep of an IF layer is

.. math::
    \tilde v_t = v_{t-1} + I_t, \qquad
    v_t = \mathrm{clip}(\tilde v_t, -2^{m-1}, 2^{m-1}-1), \qquad
    s_t = [v_t \ge \Theta], \qquad v_t \leftarrow v_t - \Theta s_t,
    \qquad v_0 = \lfloor v_\mathrm{init}\,\Theta \rfloor

with one overflow event per neuron and timestep where :math:`\tilde v_t` leaves the range. Leaky
and CUBA neurons step as in :mod:`spikeforge.sim.neuron` (floored decays, bias, reset to a value);
the synaptic current :math:`i_t = \mathrm{clip}(\lfloor \alpha i_{t-1} \rfloor + I_t)` of a CubaLIF
layer is a register of the same width, its saturations counted apart
(:attr:`IntegerResult.current_overflows`).
The synaptic input :math:`I_t` of one timestep is summed at full width before it reaches
the register (the accumulation order of events within a timestep does not matter). The
read-out accumulates :math:`A_t = \mathrm{clip}(A_{t-1} + y_t)` the same way. Without
``membrane_bits`` nothing saturates, the result equals the simulator's integer mode, and
:attr:`IntegerResult.membrane_bits_needed` says how wide the registers must be.

:func:`record_trace` runs the same loop (integer or float arithmetic) and records,
for every synaptic layer, timestep and sample, the input events and the synaptic operations
landing on each output channel (or neuron): the input of
:func:`spikeforge.quantize.accelerator.accelerate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from spikeforge.api import ArrayLike, public
from spikeforge.errors import InvalidDataError, QuantizationError, SimulationError
from spikeforge.ir import network as ir
from spikeforge.quantize.core import QuantizedNetwork, check_bits
from spikeforge.resources import check_memory
from spikeforge.sim.neuron import IntegerArithmetic, Tally
from spikeforge.sim.ops import compile_layer, synapse_layer
from spikeforge.sim.simulator import Value, check_run, compiled, run_batches

__all__ = ["IntegerResult", "LayerTrace", "SpikeTrace", "record_trace", "simulate_integer"]


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
    trace : SpikeTrace or None
        The synaptic activity of the same run (``simulate_integer(..., trace=GRANULARITY)``).
    current_overflows, peak_current : mapping of str to int
        As ``overflows`` and ``peak_membrane``, for the synaptic-current register of each CubaLIF layer.
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
    trace: SpikeTrace | None = None
    current_overflows: Mapping[str, int] = field(default_factory=dict)
    peak_current: Mapping[str, int] = field(default_factory=dict)

    @property
    def total_overflows(self) -> int:
        """Saturations of every register: membranes, read-outs and synaptic currents."""
        return int(sum(self.overflows.values()) + sum(self.current_overflows.values()))

    @property
    def membrane_bits_needed(self) -> int:
        """Signed register width that would hold every potential (and synaptic current) seen
        without saturating."""
        peak = max([*self.peak_membrane.values(), *self.peak_current.values()], default=0)
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


class _Tracer:
    """Records, per synaptic layer, timestep and sample, the input events and the synaptic
    operations landing on each work unit (an observer of :func:`~spikeforge.sim.simulator.run_batch`)."""

    def __init__(self, net: ir.Network, timesteps: int, granularity: str, samples: int):
        if granularity not in ("channel", "neuron"):
            raise QuantizationError(f"granularity={granularity!r}: use 'channel' or 'neuron'")
        self.net, self.T, self.granularity, self.samples = net, timesteps, granularity, samples
        # Each synaptic layer with every weight one: its output counts the synaptic operations.
        self.ones = {n.name: compile_layer(ones, net, torch.float64) for n in net.nodes
                     if (ones := synapse_layer(n, net)) is not None}
        # The trace keeps ops[t, n, unit] of every synaptic layer for all samples: refuse it before running.
        units = sum(net.shape(name)[0] if granularity == "channel" else math.prod(net.shape(name))
                    for name in self.ones)
        check_memory(8 * timesteps * samples * max(units, 1),
                     f"recording a trace of {net.name} at T={timesteps} for {samples} samples ({units:,} units)")
        self.events: dict[str, list[np.ndarray]] = {n: [] for n in self.ones}
        self.ops: dict[str, list[np.ndarray]] = {n: [] for n in self.ones}
        self.kind: dict[str, str] = {}

    def __call__(self, node: ir.Node, inputs: list[Value], output: Value) -> None:
        if node.name not in self.ones:
            return
        value = inputs[0]
        static = value.mode == "static"
        ind = (value.data != 0).to(torch.float64)
        counts = self.ones[node.name](ind if static else ind.flatten(0, 1))
        lead = (1,) if static else (self.T,)
        counts = counts.reshape(*lead, ind.shape[0 if static else 1], *counts.shape[1:])
        events = ind.flatten(1 if static else 2).sum(-1).reshape(*lead, -1)
        if self.granularity == "channel" and counts.ndim > 3:
            units = counts.flatten(3).sum(-1)
        else:
            units = counts.flatten(2)
        if static:
            units = units.expand(self.T, *units.shape[1:])
            events = events.expand(self.T, *events.shape[1:])
        self.ops[node.name].append(units.numpy().astype(np.float32 if units.max() < 2**24 else np.float64))
        self.events[node.name].append(events.numpy())
        self.kind[node.name] = "analog" if static else ("spikes" if value.spikes else "graded")

    def trace(self) -> SpikeTrace:
        """The recorded activity, once every batch has run."""
        layers = []
        for node in self.net.nodes:
            if node.name not in self.ones:
                continue
            ops = np.concatenate(self.ops[node.name], axis=1)
            units = ops.shape[2]
            per_unit = np.full(units, int(np.prod(self.net.shape(node.name))) // units, dtype=np.int64)
            params = 0 if getattr(node, "weight", None) is None else int(node.weight.size)  # pooling: none
            layers.append(LayerTrace(node.name, type(node).__name__, self.kind[node.name],
                                     np.concatenate(self.events[node.name], axis=1), ops, per_unit, params,
                                     self.net.synapse_count(node)))
        return SpikeTrace(self.net.name, self.T, self.samples, self.granularity,
                          int(np.prod(self.net.input.shape)), tuple(layers))


def _prepare(net: ir.Network | QuantizedNetwork, x: np.ndarray, timesteps: int, integer: bool | None,
             batch_size: int):
    q = net if isinstance(net, QuantizedNetwork) else None
    network = q.network if q else net
    if not isinstance(network, ir.Network):
        raise SimulationError(f"expected a Network or QuantizedNetwork, got {type(net).__name__}")
    network.require_snn("integer simulation")
    check_run(network, timesteps, 1, 8)  # timesteps first: the temporal input is checked against it
    arr = network.check_input(x, "input data", timesteps)
    check_run(network, timesteps, min(batch_size, len(arr)), 8)
    if q is not None:
        arr = q.quantize_input(arr)
    if integer is None:
        integer = q is not None
    c = compiled(network, bool(integer))
    if integer and not np.array_equal(arr, np.round(arr)):
        raise InvalidDataError("input data: integer mode needs integer inputs (or pass a QuantizedNetwork)")
    return q, c, torch.as_tensor(np.asarray(arr, np.float64))


@public
def simulate_integer(qnet: QuantizedNetwork | ir.Network, x: ArrayLike, timesteps: int,
                     membrane_bits: int | None = None, *, batch_size: int = 128,
                     on_batch: Callable[[int], None] | None = None, trace: str | None = None) -> IntegerResult:
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
    trace : {'channel', 'neuron'}, optional
        Also record the run's synaptic activity (as :func:`record_trace` does) into
        :attr:`IntegerResult.trace`: one run gives the accuracy and the accelerator's input.

    Returns
    -------
    IntegerResult

    Raises
    ------
    NotConvertedError
        ``qnet`` has no spiking neurons, or ReLU layers left.
    SimulationError
        Not an integer SNN (non-integer parameters, AvgPool2d), bad ``timesteps``.
    InvalidDataError
        ``x`` of the wrong shape, empty, not finite, or non-integer for a plain Network.
    QuantizationError
        ``membrane_bits`` outside 2..53, a threshold above the register's maximum, or an unknown
        ``trace`` granularity.
    ResourceError
        The trace would not fit in memory.

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
    q, c, xt = _prepare(qnet, x, timesteps, True, batch_size)
    network = c.net
    if membrane_bits is None and q is not None:
        membrane_bits = q.membrane_bits
    if membrane_bits is not None:
        membrane_bits = check_bits("membrane_bits", membrane_bits, 2, 53)
        top = 2 ** (membrane_bits - 1) - 1
        for node in network.nodes:
            if node.is_neuron and float(np.max(node.threshold)) > top:
                raise QuantizationError(f"layer {node.name}: threshold {float(np.max(node.threshold)):.0f} "
                                        f"does not fit the {membrane_bits}-bit membrane (max {top})")
    # One register per neuron layer and per read-out that is not a neuron layer's spikes.
    readouts = [o for o in network.outputs if not network.node(o).is_neuron]
    tallies = {name: Tally() for name in [n.name for n in network.nodes if n.is_neuron] + readouts}
    currents = {n.name: Tally() for n in network.nodes if isinstance(n, ir.CubaLIF)}
    registers = {name: IntegerArithmetic(bits=membrane_bits, tally=tally, current_tally=currents.get(name))
                 for name, tally in tallies.items()}
    spikes = {n.name: torch.zeros(network.shape(n.name), dtype=torch.float64) for n in network.nodes if n.is_neuron}

    tracer = None if trace is None else _Tracer(network, int(timesteps), trace, int(xt.shape[0]))

    def observe(node: ir.Node, inputs: list[Value], output: Value) -> None:
        if node.is_neuron:
            spikes[node.name] += output.data.to(torch.float64).sum((0, 1))
        if tracer is not None:
            tracer(node, inputs, output)

    def accumulate(name: str, value: Value) -> torch.Tensor:
        """The read-out register after T steps: A_t = reg(A_{t-1} + y_t)."""
        if value.spikes or name not in registers:
            return value.data.to(torch.float64).sum(0)
        static = value.mode == "static"
        acc = torch.zeros_like(value.data if static else value.data[0], dtype=torch.float64)
        for t in range(int(timesteps)):
            acc = registers[name].register(acc + (value.data if static else value.data[t]).to(torch.float64))
        return acc

    outputs = run_batches(c, xt, int(timesteps), torch.as_tensor([int(timesteps)]), accumulate,
                          batch_size=batch_size, on_batch=on_batch, collapse=False, registers=registers,
                          observe=observe)
    scale = 1.0
    if q is not None:
        scale = q.output_scales.get(network.outputs[0], 1.0)
    return IntegerResult(network.name, int(timesteps), int(xt.shape[0]), membrane_bits,
                         {k: np.round(torch.cat(v).numpy()).astype(np.int64) for k, v in outputs.items()},
                         {k: v.numpy().astype(np.int64) for k, v in spikes.items()},
                         {k: t.overflows for k, t in tallies.items()}, {k: int(t.peak) for k, t in tallies.items()},
                         scale, None if tracer is None else tracer.trace(),
                         {k: t.overflows for k, t in currents.items()}, {k: int(t.peak) for k, t in currents.items()})


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
    NotConvertedError, SimulationError, InvalidDataError
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
    _, c, xt = _prepare(net, x, timesteps, integer, batch_size)
    tracer = _Tracer(c.net, int(timesteps), granularity, int(xt.shape[0]))
    run_batches(c, xt, int(timesteps), torch.as_tensor([int(timesteps)]), lambda _, v: v.data,
                batch_size=batch_size, on_batch=on_batch, collapse=False, observe=tracer)
    return tracer.trace()
