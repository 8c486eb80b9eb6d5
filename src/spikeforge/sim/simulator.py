r"""Layer-by-layer, multi-step simulation of SNNs (and plain evaluation of ANNs) in PyTorch.

Each layer processes all T timesteps of the whole batch at once wherever that is exact:

* synaptic and structural layers are stateless, so T timesteps run as one batch of T·B;
* a value that is the same at every timestep (the analog input and any stateless function of
  it) is computed once, not T times;
* layers after the last spiking layer are linear, so the read-out (accumulated membrane
  potential divided by t) is computed on the time-averaged input at each requested checkpoint
  t instead of on every timestep;
* only neuron layers step through time, with the one neuron kernel
  (:func:`~spikeforge.sim.neuron.neuron_step`) in float or integer arithmetic;
* what each layer type is (its kernel, whether it is linear, keeps spikes, has synapses) is
  looked up in one table, :data:`spikeforge.sim.ops.LAYERS`.

The integer simulation with saturating registers and the trace recorder of
:mod:`spikeforge.quantize.integer_sim` run this same loop (:func:`run_batch`) with another
arithmetic and an observer.

Spikes are binary: a neuron emits at most one spike per timestep, and counters count them as
such. A non-spiking read-out (LI, CubaLI) outputs its membrane potential, graded, and counts no
spikes; only a network output reads it, and its read-out at t is its potential averaged over the
first t steps. Synaptic operations count (input event × synapses leaving it): a binary spike into a
layer is one event per synapse; an analog (non-spike) input value is counted as one
multiply-accumulate per synapse per timestep and reported separately.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import math
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from spikeforge.api import ArrayLike, public
from spikeforge.errors import ArgumentError, InvalidDataError, SimulationError
from spikeforge.ir import network as ir
from spikeforge.resources import check_count, check_memory
from spikeforge.sim.neuron import (
    FLOAT,
    Arithmetic,
    IntegerArithmetic,
    NeuronParams,
    initial_state,
    neuron_params,
    neuron_step,
)
from spikeforge.sim.ops import LAYERS, compile_layer, layer_type, unit_fanout


@dataclass(frozen=True, eq=False)
class LayerProfile:
    """Activity of one layer over a simulation.

    ``spike_counts`` (neuron layers) holds each neuron's spikes summed over samples and
    timesteps. ``synops`` counts synaptic events into the layer; ``input_kind`` says what
    arrived: ``'spikes'`` (binary), ``'graded'`` (non-binary, e.g. average-pooled spikes) or
    ``'analog'`` (the network input, counted as multiply-accumulates every timestep).
    """

    name: str
    kind: str
    neurons: int
    spikes: float
    synops: float
    input_kind: str | None
    spike_counts: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class Profile:
    """Activity of a network over ``samples`` inputs × ``timesteps``; the input of mapping stages."""

    network: str
    timesteps: int
    samples: int
    layers: tuple[LayerProfile, ...]

    def layer(self, name: str) -> LayerProfile:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise SimulationError(f"profile of {self.network}: no layer {name!r}")

    def rates(self, name: str) -> np.ndarray:
        """Mean spikes per neuron per timestep (firing probability per step) of a neuron layer."""
        counts = self.layer(name).spike_counts
        if counts is None:
            raise SimulationError(f"profile of {self.network}: layer {name!r} has no neurons")
        return counts / (self.samples * self.timesteps)

    @property
    def spikes_per_sample(self) -> float:
        return sum(layer.spikes for layer in self.layers) / self.samples

    @property
    def synops_per_sample(self) -> float:
        """Spike-driven synaptic operations per sample (analog input MACs excluded)."""
        return sum(layer.synops for layer in self.layers if layer.input_kind != "analog") / self.samples

    @property
    def input_macs_per_sample(self) -> float:
        return sum(layer.synops for layer in self.layers if layer.input_kind == "analog") / self.samples


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Read-out at each checkpoint t (mean membrane input over the first t steps), and activity."""

    outputs: dict[int, np.ndarray]
    profile: Profile
    accuracy: dict[int, float] | None = None


