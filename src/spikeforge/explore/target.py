"""What co-design needs of a hardware target, crossbar chip or accelerator alike.

A :class:`Target` names the hardware size a sweep varies (:attr:`Target.axis`: the PE count of an
accelerator, the crossbar size of a crossbar chip), records the activity its model reads from
each (weight bits, timesteps) simulation (:meth:`Target.record`), and evaluates a design point
on that activity (:meth:`Target.evaluate`). :func:`~spikeforge.explore.codesign.sweep` only talks
to this interface; the two kinds differ only in their implementations:

* :class:`AcceleratorTarget` — the spike trains of the integer run that scores the point
  (:func:`~spikeforge.quantize.simulate_integer` with ``trace=``) go through the cycle-approximate
  PE-array model
  (:func:`~spikeforge.hardware.accelerator.accelerator_report`);
* :class:`CrossbarTarget` — the activity profile drives the compile pipeline (partition → place →
  SDFG → guaranteed latency and event energy).

It sits in :mod:`spikeforge.explore`, not :mod:`spikeforge.hardware`, because evaluating a
crossbar design point runs the compile pipeline, far above the hardware layer.
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from spikeforge.api import public
from spikeforge.errors import DesignSpaceError, InvalidHardwareSpecError
from spikeforge.explore.cache import Simulated
from spikeforge.hardware.accelerator import (
    ASSIGNMENTS,
    AcceleratorSpec,
    NetworkCosts,
    accelerator_report,
    network_costs,
)
from spikeforge.hardware.target import load_target
from spikeforge.ir import network as ir
from spikeforge.ir.hardware import Hardware
from spikeforge.mapping.partition import TilesPartitioner
from spikeforge.mapping.place import DEFAULT_PLACER
from spikeforge.pipeline import analyse_pass, dataflow_pass, partition_pass, place_pass
from spikeforge.quantize import QuantizedNetwork, simulate_integer
from spikeforge.resources import check_count
from spikeforge.sim.simulator import simulate

__all__ = [
    "AcceleratorTarget",
    "CrossbarTarget",
    "DesignPoint",
    "Evaluation",
    "Target",
    "as_target",
    "crossbar_variant",
]

#: The sweep argument that sizes each kind of hardware, and what it sizes (for messages).
AXES = {"pes": "PE array", "crossbar_sizes": "crossbars"}

#: More hardware axes per kind of target: name → (short label, check of one value).
KNOBS: dict[str, dict[str, tuple[str, Callable[[str, object], object]]]] = {}


def _number(low: float, strict: bool) -> Callable[[str, object], float]:
    def check(name: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or \
                not np.isfinite(value) or (value <= low if strict else value < low):
            raise InvalidHardwareSpecError(f"{name} = {value!r}: must be a number {'>' if strict else '≥'} {low:g}")
        return float(value)
    return check


def _placer(name: str, value: object) -> str:
    from spikeforge.mapping.place import PLACERS

    PLACERS.get(str(value))  # UnknownStrategyError names the choices
    return str(value)


def _assignment(name: str, value: object) -> str:
    ASSIGNMENTS.get(str(value))  # UnknownStrategyError names the choices
    return str(value)


KNOBS["accelerator"] = {"ops_per_cycle_per_pe": ("acc/cyc", _number(0, True)),
                        "event_dispatch_cycles": ("disp", _number(0, False)),
                        "on_chip_memory_kib": ("KiB", _number(0, False)),
                        "distribution": ("", _assignment)}
KNOBS["crossbar"] = {"placer": ("", _placer)}


@dataclass(frozen=True)
class DesignPoint:
    """One configuration: weight bits, timesteps and the swept hardware parameter.

    ``pes`` is set for accelerator targets, ``crossbar_size`` for crossbar targets (None: the
    preset's own crossbars).
    """

    weight_bits: int
    timesteps: int
    pes: int | None = None
    crossbar_size: int | None = None
    knobs: tuple[tuple[str, object], ...] = ()  # more hardware fields (KNOBS), sorted by name

    @property
    def label(self) -> str:
        """Short name, e.g. ``'4b T8 64PE'``, ``'8b T4 128x'`` or ``'8b T8 64PE acc/cyc=12'``."""
        hw = "" if self.pes is None and self.crossbar_size is None else \
            (f" {self.pes}PE" if self.pes is not None else f" {self.crossbar_size}x")
        extra = "".join(f" {k}={v:g}" if isinstance(v, float) else f" {v}" for k, v in self.knobs)
        return f"{self.weight_bits}b T{self.timesteps}{hw}{extra}"


@dataclass(frozen=True)
class Evaluation:
    """Figures of one :class:`DesignPoint` (per inference, averaged over the sweep's samples).

    Attributes
    ----------
    accuracy : float
        Top-1 accuracy of the integer network, 0..1.
    latency_s, energy_j : float
        Latency and energy (estimate) of one inference.
    synops : float
        Synaptic operations per inference (spike-driven plus analog input MACs).
    effective_gops : float or None
        Accelerator targets: operations / latency.
    crossbars : int or None
        Crossbar targets: crossbars used.
    """

    point: DesignPoint
    accuracy: float
    latency_s: float
    energy_j: float
    synops: float
    effective_gops: float | None = None
    crossbars: int | None = None

    @property
    def pes(self) -> int | None:
        """The point's PE count (an objective to minimise when hardware cost matters)."""
        return self.point.pes


def check_axis(name: str, values: Sequence[int] | None, check: Callable[[str, object], int]) -> tuple[int, ...]:
    """``values`` of the sweep axis ``name``, each checked by ``check``.

    Raises
    ------
    DesignSpaceError
        None or no values, or a value given twice (``check`` raises for a bad value).
    """
    if values is None:
        raise DesignSpaceError(f"{name}: none given; give at least one value")
    values = list(values)
    if not values:
        raise DesignSpaceError(f"{name}: empty list; give at least one value")
    checked = tuple(check(f"{name}[{i}]", v) for i, v in enumerate(values))
    dupes = sorted({v for v in checked if checked.count(v) > 1})
    if dupes:
        raise DesignSpaceError(f"{name}: {', '.join(map(str, dupes))} given more than once")
    return checked


def positive(error: type[Exception]) -> Callable[[str, object], int]:
    """A check for :func:`check_axis`: an integer ≥ 1, else ``error``."""
    def check(name: str, value: object) -> int:
        return check_count(value, name, error=error)
    return check


class Target(ABC):
    """A hardware target as co-design sees it (see the module docstring).

    Attributes
    ----------
    spec : Hardware or AcceleratorSpec
        The hardware; its JSON form keys the cached figures.
    kind : 'accelerator' or 'crossbar'
    axis : str
        The sweep argument holding the hardware sizes (``pes`` or ``crossbar_sizes``).
    """

    spec: Hardware | AcceleratorSpec
    kind: ClassVar[Literal["accelerator", "crossbar"]]
    axis: ClassVar[str]
    noun: ClassVar[str]
    #: Whether :meth:`evaluate` reads the quantised network (else a cached run suffices).
    needs_network: ClassVar[bool]

    def knob_axes(self, knobs: dict[str, Sequence[object]]) -> dict[str, tuple[object, ...]]:
        """The extra hardware axes (:data:`KNOBS`) to sweep, checked, sorted by name.

        Raises
        ------
        DesignSpaceError
            A name this kind of target has no knob for; an empty or repeating list.
        InvalidHardwareSpecError
            A value out of range (e.g. ``ops_per_cycle_per_pe`` ≤ 0).
        """
        allowed = KNOBS[self.kind]
        axes = {}
        for name in sorted(knobs):
            if name not in allowed:
                raise DesignSpaceError(f"hardware axis {name!r}: {self.label} has none; use "
                                       f"{', '.join(sorted(allowed)) or 'none'}")
            axes[name] = check_axis(name, knobs[name], allowed[name][1])
        return axes

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        """``'accelerator pynq-z2-accel'``, ``'crossbar chip xbar-mesh'``."""
        return f"{self.noun} {self.name}"

    @property
    @abstractmethod
    def default_size(self) -> int | None:
        """The size swept when the sweep gives none: the spec's own."""

    @property
    @abstractmethod
    def activity(self) -> str:
        """What :meth:`record` keeps of a run by default (part of the simulation's cache key)."""

    def activity_of(self, point: DesignPoint) -> str:
        """What :meth:`evaluate` needs recorded for ``point`` (a knob may ask for another activity)."""
        return self.activity

    def sizes(self, **axes: Sequence[int] | None) -> tuple[int | None, ...]:
        """The hardware sizes to sweep, from the sweep's size arguments (``pes=``, ``crossbar_sizes=``).

        Raises
        ------
        DesignSpaceError
            Sizes given for the other kind of hardware; an empty or repeating list.
        InvalidHardwareSpecError
            A size that is not an integer ≥ 1.
        """
        for name, values in axes.items():
            if name != self.axis and values is not None:
                raise DesignSpaceError(f"{name}: {self.label} has no {AXES[name]}; sweep {self.axis} instead")
        values = axes.get(self.axis)
        return (self.default_size,) if values is None else \
            check_axis(self.axis, values, positive(InvalidHardwareSpecError))

    def for_network(self, net: ir.Network) -> Target:
        """This target for sweeps of ``net`` (what it reads of the network once, before any run)."""
        return self

    def point(self, weight_bits: int, timesteps: int, size: int | None,
              knobs: dict[str, object] | None = None) -> DesignPoint:
        """The design point of one size (and knob setting) of this hardware."""
        sized = {"pes": size} if self.axis == "pes" else {"crossbar_size": size}
        return DesignPoint(weight_bits, timesteps, **sized, knobs=tuple(sorted((knobs or {}).items())))

    @abstractmethod
    def record(self, q: QuantizedNetwork, x: np.ndarray, y: np.ndarray, timesteps: int,
               activity: str | None = None) -> Simulated:
        """The integer run of ``q`` on ``x``: its accuracy on labels ``y`` and the ``activity``
        (default :attr:`activity`) :meth:`evaluate` reads."""

    @abstractmethod
    def evaluate(self, point: DesignPoint, run: Simulated, q: QuantizedNetwork | None) -> Evaluation:
        """Latency, energy and resources of ``point`` on the recorded ``run`` of ``q`` (None when
        :attr:`needs_network` is False).

        Raises
        ------
        CapacityError, InfeasibleMappingError
            The point does not fit the hardware.
        """


@dataclass(frozen=True)
class AcceleratorTarget(Target):
    """A PE-array accelerator; sizes are PE counts. ``input_bits``: bits per input value loaded.
    The activity is the trace at the granularity the point's neuron-to-PE assignment reads
    (``channel`` or ``neuron``); ``costs`` are those of the network's dynamics
    (:func:`~spikeforge.hardware.accelerator.network_costs`, set by :meth:`for_network`; read from
    the float SNN: the structure and which layers have a bias, the same at every bit-width)."""

    spec: AcceleratorSpec
    input_bits: int = 8
    costs: NetworkCosts | None = None
    kind: ClassVar[Literal["accelerator"]] = "accelerator"
    axis: ClassVar[str] = "pes"
    noun: ClassVar[str] = "accelerator"
    needs_network: ClassVar[bool] = False

    @property
    def default_size(self) -> int:
        return self.spec.pes

    @property
    def activity(self) -> str:
        return self.spec.assignment.granularity

    def for_network(self, net: ir.Network) -> AcceleratorTarget:
        return dataclasses.replace(self, costs=network_costs(net))

    def activity_of(self, point: DesignPoint) -> str:
        return ASSIGNMENTS.get(str(dict(point.knobs).get("distribution", self.spec.distribution))).granularity

    def record(self, q: QuantizedNetwork, x: np.ndarray, y: np.ndarray, timesteps: int,
               activity: str | None = None) -> Simulated:
        run = simulate_integer(q, x, timesteps, trace=activity or self.activity)  # one run: accuracy and trace
        return Simulated(q.weight_bits, timesteps, run.accuracy(y), trace=run.trace)

    def evaluate(self, point: DesignPoint, run: Simulated, q: QuantizedNetwork | None) -> Evaluation:
        spec = self.spec.replace(pes=point.pes, weight_bits=point.weight_bits, **dict(point.knobs))
        r = accelerator_report(run.trace, spec, input_bits=self.input_bits, costs=self.costs)
        return Evaluation(point, run.accuracy, r.latency_s, r.energy_per_inference_j, r.ops_per_inference,
                          effective_gops=r.effective_gops)


@dataclass(frozen=True)
class CrossbarTarget(Target):
    """A crossbar chip; sizes are crossbar rows = columns (None: the chip's own), mapped with
    ``partitioner`` and ``placer``."""

    spec: Hardware
    partitioner: str = TilesPartitioner.name
    placer: str = DEFAULT_PLACER
    kind: ClassVar[Literal["crossbar"]] = "crossbar"
    axis: ClassVar[str] = "crossbar_sizes"
    noun: ClassVar[str] = "crossbar chip"
    needs_network: ClassVar[bool] = True

    @property
    def default_size(self) -> None:
        return None

    @property
    def activity(self) -> str:
        return "profile"

    def record(self, q: QuantizedNetwork, x: np.ndarray, y: np.ndarray, timesteps: int,
               activity: str | None = None) -> Simulated:
        # The saturating integer run scores; the profile (events per layer) comes from the simulator's counters.
        profile = simulate(q.network, q.quantize_input(x), timesteps=timesteps, integer=True).profile
        return Simulated(q.weight_bits, timesteps, simulate_integer(q, x, timesteps).accuracy(y), profile=profile)

    def evaluate(self, point: DesignPoint, run: Simulated, q: QuantizedNetwork | None) -> Evaluation:
        placer = str(dict(point.knobs).get("placer", self.placer))
        hw = self.spec if point.crossbar_size is None else crossbar_variant(self.spec, point.crossbar_size)
        hw = hw.replace(**{"precision.weight_bits": point.weight_bits})
        profile = run.profile
        part = partition_pass(q.network, profile, hw, self.partitioner)
        chips = max(hw.chips, -(-part.n_clusters // hw.crossbars_per_chip))
        placement = place_pass(part, hw, placer, chips, None)
        _, schedule, graph, platform = dataflow_pass(placement, profile, hw, "in-order", None)
        g, figures = analyse_pass(graph, placement, profile, schedule, platform, point.timesteps)
        synops = profile.synops_per_sample + profile.input_macs_per_sample
        return Evaluation(point, run.accuracy, g.latency_ns * 1e-9, figures["energy_per_inference_j"], synops,
                          crossbars=int(figures["resources"]["crossbars"]))


@public
def as_target(hardware: str | os.PathLike[str] | AcceleratorSpec | Hardware, *, input_bits: int = 8,
              partitioner: str = TilesPartitioner.name, placer: str = DEFAULT_PLACER) -> Target:
    """The co-design target of a crossbar chip or an accelerator, by preset name, TOML file or value
    (:func:`~spikeforge.hardware.target.load_target`).

    ``input_bits`` is used by accelerators, ``partitioner`` and ``placer`` by crossbar chips.

    Raises
    ------
    InvalidHardwareSpecError
        Neither a preset nor a readable, valid TOML file of either kind.

    Examples
    --------
    >>> as_target("pynq-z2-accel").label, as_target("xbar-mesh").sizes(crossbar_sizes=[64, 128])
    ('accelerator pynq-z2-accel', (64, 128))
    """
    spec = load_target(hardware)
    if isinstance(spec, AcceleratorSpec):
        return AcceleratorTarget(spec, input_bits)
    return CrossbarTarget(spec, partitioner, placer)


@public(own_checks="size")
def crossbar_variant(hw: Hardware, size: int) -> Hardware:
    """``hw`` with ``size`` × ``size`` crossbars; per-core limits scale with the crossbar.

    Neuron slots per core keep their share of the columns, a fan-in limit equal to the rows
    follows the rows, and an explicit synapse memory scales with the crosspoints.

    Raises
    ------
    InvalidHardwareSpecError
        ``size`` is not an integer ≥ 1.

    Examples
    --------
    >>> from spikeforge.hardware import load_hardware
    >>> hw = crossbar_variant(load_hardware("xbar-mesh"), 256)
    >>> hw.core.crossbar_rows, hw.core.neurons_per_core, hw.core.max_fan_in_per_neuron
    (256, 256, 256)
    """
    size = check_count(size, f"{hw.name}: crossbar size", error=InvalidHardwareSpecError)
    c = hw.core
    core = {"crossbar_rows": size, "crossbar_columns": size,
            "neurons_per_core": max(1, round(c.neurons_per_core * size / c.crossbar_columns))}
    if c.max_fan_in_per_neuron == c.crossbar_rows:
        core["max_fan_in_per_neuron"] = size
    if c.synapse_memory_bits is not None:
        area = size * size / (c.crossbar_rows * c.crossbar_columns)
        core["synapse_memory_bits"] = max(1, round(c.synapse_memory_bits * area))
    return hw.replace(name=f"{hw.name}-x{size}", core=core)
