r"""Cycle-approximate model of an event-driven spiking inference accelerator (a PE array).

The model follows the accelerator of Nimbekar et al., *Hardware-Software Co-optimised Fast
and Accurate Deep Reconfigurable Spiking Inference Accelerator Architecture Design
Methodology* (arXiv:2410.16298, 2024; FPGA prototype on PYNQ-Z2: 38.4 GOPS at 1.54 W,
0.6 GOPS per PE, 2.25 GOPS per DSP slice). Its spec is a small TOML file validated into a
frozen :class:`AcceleratorSpec` (presets in ``hardware/presets/accelerators``); crossbar
chips use :class:`~spikeforge.ir.hardware.Hardware` instead.

Execution model
---------------
Layers run one after another within a timestep, timesteps one after another, one inference
at a time. In a synaptic layer, every non-zero input value of the timestep (a spike, a
graded value after pooling, or a non-zero analog input pixel) is an **event**: the event
queue dispatches it (``event_dispatch_cycles`` each, serially) to the PEs, and every PE adds
the event's weights into the membranes of the output neurons it owns — **one synaptic
accumulate is one operation**, ``ops_per_cycle_per_pe`` of them per cycle per PE. The
layer's work units — output channels or single neurons — go to its active PEs by an
:class:`Assignment` (``distribution``, see :data:`ASSIGNMENTS`); after the events, each PE
updates its neurons at ``neuron_updates_per_cycle_per_pe`` state updates per cycle: one per
state register and step (IF, LIF: the membrane; CubaLIF: current and membrane), one more for a
bias current, which is an update even in a step without input events (:func:`network_costs`).
Per layer, timestep and sample

.. math::
    c_{l,t} = \max\!\Big(\Big\lceil \tfrac{\max_p \mathrm{ops}_{p}}{r} \Big\rceil
              + \Big\lceil \tfrac{\max_p \mathrm{neurons}_{p}}{r_u} \Big\rceil,\;
              d\,E_{l,t},\; M_l\Big) + o

— the busiest PE sets the layer time; event dispatch (:math:`d` cycles per event,
:math:`E` events) and weight streaming (:math:`M_l` cycles, only when weights and membrane
state exceed on-chip memory, at ``off_chip_bandwidth_gb_s``) overlap with the accumulation;
:math:`o` = ``layer_overhead_cycles`` is a per-layer barrier. The number of active PEs per
layer is chosen by the mapper, profile-guided, as the count in 1..``pes`` that minimises the
layer's cycles on the trace, so adding PEs never makes a trace slower — unless the owner tables
or kernel copies of an assignment (below), sized at each layer's largest PE count, no longer fit
on chip and the weights stream from DRAM. The input image is loaded from DRAM once per inference.

Neuron-to-PE assignment
-----------------------
What an assignment costs in hardware is charged to on-chip memory (:math:`M` above when the
total no longer fits):

* ``channel`` — output channels round-robin (the paper's): the owner is the channel index modulo
  the active PEs, computed, no table; each kernel is stored once, on its PE.
* ``neuron`` — output neurons round-robin: the neurons of one channel land on several PEs, and
  every PE holding a neuron of a channel holds a copy of that channel's kernel.
* ``balanced-channel`` / ``balanced-neuron`` — profile-guided: the units sorted by their
  measured cycles on the trace (operations / :math:`r` + state updates / :math:`r_u`) go, longest
  first, to the least-loaded PE (LPT, Graham 1969), unless round-robin is faster on the profile.
  The assignment is static (one table written at mapping time): each PE keeps a table of its
  units, one entry of :math:`\lceil\log_2 P_\mathrm{active}\rceil` bits per unit, and the
  neuron-granular one copies kernels as ``neuron`` does. ``balanced-neuron`` splits a channel's
  spatial positions over PEs, so a layer with fewer channels than PEs can use them all.

Recurrent layers are synaptic layers like any other: the loop's delayed spikes are events,
dispatched and accumulated the same way. A Delay holds ``steps`` timesteps of its input on chip
(one bit per spike, ``membrane_bits`` per graded value).

Peak and effective throughput
-----------------------------
Peak = PEs × ops/cycle/PE × clock (64 × 6 × 100 MHz = 38.4 GOPS for the preset). Effective
GOPS = operations / time = peak × utilisation. The spike activity sets the **number** of
operations (and hence energy-relevant work), not the rate: the rate drops below peak with
load imbalance across PEs (the busiest PE sets each layer's time, idle PEs when a layer has
fewer channels than PEs), per-event dispatch overhead (layers with few synapses per event),
neuron-update phases, per-layer barriers and memory stalls. Energy per inference is an
**estimate**: board power × latency.

Examples
--------
>>> hw = load_accelerator("pynq-z2-accel")
>>> hw.pes, round(hw.peak_gops, 2), round(hw.peak_gops / hw.dsp_slices, 2)
(64, 38.4, 2.26)
"""