def check_labels(labels, samples: int, output_shape: Sequence[int], what: str = "labels") -> np.ndarray:
    """``labels`` as int64 after checking they are one class index per sample, each naming one of
    the outputs of a network whose output per sample has ``output_shape``: the one check behind
    every accuracy computed from labels.

    Raises
    ------
    InvalidDataError
        Not one integer per sample, an output that is not one score per class (a feature map), or
        labels below 0 or not below the number of outputs; the message names ``what``, the count
        of bad labels and the range.

    Examples
    --------
    >>> check_labels([0, 2, 1], 3, (3,))
    array([0, 2, 1])
    >>> check_labels([0, 3, -1, 1], 4, (3,), "data test")
    Traceback (most recent call last):
    ...
    spikeforge.errors.InvalidDataError: data test: 2 of 4 labels outside 0..2 (the network has 3 outputs; labels span -1..3)
    """
    y = np.asarray(labels)
    if y.shape != (samples,):
        raise InvalidDataError(f"{what}: shape {y.shape} does not match {samples} samples")
    integral = y.dtype.kind in "iu" or (y.dtype.kind == "f" and bool(np.all(y == np.round(y))))
    if not integral:
        raise InvalidDataError(f"{what}: labels of dtype {y.dtype} are not integer class indices")
    classes, per_class = (int(output_shape[0]), int(np.prod(output_shape[1:]))) if len(output_shape) else (1, 1)
    if per_class != 1:
        raise InvalidDataError(f"{what}: one class label per sample needs one output per class; the "
                               f"network's output per sample is {tuple(output_shape)}")
    bad = int(((y < 0) | (y >= classes)).sum())
    if bad:
        raise InvalidDataError(f"{what}: {bad} of {samples} labels outside 0..{classes - 1} (the network has "
                               f"{classes} outputs; labels span {y.min():.0f}..{y.max():.0f})")
    return y.astype(np.int64)


def top1_accuracy(outputs: np.ndarray, labels, what: str = "labels") -> float:
    """Fraction of the samples (rows of ``outputs``) whose largest output is their label, after
    :func:`check_labels`.

    Raises
    ------
    InvalidDataError
        From :func:`check_labels`.

    Examples
    --------
    >>> top1_accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), [1, 1])
    0.5
    """
    outputs = np.asarray(outputs)
    y = check_labels(labels, outputs.shape[0], outputs.shape[1:], what)
    return float((outputs.reshape(outputs.shape[0], -1).argmax(1) == y).mean())


@dataclass
class Value:
    """A layer's output in one batch: ``mode`` ``"static"`` (B, ...), the same at every timestep;
    ``"temporal"`` (T, B, ...); or ``"readout"`` (K, B, ...), averaged over the first t steps at
    each of K checkpoints. ``spikes``: binary."""

    data: torch.Tensor
    mode: str
    spikes: bool = False


def _check_input(net: ir.Network, x: np.ndarray | torch.Tensor, what: str,
                 timesteps: int | None = None) -> torch.Tensor:
    t = torch.as_tensor(net.check_input(x.numpy() if isinstance(x, torch.Tensor) else x, what, timesteps))
    if not t.dtype.is_floating_point:
        t = t.float()
    return t


def _batches(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, x.shape[0], batch_size):
        yield x[start:start + batch_size]


@public
def iterate_ann(net: ir.Network, x: ArrayLike, *, record: Sequence[str] = (),
                batch_size: int = 256) -> Iterator[dict[str, torch.Tensor]]:
    """Evaluate an ANN batch by batch; yield the outputs and the ``record``-ed layers per batch.

    Raises
    ------
    SimulationError
        The network contains spiking neurons.
    InvalidDataError
        ``x`` is empty, not finite, or of the wrong shape.
    """
    if net.kind != "ann":
        raise SimulationError(f"network {net.name} is an SNN; use simulate()")
    x = _check_input(net, x, "input data")
    kernels = {n.name: compile_layer(n, net) for n in net.nodes if not isinstance(n, ir.Input)}
    if isinstance(record, str):  # a str is a sequence of one-letter names
        raise ArgumentError(f"iterate_ann(): parameter 'record' must be a sequence of layer names, "
                            f"got the str {record!r}; write ({record!r},)")
    keep = set(record) | set(net.outputs)
    with torch.inference_mode():
        for batch in _batches(x, batch_size):
            values: dict[str, torch.Tensor] = {}
            for node in net.nodes:
                values[node.name] = batch if isinstance(node, ir.Input) else \
                    kernels[node.name](*(values[i] for i in node.inputs))
            yield {k: values[k] for k in keep}


@public
def run_ann(net: ir.Network, x: ArrayLike, *, batch_size: int = 256) -> np.ndarray:
    """The ANN's (first) output for all samples of ``x``."""
    out = net.outputs[0]
    return torch.cat([b[out] for b in iterate_ann(net, x, batch_size=batch_size)]).numpy()


def _collapsible(net: ir.Network) -> set[str]:
    """Layers from which no neuron is reachable and which are linear: evaluated on time-averages."""
    result: set[str] = set()
    for node in reversed(net.nodes):
        entry = LAYERS.get(type(node))
        if entry is not None and entry.linear and all(c.name in result for c in net.consumers(node.name)):
            result.add(node.name)
    return result


def check_integer(net: ir.Network) -> None:
    """Integer mode needs integer weights, biases, gains and thresholds, and no averaging layers;
    parameters must fit in 31 bits so that float64 sums stay exact. Leaks (LIF/CubaLIF ``beta``,
    ``alpha``) and the reset potential ``v_reset``·θ are fractions: their products are floored.

    Raises
    ------
    SimulationError
        A layer that integer arithmetic cannot evaluate exactly, named with an offending value.
    """
    for node in net.nodes:
        entry = LAYERS.get(type(node))
        if entry is not None and entry.integer is not None:
            raise SimulationError(f"integer mode: layer {node.name} ({type(node).__name__}) {entry.integer(node)}")
        fields = {f.name for f in dataclasses.fields(node)}  # parameters only (a read-out's θ = ∞ is none)
        arrays = [getattr(node, f) for f in ("weight", "bias", "threshold") if f in fields and getattr(node, f) is not None]
        arrays += [g for g in (getattr(node, "gains", None) or ()) if g is not None]
        for a in arrays:
            bad = a != np.round(a)
            if bad.any():
                raise SimulationError(f"integer mode: layer {node.name} has {int(bad.sum())} non-integer "
                                      f"parameters (e.g. {float(a[bad].flat[0])}); quantise it first")
            if np.abs(a).max(initial=0) >= 2**31:
                raise SimulationError(f"integer mode: layer {node.name} has parameters beyond 31 bits")


class Compiled:
    """A network prepared for repeated simulation: torch kernels, fan-outs, neuron parameters."""

    def __init__(self, net: ir.Network, integer: bool):
        net.require_snn("simulate")
        if integer:
            check_integer(net)
        # Integer mode computes in float64: every integer below 2**53 is exact, so sums of up to
        # ~2**21 products of 31-bit values are bit-exact, with torch's fast float kernels.
        self.arithmetic: Arithmetic = IntegerArithmetic() if integer else FLOAT
        dtype = self.arithmetic.dtype
        self.net = net
        self.dtype = dtype
        self.types = {n.name: layer_type(n) for n in net.nodes if not (isinstance(n, ir.Input) or n.is_neuron)}
        self.kernels = {name: t.compile(net.node(name), net, dtype) for name, t in self.types.items()}
        # Synapses per input element (float64, flat) of each synaptic layer, for the synop counts.
        self.fanout = {n.name: f.to(torch.float64).numpy().ravel() for n in net.nodes
                       if (f := unit_fanout(n, net)) is not None}
        self.inputs = {n.name for n in net.nodes if isinstance(n, ir.Input)}
        # Inputs the same at every timestep (counted once for all batches, in simulate).
        self.static_inputs = {n.name for n in net.nodes if isinstance(n, ir.Input) and not n.temporal}
        self.collapsible = _collapsible(net)
        # Recurrent loops are stepped jointly through time; everything else layer by layer.
        self.units = _units(net)
        self.in_loop = {name for unit in self.units if len(unit) > 1 or unit[0] in net.node(unit[0]).inputs
                        for name in unit}
        for name in self.in_loop:
            if self.types.get(name) is not None and self.types[name].on_spikes is not None:
                raise SimulationError(f"layer {name} ({type(net.node(name)).__name__}): not supported inside a "
                                      f"recurrent loop")
        # Values read by one neuron layer only (and not outputs): their buffer can take the spikes.
        self.exclusive = {name for name, t in self.types.items() if t.fresh and name not in net.outputs
                          and name not in self.in_loop and [c.is_neuron for c in net.consumers(name)] == [True]}
        self.params = {n.name: neuron_params(n if n.spiking else readout_neuron(n), len(net.shape(n.name)) + 1, dtype)
                       for n in net.nodes if n.is_neuron}


#: The threshold of a read-out's stand-in neuron: above any membrane, so it never fires.
NEVER = float(np.finfo(np.float32).max)


def readout_neuron(node: ir.LI) -> ir.Node:
    r"""A non-spiking layer (:class:`~spikeforge.ir.network.LI`, ``CubaLI``) as the spiking neuron
    whose threshold it never reaches (:data:`NEVER`), starting at 0: the same membrane equations,
    stepped by the one kernel, whose membrane (never reset, since :math:`0 \cdot \theta = 0`) is the
    read-out's output.

    Examples
    --------
    >>> readout_neuron(ir.CubaLI("out", ("fc",), alpha=0.5, beta=0.9)).v_init
    0.0
    """
    fields = {"threshold": np.float32(NEVER), "v_init": 0.0, "beta": node.beta, "bias": node.bias}
    if isinstance(node, ir.CubaLI):
        return ir.CubaLIF(node.name, node.inputs, alpha=node.alpha, **fields)
    return ir.LIF(node.name, node.inputs, **fields)