from __future__ import annotations

import heapq
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from spikeforge.api import public
from spikeforge.errors import InvalidDataError, InvalidHardwareSpecError
from spikeforge.hardware.spec import presets, read_spec
from spikeforge.ir import network as ir
from spikeforge.ir.hardware import MAX_COUNT, MAX_QUANTITY
from spikeforge.strategies import Registry

__all__ = [
    "ASSIGNMENTS",
    "AcceleratorLayer",
    "AcceleratorReport",
    "AcceleratorSpec",
    "ActivityTrace",
    "Assignment",
    "BalancedChannels",
    "BalancedNeurons",
    "LayerActivity",
    "NetworkCosts",
    "ReferenceFigures",
    "RoundRobinChannels",
    "RoundRobinNeurons",
    "accelerator_report",
    "list_accelerator_presets",
    "load_accelerator",
    "network_costs",
]


class Assignment(ABC):
    """How a synaptic layer's work units (output channels or neurons) go to its active PEs."""

    name: ClassVar[str]
    #: The trace's work unit it reads (``record_trace``'s granularity).
    granularity: ClassVar[Literal["channel", "neuron"]]
    #: Whether the hardware keeps an owner table (one entry per unit) rather than computing owners.
    table: ClassVar[bool] = False

    @abstractmethod
    def candidates(self, work: np.ndarray, active: int) -> list[np.ndarray]:
        """Owner arrays (PE index in 0..``active``-1 per unit) to try; the mapper keeps the one
        fastest on the trace. ``work[u]`` is unit u's cycles over the profile."""

    def table_bits(self, units: int, active: int) -> int:
        """On-chip bits of the owner table for ``units`` units over ``active`` PEs."""
        return units * max(1, math.ceil(math.log2(active))) if self.table and active > 1 else 0


def _round_robin(units: int, active: int) -> np.ndarray:
    return np.arange(units) % active


def _lpt(work: np.ndarray, active: int) -> np.ndarray:
    """Longest processing time first: each unit, by decreasing work, to the least-loaded PE."""
    owner = np.empty(work.size, np.int64)
    heap = [(0.0, p) for p in range(active)]
    for u in np.argsort(-work, kind="stable").tolist():
        load, p = heap[0]
        owner[u] = p
        heapq.heapreplace(heap, (load + float(work[u]), p))
    return owner


@dataclass(frozen=True)
class RoundRobinChannels(Assignment):
    """Output channels dealt round-robin to the active PEs (the paper's; no table)."""

    name: ClassVar[str] = "channel"
    granularity: ClassVar[Literal["channel", "neuron"]] = "channel"

    def candidates(self, work: np.ndarray, active: int) -> list[np.ndarray]:
        return [_round_robin(work.size, active)]


@dataclass(frozen=True)
class RoundRobinNeurons(RoundRobinChannels):
    """Output neurons dealt round-robin to the active PEs (kernels copied to every PE using them)."""

    name: ClassVar[str] = "neuron"
    granularity: ClassVar[Literal["channel", "neuron"]] = "neuron"


@dataclass(frozen=True)
class BalancedChannels(Assignment):
    """Output channels to PEs longest-first by their measured cycles (LPT), round-robin where
    that is faster; one owner-table entry per channel."""

    name: ClassVar[str] = "balanced-channel"
    granularity: ClassVar[Literal["channel", "neuron"]] = "channel"
    table: ClassVar[bool] = True

    def candidates(self, work: np.ndarray, active: int) -> list[np.ndarray]:
        return [_lpt(work, active), _round_robin(work.size, active)]