def _units(net: ir.Network) -> list[tuple[str, ...]]:
    """The order of evaluation: single layers and recurrent loops (:meth:`Network.loops`), each
    after every layer it reads from outside itself; otherwise in network order."""
    loops = net.loops()
    unit_of = {name: loop for loop in loops for name in loop}
    units = list(dict.fromkeys(unit_of.get(n.name, (n.name,)) for n in net.nodes))
    position = {n.name: i for i, n in enumerate(net.nodes)}
    needs = {u: {unit_of.get(i, (i,)) for n in u for i in net.node(n).inputs} - {u} for u in units}
    ready = [u for u in units if not needs[u]]
    heapq.heapify(ready := [(position[u[0]], u) for u in ready])
    order, done = [], set()
    while ready:
        _, unit = heapq.heappop(ready)
        order.append(unit)
        done.add(unit)
        for u in units:
            if u not in done and unit in needs[u] and needs[u] <= done and all(v != u for _, v in ready):
                heapq.heappush(ready, (position[u[0]], u))
    return order


# Networks are immutable, so their compiled kernels are kept while the network lives.
_CACHE: weakref.WeakKeyDictionary[ir.Network, dict[bool, Compiled]] = weakref.WeakKeyDictionary()


def compiled(net: ir.Network, integer: bool) -> Compiled:
    """The :class:`Compiled` form of ``net`` for float or integer arithmetic, cached while ``net`` lives.

    Raises
    ------
    NotConvertedError
        ``net`` has no spiking neurons, or ReLU layers left.
    SimulationError
        ``integer`` and a layer that integer arithmetic cannot evaluate (:func:`check_integer`).
    """
    per_net = _CACHE.setdefault(net, {})
    if integer not in per_net:
        per_net[integer] = Compiled(net, integer)
    return per_net[integer]


def run_neurons(params: NeuronParams, current: Value, timesteps: int, arithmetic: Arithmetic = FLOAT,
                inplace: bool = False, membrane: bool = False) -> torch.Tensor:
    """Step a layer of neurons through T timesteps with :func:`~spikeforge.sim.neuron.neuron_step`;
    return binary spikes (T, B, ...), or with ``membrane`` the potential after each step (a
    non-spiking read-out, :func:`readout_neuron`).

    With ``inplace`` the output overwrites the (temporal, exclusively owned) input current: step t
    no longer needs its current once it is added to the membrane potential. Float outputs of
    (B, C, H, W) layers are laid out channels-last, the layout oneDNN convolutions run fastest on.
    """
    static = current.mode == "static"
    data = current.data
    channels_last = data.ndim - (0 if static else 1) == 4 and arithmetic.dtype == torch.float32
    if static and channels_last:
        data = data.contiguous(memory_format=torch.channels_last)
    first = data if static else data[0]
    if inplace and not static:
        out = data
    elif channels_last:
        out = torch.empty((timesteps, first.shape[0], *first.shape[2:], first.shape[1]),
                          dtype=first.dtype).permute(0, 1, 4, 2, 3)
    else:
        out = torch.empty((timesteps, *first.shape), dtype=first.dtype)
    state = initial_state(params, out[0], arithmetic)  # same memory layout as the spikes
    if membrane:
        for t in range(timesteps):
            _, state = neuron_step(state, data if static else data[t], params, arithmetic=arithmetic)
            out[t] = state.v
        return out
    for t in range(timesteps):  # spikes written as 0./1. straight into the spike train
        _, state = neuron_step(state, data if static else data[t], params, arithmetic=arithmetic, out=out[t])
    return out


def _to_readout(value: Value, checkpoints: torch.Tensor) -> Value:
    if value.mode == "readout":
        return value
    if value.mode == "static":
        return Value(value.data.unsqueeze(0).expand(len(checkpoints), *value.data.shape), "readout")
    sums = value.data.cumsum(0)[checkpoints - 1]
    return Value(sums / checkpoints.reshape(-1, *([1] * (sums.ndim - 1))).to(sums.dtype), "readout")


def _apply(kernel: Callable, values: list[Value]) -> torch.Tensor:
    """Apply a batch-first kernel to values with a leading time (or checkpoint) axis."""
    lead = values[0].data.shape[:2]
    flat = [v.data.reshape(lead[0] * lead[1], *v.data.shape[2:]) for v in values]
    out = kernel(*flat)
    return out.reshape(*lead, *out.shape[1:])


@functools.lru_cache(maxsize=4096)
def _layout(shape: torch.Size, strides: tuple[int, ...], lead: int) -> tuple | None:
    """How a tensor with ``lead`` leading (batch, or time and batch) axes lies in memory.

    ``(rows, N, sample shape in memory order, permutation back to the logical order)`` if it is
    one dense block of rows × N elements with the leading axes outermost, else ``None``.
    """
    order = sorted(range(lead, len(shape)), key=lambda d: -strides[d])
    expected, dense = 1, True
    for d in reversed([*range(lead), *order]):
        if shape[d] != 1 and strides[d] != expected:
            dense = False
        expected *= shape[d]
    if not dense:
        return None
    sample = tuple(shape[d] for d in order)
    return (math.prod(shape[:lead]), math.prod(sample), sample,
            tuple(int(i) for i in np.argsort([d - lead for d in order])))


class _Counters:
    """Non-zero counts of the values that counters read, accumulated exactly over batches.

    Each counted value (a neuron layer's spikes, or the input of a synaptic layer) gets one count
    per element of a sample: non-zero entries summed over batch and time; a value that is the same
    at every timestep (static, or already averaged over time) counts ``timesteps`` times. A neuron
    layer's spike counts and the synaptic operations of its consumers share one count.

    A batch is added as its memory block seen as an (N, rows) matrix times a vector of ones (BLAS
    gemv, in place into the accumulator): 2-4x faster than ``sum`` over the leading axes, and
    reducing a permuted (e.g. channels-last) layout would be slower still. Non-spike values are
    first mapped to 0./1. by ``ne`` into a float buffer, or in place once they are dead (a bool
    tensor would need converting). The accumulator holds integers in the simulation dtype, exact
    whatever the order of additions while below 2**24 (float32) or 2**53 (float64); it is added
    into a float64 total before it could reach that, and at the end. Nothing is converted to a
    Python number per batch.
    """

    # Integers are exact below these; class attributes so that tests can lower them.
    EXACT = {torch.float32: 2**24, torch.float64: 2**53}

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype
        self.limit = self.EXACT[dtype]
        # key -> [accumulator (N,) in memory order, bound on its entries, memory layout]
        self.acc: dict[str, list] = {}
        self.total: dict[str, np.ndarray] = {}  # key -> float64 counts, shape of one sample
        self.kind: dict[str, str] = {}  # synaptic layer -> kind of its input
        self.ones: dict[int, torch.Tensor] = {}

    def count(self, key: str, value: Value, timesteps: int, inplace: bool = False) -> None:
        """Add the non-zero entries of ``value`` (one batch) to the counts of ``key``.

        With ``inplace``, a non-spike value is overwritten by its 0./1. pattern (it must be dead).
        """
        data, lead, alpha = value.data, 2, 1
        if value.mode != "temporal":
            data, lead, alpha = (data if value.mode == "static" else data[-1]), 1, timesteps
        layout = _layout(data.shape, data.stride(), lead)
        entry = self.acc.get(key)
        if entry is None and layout is not None:
            entry = self.acc[key] = [torch.zeros(layout[1], dtype=self.dtype), 0, layout[2:]]
        if entry is None or layout is None or layout[2:] != entry[2] or layout[0] * alpha >= self.limit:
            # Not one block of memory (a view), a layout other than the first batch's, or a huge
            # batch: a plain float64 reduction, exact as well.
            self._add(key, (data != 0).sum(tuple(range(lead)), dtype=torch.float64).numpy() * alpha)
            return
        rows, n = layout[:2]
        if entry[1] + rows * alpha >= self.limit:
            self._flush(key)
        matrix = data.as_strided((n, rows), (1, n), data.storage_offset())  # column r: row r of the block
        if not value.spikes:
            matrix = torch.ne(matrix, 0, out=matrix if inplace else torch.empty((rows, n), dtype=self.dtype).t())
        ones = self.ones.get(rows)
        if ones is None:
            ones = self.ones[rows] = torch.ones(rows, dtype=self.dtype)
        entry[0].addmv_(matrix, ones, alpha=alpha)
        entry[1] += rows * alpha

    def _add(self, key: str, counts: np.ndarray) -> None:
        self.total[key] = self.total[key] + counts if key in self.total else counts

    def _flush(self, key: str) -> None:
        acc, bound, (sample, inverse) = self.acc[key]
        if bound:  # (astype copies, also float64 to float64)
            self._add(key, acc.numpy().astype(np.float64).reshape(sample).transpose(inverse))
            acc.zero_()
            self.acc[key][1] = 0

    def counts(self, key: str) -> np.ndarray:
        """The float64 counts of ``key`` over all batches (shape of one sample); ends its accumulation."""
        if key in self.acc:
            acc, bound, (sample, inverse) = self.acc.pop(key)
            if bound:
                self._add(key, acc.numpy().astype(np.float64).reshape(sample).transpose(inverse))
        return self.total[key]


#: ``observe(node, inputs, output)``, called after each layer of a batch is computed.
Observer = Callable[[ir.Node, list[Value], Value], None]