@dataclass(frozen=True)
class BalancedNeurons(BalancedChannels):
    """Output neurons to PEs longest-first by their measured cycles (LPT), splitting channels over
    PEs; one owner-table entry per neuron, kernels copied to every PE using them."""

    name: ClassVar[str] = "balanced-neuron"
    granularity: ClassVar[Literal["channel", "neuron"]] = "neuron"


#: The neuron-to-PE assignments, by the name ``AcceleratorSpec.distribution`` takes.
ASSIGNMENTS: Registry[Assignment] = Registry(
    "assignment", Assignment, (RoundRobinChannels, RoundRobinNeurons, BalancedChannels, BalancedNeurons))


class ReferenceFigures(BaseModel):
    """Published figures of the real design, shown beside the model's."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    source: str = ""
    gops: float | None = None
    gops_per_pe: float | None = None
    gops_per_dsp: float | None = None
    power_w: float | None = None


class AcceleratorSpec(BaseModel):
    """A PE-array spiking accelerator (see the module docstring for the execution model)."""

    # strict: "64" or true is not a count, "100" not a clock (TOML has numbers); ints are floats
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    name: str
    description: str = ""
    pes: int
    clock_mhz: float
    ops_per_cycle_per_pe: float
    dsp_slices: int
    neuron_updates_per_cycle_per_pe: float = 1.0
    event_dispatch_cycles: float = 1.0
    layer_overhead_cycles: float = 0.0
    distribution: str = "channel"  # a name in ASSIGNMENTS
    on_chip_memory_kib: float
    off_chip_bandwidth_gb_s: float
    weight_bits: int = 8
    membrane_bits: int = 16
    power_w: float
    reference: ReferenceFigures | None = None

    def model_post_init(self, _context: Any) -> None:
        rules = (("pes", self.pes >= 1, "must be ≥ 1"), ("clock_mhz", self.clock_mhz > 0, "must be > 0"),
                 ("ops_per_cycle_per_pe", self.ops_per_cycle_per_pe > 0, "must be > 0"),
                 ("dsp_slices", self.dsp_slices >= 1, "must be ≥ 1"),
                 ("neuron_updates_per_cycle_per_pe", self.neuron_updates_per_cycle_per_pe > 0, "must be > 0"),
                 ("event_dispatch_cycles", self.event_dispatch_cycles >= 0, "must be ≥ 0"),
                 ("layer_overhead_cycles", self.layer_overhead_cycles >= 0, "must be ≥ 0"),
                 ("on_chip_memory_kib", self.on_chip_memory_kib >= 0, "must be ≥ 0"),
                 ("off_chip_bandwidth_gb_s", self.off_chip_bandwidth_gb_s > 0, "must be > 0"),
                 ("weight_bits", 1 <= self.weight_bits <= 32, "must be in 1..32"),
                 ("membrane_bits", 2 <= self.membrane_bits <= 64, "must be in 2..64"),
                 ("power_w", self.power_w > 0, "must be > 0"),
                 ("distribution", self.distribution in ASSIGNMENTS, f"must be one of {', '.join(ASSIGNMENTS)}"))
        # upper bounds, as for crossbar hardware: counts a C int, quantities at most 1e30
        rules += tuple((name, getattr(self, name) <= MAX_COUNT, f"must be ≤ {MAX_COUNT}")
                       for name in ("pes", "dsp_slices"))
        rules += tuple((name, getattr(self, name) <= MAX_QUANTITY, f"must be ≤ {MAX_QUANTITY:g}")
                       for name in ("clock_mhz", "ops_per_cycle_per_pe", "neuron_updates_per_cycle_per_pe",
                                    "event_dispatch_cycles", "layer_overhead_cycles", "on_chip_memory_kib",
                                    "off_chip_bandwidth_gb_s", "power_w"))
        for name, ok, rule in rules:
            value = getattr(self, name)
            if not ok or (isinstance(value, float) and not math.isfinite(value)):
                raise InvalidHardwareSpecError(f"accelerator {self.name}: {name} = {value!r}: {rule}")

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6

    @property
    def assignment(self) -> Assignment:
        """The :class:`Assignment` named by ``distribution``."""
        return ASSIGNMENTS.get(self.distribution)

    @property
    def peak_gops(self) -> float:
        """PEs × ops per cycle per PE × clock, in 10⁹ operations per second."""
        return self.pes * self.ops_per_cycle_per_pe * self.clock_hz / 1e9

    def replace(self, **changes: Any) -> AcceleratorSpec:
        """A re-validated copy with some fields changed (e.g. ``pes=128``).

        Raises
        ------
        InvalidHardwareSpecError
            A changed field is out of range or unknown.
        """
        changes = {k: v.item() if isinstance(v, np.generic) else v for k, v in changes.items()}
        return accelerator_from_dict({**self.model_dump(), **changes}, source=f"accelerator {self.name}")


def accelerator_from_dict(data: dict[str, Any], *, source: str = "accelerator") -> AcceleratorSpec:
    """Validate a dict (parsed TOML) into an :class:`AcceleratorSpec`.

    Raises
    ------
    InvalidHardwareSpecError
        Unknown, missing, mistyped or out-of-range fields; the message names the field and value.
    """
    try:
        return AcceleratorSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        value = err.get("input")
        shown = "missing" if err["type"] == "missing" else f"= {value!r}"
        raise InvalidHardwareSpecError(f"{source}: {where} {shown}: {err['msg']}") from None
    except InvalidHardwareSpecError as exc:  # a range rule of model_post_init: add the file
        if str(exc).startswith(source):
            raise
        raise InvalidHardwareSpecError(f"{source}: {exc}") from None


@public
def list_accelerator_presets() -> list[str]:
    """Names of the shipped accelerator presets.

    Examples
    --------
    >>> list_accelerator_presets()
    ['pynq-z2-accel']
    """
    return presets("accelerator")


@public
def load_accelerator(name_or_path: str | os.PathLike[str] | AcceleratorSpec) -> AcceleratorSpec:
    """Load an accelerator spec by preset name or from a TOML file (a spec is returned as is);
    :func:`~spikeforge.hardware.spec.read_spec` reads it.

    Raises
    ------
    InvalidHardwareSpecError
        Neither a preset nor a readable file; invalid TOML; invalid fields.
    """
    if isinstance(name_or_path, AcceleratorSpec):
        return name_or_path
    spec = read_spec(name_or_path, "accelerator")
    return accelerator_from_dict(spec.document, source=spec.source)


@runtime_checkable
class LayerActivity(Protocol):
    """What the model reads of one synaptic layer's activity over a run
    (:class:`~spikeforge.quantize.LayerTrace` records it).

    ``events[t, n]`` counts the non-zero input values of sample n at timestep t, ``ops[t, n, u]``
    the synaptic operations landing on work unit u (an output channel or neuron) with
    ``neurons_per_unit[u]`` neurons; ``parameters`` counts the layer's weights.
    """

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def input_kind(self) -> str: ...
    @property
    def events(self) -> np.ndarray: ...
    @property
    def ops(self) -> np.ndarray: ...
    @property
    def neurons_per_unit(self) -> np.ndarray: ...
    @property
    def parameters(self) -> int: ...


@runtime_checkable
class ActivityTrace(Protocol):
    """What the model reads of a network run: per synaptic layer, timestep and sample, the
    activity it evaluates (:class:`~spikeforge.quantize.SpikeTrace`, recorded by
    :func:`~spikeforge.quantize.record_trace`, is one). Declared here, by the model that reads it,
    so the hardware layer does not depend on the simulator that records it.
    """

    @property
    def network(self) -> str: ...
    @property
    def timesteps(self) -> int: ...
    @property
    def samples(self) -> int: ...
    @property
    def granularity(self) -> str: ...
    @property
    def input_elements(self) -> int: ...
    @property
    def layers(self) -> Sequence[LayerActivity]: ...
    @property
    def ops(self) -> float: ...


@dataclass(frozen=True)
class AcceleratorLayer:
    """Per synaptic layer, averaged per inference."""

    name: str
    kind: str
    input_kind: str
    ops: float
    events: float
    cycles: float
    compute_cycles: float
    dispatch_cycles: float
    memory_cycles: float
    active_pes: int
    imbalance: float  # busiest PE's ops / mean PE ops over the run (1 = balanced)
    bound: str  # 'compute', 'dispatch' or 'memory' (the term dominating most cycles)


@dataclass(frozen=True)
class AcceleratorReport:
    """Cycle-approximate performance of one network and data on an accelerator (per inference)."""

    hardware: str
    network: str
    timesteps: int
    samples: int
    pes: int
    clock_mhz: float
    peak_gops: float
    ops_per_inference: float
    cycles_per_inference: float
    worst_cycles: float
    latency_s: float
    effective_gops: float
    utilisation: float
    gops_per_pe: float
    gops_per_dsp: float
    gops_per_w: float
    power_w: float
    energy_per_inference_j: float
    input_cycles: float
    on_chip_bits_needed: int
    fits_on_chip: bool
    layers: tuple[AcceleratorLayer, ...]
    reference: ReferenceFigures | None = None
    assumptions: tuple[str, ...] = ()

    def rows(self) -> list[tuple[str, str, str]]:
        """``(figure, model value, published value)`` rows for a table."""
        ref = self.reference or ReferenceFigures()

        def opt(v: float | None, fmt: str) -> str:
            return "" if v is None else format(v, fmt)

        return [
            ("timesteps", str(self.timesteps), ""),
            ("synaptic ops / inference", f"{self.ops_per_inference:,.0f}", ""),
            ("cycles / inference", f"{self.cycles_per_inference:,.0f}", ""),
            ("latency / inference", f"{self.latency_s * 1e6:,.2f} µs", ""),
            ("peak GOPS", f"{self.peak_gops:.2f}", opt(ref.gops, ".1f")),
            ("effective GOPS", f"{self.effective_gops:.3f}", ""),
            ("utilisation", f"{self.utilisation:.1%}", ""),
            ("GOPS / PE", f"{self.gops_per_pe:.4f}", opt(ref.gops_per_pe, ".2f")),
            ("GOPS / DSP", f"{self.gops_per_dsp:.4f}", opt(ref.gops_per_dsp, ".2f")),
            ("GOPS / W", f"{self.gops_per_w:.3f}",
             "" if ref.gops is None or ref.power_w is None else f"{ref.gops / ref.power_w:.1f}"),
            ("power (board)", f"{self.power_w:.2f} W", opt(ref.power_w, ".2f")),
            ("energy / inference (estimate)", f"{self.energy_per_inference_j * 1e6:,.3f} µJ", ""),
            ("weights + state on chip", (f"{self.on_chip_bits_needed / 8192:,.1f} KiB "
                                         f"({'fits' if self.fits_on_chip else 'streamed from DRAM'})"), ""),
        ]


@dataclass(frozen=True)
class NetworkCosts:
    r"""What a network's neurons cost the accelerator beyond its synaptic events (:func:`network_costs`).

    Attributes
    ----------
    channels : mapping of str to int
        Output channels per synaptic layer (the neurons of one channel share one kernel).
    updates : mapping of str to int
        State updates per output neuron and timestep charged to each synaptic layer,
        :math:`u = s + [b \ne 0]`: :math:`s` state registers of the neurons it feeds (IF, LIF 1;
        CubaLIF, CubaLI 2), :math:`b` their bias current (the neurons' own or a synaptic bias into
        them); 1 for a layer feeding no neurons (a read-out accumulator, a pooled buffer); 0 for
        every synaptic layer into the same neurons but the last one (a recurrent loop's feedback,
        a residual sum): each neuron is updated once per step.
    registers : int
        State registers beyond one per output neuron (a CubaLIF's synaptic current).
    delayed_spikes, delayed_values : int
        Values held by Delay buffers: spikes (one bit each) and graded values (``membrane_bits``).
    """

    channels: Mapping[str, int] = field(default_factory=dict)
    updates: Mapping[str, int] = field(default_factory=dict)
    registers: int = 0
    delayed_spikes: int = 0
    delayed_values: int = 0


@public
def network_costs(net: ir.Network) -> NetworkCosts:
    """The costs of ``net``'s dynamics on the accelerator (see :class:`NetworkCosts`).

    Raises
    ------
    ArgumentError
        ``net`` is not a :class:`~spikeforge.ir.network.Network`.

    Examples
    --------
    >>> import numpy as np
    >>> net = ir.Network((ir.Input("x", (), (2,)), ir.Linear("fc", ("x",), np.ones((3, 2), np.float32)),
    ...                   ir.Delay("d", ("n",), steps=1, shape=(3,)),
    ...                   ir.Linear("rec", ("d",), np.ones((3, 3), np.float32)), ir.Add("sum", ("fc", "rec")),
    ...                   ir.CubaLIF("n", ("sum",), threshold=np.float32(1), alpha=0.5, beta=0.5, bias=0.1)),
    ...                  ("n",))
    >>> c = network_costs(net)
    >>> dict(c.updates), c.registers, c.delayed_spikes
    ({'fc': 0, 'rec': 3}, 3, 3)
    """
    order = {n.name: i for i, n in enumerate(net.nodes)}
    consumers: dict[str, list[ir.Node]] = {n.name: [] for n in net.nodes}
    for n in net.nodes:
        for i in n.inputs:
            consumers[i].append(n)
    targets: dict[str, list[ir.Node]] = {}
    for node in net.nodes:
        if not node.is_synaptic:
            continue
        found, stack, seen = [], [node.name], set()
        while stack:  # through sums, reshapes and delays to the neurons the layer's current reaches
            for c in consumers[stack.pop()]:
                if c.name not in seen:
                    seen.add(c.name)
                    if c.is_neuron:
                        found.append(c)
                    elif not c.is_synaptic:
                        stack.append(c.name)
        targets[node.name] = found
    feeders: dict[str, list[str]] = {}
    for name, found in targets.items():
        for t in found:
            feeders.setdefault(t.name, []).append(name)
    cuba = (ir.CubaLIF, ir.CubaLI)
    updates: dict[str, int] = {}
    for name, found in targets.items():
        u = 0 if found else 1
        for t in found:
            if max(feeders[t.name], key=order.__getitem__) != name:
                continue  # charged to the last synaptic layer into these neurons
            biased = np.any(np.asarray(getattr(t, "bias", 0.0)) != 0) or any(
                getattr(net.node(f), "bias", None) is not None and np.any(net.node(f).bias != 0)
                for f in feeders[t.name])
            u += (2 if isinstance(t, cuba) else 1) + int(biased)
        updates[name] = u
    channels = {name: (s[0] if len(s := net.shape(name)) > 1 else math.prod(s)) for name in targets}
    registers = sum(math.prod(net.shape(n.name)) for n in net.nodes if isinstance(n, cuba))
    delayed = {True: 0, False: 0}
    for n in net.nodes:
        if isinstance(n, ir.Delay):
            src = net.node(n.inputs[0])
            delayed[bool(src.is_neuron and src.spiking)] += n.steps * math.prod(n.shape)
    return NetworkCosts(channels, updates, registers, delayed[True], delayed[False])


def _loads(ops: np.ndarray, owner: np.ndarray, active: int) -> np.ndarray:
    """Load of every PE that owns a unit, per (t, n): the units' ``ops`` summed by owner."""
    T, N, units = ops.shape
    if np.array_equal(owner, _round_robin(units, active)):  # a reshape sums it without sorting, 3× faster
        pad = (-units) % active
        if pad:
            ops = np.concatenate([ops, np.zeros((T, N, pad), ops.dtype)], axis=2)
        return ops.reshape(T, N, -1, active).sum(axis=2, dtype=np.float64)
    order = np.argsort(owner, kind="stable")
    sorted_owner = owner[order]
    starts = np.flatnonzero(np.r_[True, sorted_owner[1:] != sorted_owner[:-1]])
    return np.add.reduceat(ops[..., order].astype(np.float64, copy=False), starts, axis=-1)


def _channel_of(layer, costs: NetworkCosts, granularity: str) -> np.ndarray:
    """The output channel of each work unit (without the network, a neuron-granular layer is
    taken as one channel: every PE using it holds all its weights)."""
    units = layer.ops.shape[2]
    if granularity == "channel":
        return np.arange(units)
    channels = costs.channels.get(layer.name, 1)
    return np.arange(units) // max(1, units // channels)


def _weight_bits(layer, owner: np.ndarray, channel: np.ndarray, channels: int, hw: AcceleratorSpec) -> int:
    """Weights stored on chip for one layer: each channel's kernel once per PE owning a unit of it."""
    copies = np.unique(owner.astype(np.int64) * channels + channel).size
    return round(layer.parameters * hw.weight_bits * copies / channels)


def _work(layer, hw: AcceleratorSpec, updates: int) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: its state updates per step, and its cycles over the profile (operations / r plus
    updates / r_u: what the balanced assignments sort by)."""
    T, N, _ = layer.ops.shape
    neurons = layer.neurons_per_unit.astype(np.float64) * updates
    work = layer.ops.sum(axis=(0, 1), dtype=np.float64) / hw.ops_per_cycle_per_pe + \
        T * N * neurons / hw.neuron_updates_per_cycle_per_pe
    return neurons, work


def _layer_cycles(layer, hw: AcceleratorSpec, memory_cycles: float, updates: int
                  ) -> tuple[np.ndarray, dict[str, Any]]:
    ops = layer.ops
    units = ops.shape[2]
    assignment = hw.assignment
    neurons, work = _work(layer, hw, updates)
    dispatch = layer.events.astype(np.float64) * hw.event_dispatch_cycles
    best = None
    for active in range(1, min(hw.pes, units) + 1):
        for owner in assignment.candidates(work, active):
            load = _loads(ops, owner, active).max(axis=-1)
            upd = float(np.bincount(owner, neurons, minlength=active).max())
            compute = np.ceil(load / hw.ops_per_cycle_per_pe) + math.ceil(upd / hw.neuron_updates_per_cycle_per_pe)
            cycles = np.maximum(np.maximum(compute, dispatch), memory_cycles) + hw.layer_overhead_cycles
            total = float(cycles.sum())
            if best is None or total < best[0]:
                best = (total, active, cycles, compute, load)
    _, active, cycles, compute, load = best
    mean_load = ops.sum(dtype=np.float64) / active
    imbalance = float(load.sum() / mean_load) if mean_load > 0 else 1.0
    terms = {"compute": float(compute.sum()), "dispatch": float(dispatch.sum()),
             "memory": memory_cycles * cycles.size}
    return cycles, {"active": active, "imbalance": imbalance, "terms": terms,
                    "bound": max(terms, key=terms.get)}


def _on_chip_bits(trace: ActivityTrace, hw: AcceleratorSpec, costs: NetworkCosts, neurons: int) -> int:
    """Weights (with the assignment's kernel copies), owner tables, membrane and current registers and
    delay buffers, at each layer's largest PE count (an upper bound: the mapper may use fewer)."""
    assignment = hw.assignment
    bits = (neurons + costs.registers + costs.delayed_values) * hw.membrane_bits + costs.delayed_spikes
    for layer in trace.layers:
        units = layer.ops.shape[2]
        active = min(hw.pes, units)
        channel = _channel_of(layer, costs, assignment.granularity)
        channels = int(channel[-1]) + 1 if units else 1
        _, work = _work(layer, hw, costs.updates.get(layer.name, 1))
        bits += max(_weight_bits(layer, owner, channel, channels, hw)
                    for owner in assignment.candidates(work, active))
        bits += assignment.table_bits(units, active)
    return int(bits)


@public
def accelerator_report(trace: ActivityTrace, hw: AcceleratorSpec | str | os.PathLike, *, input_bits: int = 8,
                       neurons: int | None = None, costs: NetworkCosts | None = None) -> AcceleratorReport:
    """Evaluate a recorded trace (:class:`~spikeforge.quantize.SpikeTrace`) on an accelerator.

    Parameters
    ----------
    trace : ActivityTrace
    hw : AcceleratorSpec or str
    input_bits : int
        Bits per input value loaded from DRAM per inference.
    neurons : int, optional
        Neurons whose membrane state is kept on chip (default: the layers' output neurons).
    costs : NetworkCosts, optional
        The network's dynamics (:func:`network_costs`); default: one state update per output
        neuron and step, no extra registers or delay buffers, and for a neuron-granular trace
        every PE using a layer holds all its weights.

    Raises
    ------
    InvalidHardwareSpecError
        ``hw`` is not a valid spec.
    InvalidDataError
        The trace is empty, its arrays disagree in shape, or its granularity is not the one
        ``hw.distribution`` reads.
    """
    hw = load_accelerator(hw)
    costs = NetworkCosts() if costs is None else costs
    if trace.granularity != hw.assignment.granularity:
        raise InvalidDataError(f"trace of {trace.network}: recorded per {trace.granularity}, but distribution "
                               f"{hw.distribution!r} assigns {hw.assignment.granularity}s")
    if not trace.layers:
        raise InvalidDataError(f"trace of {trace.network}: no synaptic layers to run")
    for layer in trace.layers:
        if layer.ops.ndim != 3 or layer.ops.shape[:2] != (trace.timesteps, trace.samples) or \
                layer.events.shape != (trace.timesteps, trace.samples) or \
                layer.neurons_per_unit.shape != (layer.ops.shape[2],):
            raise InvalidDataError(f"trace layer {layer.name}: ops {layer.ops.shape}, events {layer.events.shape} "
                                   f"do not match {trace.timesteps} timesteps × {trace.samples} samples")
    if neurons is None:
        neurons = int(sum(layer.neurons_per_unit.sum() for layer in trace.layers))
    needed = _on_chip_bits(trace, hw, costs, neurons)
    fits = needed <= hw.on_chip_memory_kib * 8192
    bytes_per_cycle = hw.off_chip_bandwidth_gb_s * 1e9 / hw.clock_hz
    per_sample = np.zeros(trace.samples)
    layers = []
    for layer in trace.layers:
        memory = 0.0 if fits else math.ceil(layer.parameters * hw.weight_bits / 8 / bytes_per_cycle)
        cycles, info = _layer_cycles(layer, hw, memory, costs.updates.get(layer.name, 1))
        per_sample += cycles.sum(axis=0)
        n = trace.samples
        layers.append(AcceleratorLayer(
            layer.name, layer.kind, layer.input_kind, float(layer.ops.sum(dtype=np.float64)) / n,
            float(layer.events.sum()) / n, float(cycles.sum()) / n, info["terms"]["compute"] / n,
            info["terms"]["dispatch"] / n, info["terms"]["memory"] / n, info["active"], info["imbalance"],
            info["bound"]))
    input_cycles = float(math.ceil(trace.input_elements * input_bits / 8 / bytes_per_cycle))
    per_sample += input_cycles
    cycles = float(per_sample.mean())
    latency = cycles / hw.clock_hz
    ops = trace.ops / trace.samples
    gops = ops / latency / 1e9 if latency > 0 else 0.0
    assumptions = (
        "one synaptic accumulate (event × synapse, analog inputs included) = one operation",
        "layers in sequence per timestep, one inference at a time; busiest PE sets each layer's time",
        (f"active PEs per layer chosen on this trace; units assigned by {hw.distribution!r} "
         "(owner tables and kernel copies held on chip)"),
        "one state update per register and neuron and step, one more with a bias current",
        "energy = board power × latency (estimate; the power was measured by the paper at its load)",
        "weights and membrane state stay on chip when they fit, else weights stream from DRAM every timestep",
    )
    return AcceleratorReport(
        hw.name, trace.network, trace.timesteps, trace.samples, hw.pes, hw.clock_mhz, hw.peak_gops, ops, cycles,
        float(per_sample.max()), latency, gops, gops / hw.peak_gops, gops / hw.pes, gops / hw.dsp_slices,
        gops / hw.power_w, hw.power_w, hw.power_w * latency, input_cycles, needed, bool(fits), tuple(layers),
        hw.reference, assumptions)