def run_batch(c: Compiled, x: torch.Tensor, timesteps: int, checkpoints: torch.Tensor,
              readout: Callable[[str, Value], torch.Tensor], *, counters: _Counters | None = None,
              collapse: bool = True, registers: Mapping[str, Arithmetic] | None = None,
              observe: Observer | None = None, spike_input: bool | None = None) -> dict[str, torch.Tensor]:
    """Simulate one batch ``x`` layer by layer; return ``readout(name, value)`` of each output.

    ``x`` is (B, *shape), or (B, T, *shape) for a temporal input (then ``spike_input`` says whether
    it is binary, for the counters; None: decided from this batch). ``collapse`` evaluates the
    read-out region on time averages at the ``checkpoints`` (exact unless the read-out is a
    saturating register); ``registers`` gives neuron layers an arithmetic of their own (e.g.
    counting saturations), else ``c.arithmetic``. Layers of a recurrent loop are stepped together
    through time (:func:`_run_loop`).
    """
    values: dict[str, Value] = {}
    counted: set[str] = set()  # values counted in this batch (a value may feed several layers)
    # Temporal non-spike values are counted once the batch is done, mapping them to 0./1. in
    # place: no buffer to allocate (and fault in) for a mapped copy.
    deferred: list[tuple[str, Value]] = []

    def count_input(node: ir.Node, ins: list[Value]) -> None:
        if counters is None or node.name not in c.fanout:
            return
        v, src = ins[0], node.inputs[0]
        if src not in counted and src not in c.static_inputs:  # static inputs are counted once, in simulate
            if v.mode == "temporal" and not v.spikes:
                deferred.append((src, v))
            else:
                counters.count(src, v, timesteps)
            counted.add(src)
        counters.kind[node.name] = ("spikes" if v.spikes else "graded") if v.mode == "temporal" else \
            "analog" if v.mode == "static" else "graded"

    def count_spikes(node: ir.Node) -> None:
        if counters is not None and node.spiking:  # a read-out sends none
            counters.count(node.name, values[node.name], timesteps)
            counted.add(node.name)

    def arithmetic(name: str) -> Arithmetic:
        return c.arithmetic if registers is None else registers.get(name, c.arithmetic)

    for unit in c.units:
        if unit[0] in c.in_loop:
            _run_loop(c, [c.net.node(n) for n in unit], values, timesteps, x.shape[0], arithmetic)
            for node in (c.net.node(n) for n in unit):
                ins = [values[i] for i in node.inputs]
                count_input(node, ins)
                if node.is_neuron:
                    count_spikes(node)
                if observe is not None:
                    observe(node, ins, values[node.name])
            continue
        node = c.net.node(unit[0])
        if isinstance(node, ir.Input):
            if node.temporal:  # (B, T, ...) -> (T, B, ...)
                data = x.to(c.dtype).transpose(0, 1).contiguous()
                binary = bool(((data == 0) | (data == 1)).all()) if spike_input is None else spike_input
                values[node.name] = Value(data, "temporal", spikes=binary)
            else:
                values[node.name] = Value(x.to(c.dtype), "static")
            continue
        ins = [values[i] for i in node.inputs]
        count_input(node, ins)
        if node.is_neuron:
            src = node.inputs[0]
            inplace = src in c.exclusive
            out = run_neurons(c.params[node.name], ins[0], timesteps, arithmetic(node.name), inplace,
                              membrane=not node.spiking)
            if inplace:
                del values[src]  # its buffer now holds the spikes (or a read-out's potentials)
            values[node.name] = Value(out, "temporal", spikes=node.spiking)
            count_spikes(node)
        elif isinstance(node, ir.Delay):
            values[node.name] = _delay(node, ins[0], timesteps)
        else:
            kind, kernel = c.types[node.name], c.kernels[node.name]
            modes = {v.mode for v in ins}
            if modes == {"static"}:
                values[node.name] = Value(kernel(*(v.data for v in ins)), "static")
            elif "readout" in modes or (collapse and node.name in c.collapsible and not kind.structural):
                values[node.name] = Value(_apply(kernel, [_to_readout(v, checkpoints) for v in ins]), "readout")
            else:
                steps = [v if v.mode == "temporal" else
                         Value(v.data.unsqueeze(0).expand(timesteps, *v.data.shape), "temporal", v.spikes)
                         for v in ins]
                if kind.on_spikes is not None and steps[0].spikes:
                    out = kind.on_spikes(node, steps[0].data)
                else:
                    out = _apply(kernel, steps)
                values[node.name] = Value(out, "temporal", kind.keeps_spikes and all(v.spikes for v in ins))
        if observe is not None:
            observe(node, ins, values[node.name])
    outputs = {name: readout(name, values[name]) for name in c.net.outputs}
    # The read-outs are new tensors (temporal values are summed over time), so every value is dead
    # now. Mapping one to 0./1. keeps the non-zero pattern of any value sharing its memory.
    for src, v in deferred:
        counters.count(src, v, timesteps, inplace=True)
    return outputs


def _delay(node: ir.Delay, value: Value, timesteps: int) -> Value:
    r"""A Delay outside a loop: the input shifted by ``steps`` timesteps, zeros before."""
    data = value.data if value.mode == "temporal" else value.data.unsqueeze(0).expand(timesteps, *value.data.shape)
    out = torch.zeros((timesteps, *data.shape[1:]), dtype=data.dtype)
    if node.steps < timesteps:
        out[node.steps:] = data[:timesteps - node.steps]
    return Value(out, "temporal", value.spikes)


def _run_loop(c: Compiled, nodes: list[ir.Node], values: dict[str, Value], timesteps: int, batch: int,
              arithmetic: Callable[[str], Arithmetic]) -> None:
    """Step the layers of one recurrent loop jointly through time, adding their (T, B, ...) outputs
    to ``values``.

    At each step the layers run in network order: a Delay returns its input of step ``t - steps``
    (zeros before), every other layer reads this step's values, so the loop's back edges see only
    the past. Values from outside the loop are read at step t (static ones at every step).
    """
    members = {n.name for n in nodes}
    trains: dict[str, list[torch.Tensor]] = {n.name: [] for n in nodes}
    states = {}

    def at(name: str, t: int) -> torch.Tensor:
        if name in members:
            return trains[name][t]
        v = values[name]
        return v.data if v.mode == "static" else v.data[t]

    for t in range(timesteps):
        for node in nodes:
            if isinstance(node, ir.Delay):
                past = t - node.steps
                out = at(node.inputs[0], past) if past >= 0 else \
                    torch.zeros((batch, *node.shape), dtype=c.dtype)
            elif node.is_neuron:
                current, params = at(node.inputs[0], t), c.params[node.name]
                if node.name not in states:
                    states[node.name] = initial_state(params, torch.empty_like(current), arithmetic(node.name))
                out, states[node.name] = neuron_step(states[node.name], current, params,
                                                     arithmetic=arithmetic(node.name))
            else:
                out = c.kernels[node.name](*(at(i, t) for i in node.inputs))
            trains[node.name].append(out)
    # Binary outputs: neurons, and spike-keeping layers of binary values (the least fixed point).
    spikes = {n.name for n in nodes if n.spiking}
    grown = True
    while grown:
        grown = False
        for node in nodes:
            keeps = isinstance(node, ir.Delay) or (node.name in c.types and c.types[node.name].keeps_spikes)
            if node.name not in spikes and keeps and all(
                    i in spikes if i in members else values[i].spikes for i in node.inputs):
                spikes.add(node.name)
                grown = True
    for node in nodes:
        values[node.name] = Value(torch.stack(trains[node.name]), "temporal", node.name in spikes)


def run_batches(c: Compiled, x: torch.Tensor, timesteps: int, checkpoints: torch.Tensor,
                readout: Callable[[str, Value], torch.Tensor], *, batch_size: int,
                on_batch: Callable[[int], None] | None = None, **options) -> dict[str, list[torch.Tensor]]:
    """:func:`run_batch` over ``x`` in batches (``options`` are its keywords); the read-outs of
    each output, batch by batch. ``on_batch(samples done)`` is called after each batch."""
    outputs: dict[str, list[torch.Tensor]] = {o: [] for o in c.net.outputs}
    done = 0
    with torch.inference_mode():
        for batch in _batches(x, batch_size):
            for name, value in run_batch(c, batch, timesteps, checkpoints, readout, **options).items():
                outputs[name].append(value)
            done += batch.shape[0]
            if on_batch:
                on_batch(done)
    return outputs


#: The longest run simulated. Rate coding gains nothing measurable beyond it (this project's
#: targets are T ≤ 8), and a longer one would run for hours or hold (T, batch, neurons) tensors
#: larger than any machine's memory.
MAX_TIMESTEPS = 1 << 16


def check_run(net: ir.Network, timesteps: int, batch: int, bytes_per_value: int) -> None:
    """Refuse a run that is too long, or whose (T, batch, neurons) tensors cannot fit in memory.

    A layer's input, current and output over all T timesteps are alive at once, so a batch needs
    about three times T × batch × the largest layer's size of values.

    Raises
    ------
    SimulationError
        ``timesteps`` is not an integer in 1..:data:`MAX_TIMESTEPS`.
    ResourceError
        The batch's tensors need more than the available memory (quoted).

    Examples
    --------
    >>> net = ir.Network((ir.Input("x", (), (4,)), ir.IF("n", ("x",), threshold=np.float32(1))), ("n",))
    >>> check_run(net, 0, 1, 4)
    Traceback (most recent call last):
    ...
    spikeforge.errors.SimulationError: timesteps=0: must be an integer in 1..65536
    """
    if isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer)) \
            or not 1 <= timesteps <= MAX_TIMESTEPS:
        raise SimulationError(f"timesteps={timesteps!r}: must be an integer in 1..{MAX_TIMESTEPS}")
    largest = max(math.prod(net.shape(n.name)) for n in net.nodes)
    check_memory(3 * int(timesteps) * int(batch) * largest * bytes_per_value,
                 f"simulating {net.name} at T={timesteps} in batches of {batch} (largest layer {largest:,} values)")


@public
def simulate(net: ir.Network, x: ArrayLike, *, timesteps: int,
             checkpoints: Sequence[int] | None = None, labels: ArrayLike | None = None,
             batch_size: int = 128, counters: bool = True, integer: bool = False,
             on_batch: Callable[[int], None] | None = None) -> SimulationResult:
    """Simulate an SNN on inputs ``x`` (injected as current every timestep).

    Parameters
    ----------
    net : Network
        An SNN (IF/LIF/CubaLIF neurons, LI/CubaLI read-outs, recurrent loops through Delays; no
        remaining ReLU).
    x : array (N, *input_shape), or (N, T, *input_shape) for a temporal input
        A static input is the same at every timestep; a temporal one (``Input.temporal``, e.g.
        spike trains or event frames) gives one value per timestep.
    timesteps : int
        T, the number of timesteps per inference.
    checkpoints : sequence of int, optional
        Timesteps t ≤ T at which to read out (default: T only). One run gives them all, since
        the dynamics are causal: the read-out at t equals that of a run with T = t.
    labels : array (N,), optional
        Class labels in ``0 ..`` outputs − 1 (:func:`check_labels`); accuracy of the argmax
        read-out is returned per checkpoint.
    counters : bool
        Count spikes and synaptic operations (default True).
    integer : bool
        Bit-exact integer arithmetic (quantised networks: integer weights, biases, thresholds
        and inputs; the initial membrane potential is floor(v_init·θ); leak and reset products
        are floored).
    on_batch : callable, optional
        Called with the number of samples done after each batch (progress bars).

    Returns
    -------
    SimulationResult

    Raises
    ------
    NotConvertedError
        ``net`` has no spiking neurons, or ReLU layers left.
    SimulationError
        ``timesteps``/``checkpoints``/``batch_size`` are out of range, a temporal input has
        another number of timesteps, or integer mode is asked for a network that is not integer.
    ResourceError
        A batch's tensors would not fit in memory (:func:`check_run`); use a smaller batch.
    InvalidDataError
        ``x`` or ``labels`` are empty, not finite, or of the wrong shape, or labels lie outside
        the network's outputs.
    """
    check_count(batch_size, "batch_size", error=SimulationError)
    check_run(net, timesteps, min(batch_size, len(x)), 8 if integer else 4)
    cps = sorted(set(checkpoints or [timesteps]))
    if cps[0] < 1 or cps[-1] > timesteps:
        raise SimulationError(f"checkpoints {cps} must lie in 1..{timesteps}")
    c = compiled(net, integer)
    x = _check_input(net, x, "input data", int(timesteps))
    if integer and not torch.equal(x, torch.round(x)):
        raise InvalidDataError("input data: integer mode needs integer inputs (e.g. 8-bit pixel values)")
    if labels is not None:
        labels = check_labels(labels, x.shape[0], net.shape(net.outputs[0]))
    checkpoints_t = torch.as_tensor(cps)
    stats = _Counters(c.dtype) if counters else None
    binary = bool(((x == 0) | (x == 1)).all()) if net.input.temporal else None
    outputs = run_batches(c, x, int(timesteps), checkpoints_t, lambda _, v: _to_readout(v, checkpoints_t).data,
                          batch_size=batch_size, on_batch=on_batch, counters=stats, spike_input=binary)
    if stats is not None:  # the analog input, the same at every timestep: counted once for all batches
        with torch.inference_mode():
            for name in c.static_inputs & {n.inputs[0] for n in net.nodes if n.name in c.fanout}:
                for chunk in _batches(x, 8192):
                    stats.count(name, Value(chunk.to(c.dtype), "static"), int(timesteps))
    first = torch.cat(outputs[net.outputs[0]], dim=1).numpy()
    per_checkpoint = {t: first[i] for i, t in enumerate(cps)}
    layers = []
    for node in net.nodes:
        spikes, synops, kind, counts = 0.0, 0.0, None, None
        if stats is not None and node.is_neuron and not node.spiking:  # a read-out: graded, no spikes
            counts = np.zeros(net.shape(node.name))
            counts.setflags(write=False)
        elif stats is not None and node.is_neuron:
            counts = np.ascontiguousarray(stats.counts(node.name))
            counts.setflags(write=False)
            spikes = float(counts.sum())
        if stats is not None and node.name in c.fanout:  # exact: integer products and sums below 2**53
            synops = float(np.dot(stats.counts(node.inputs[0]).ravel(), c.fanout[node.name]))
            kind = stats.kind[node.name]
        neurons = int(np.prod(net.shape(node.name))) if node.is_neuron else 0
        layers.append(LayerProfile(node.name, type(node).__name__, neurons, spikes, synops, kind, counts))
    profile = Profile(net.name, int(timesteps), int(x.shape[0]), tuple(layers))
    accuracy = None
    if labels is not None:
        accuracy = {t: top1_accuracy(out, labels) for t, out in per_checkpoint.items()}
    return SimulationResult(per_checkpoint, profile, accuracy)
