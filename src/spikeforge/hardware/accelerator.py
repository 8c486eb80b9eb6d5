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
accumulate is one operation**, ``ops_per_cycle_per_pe`` of them per cycle per PE. Output
channels (or single neurons, ``distribution = "neuron"``) are dealt round-robin to the
layer's active PEs; after the events, each PE updates its neurons (threshold, reset) at
``neuron_updates_per_cycle_per_pe``. Per layer, timestep and sample

.. math::
    c_{l,t} = \max\!\Big(\Big\lceil \tfrac{\max_p \mathrm{ops}_{p}}{r} \Big\rceil
              + \Big\lceil \tfrac{\max_p \mathrm{neurons}_{p}}{r_u} \Big\rceil,\;
              d\,E_{l,t},\; M_l\Big) + o

— the busiest PE sets the layer time; event dispatch (:math:`d` cycles per event,
:math:`E` events) and weight streaming (:math:`M_l` cycles, only when weights and membrane
state exceed on-chip memory, at ``off_chip_bandwidth_gb_s``) overlap with the accumulation;
:math:`o` = ``layer_overhead_cycles`` is a per-layer barrier. The number of active PEs per
layer is chosen by the mapper, profile-guided, as the count in 1..``pes`` that minimises the
layer's cycles on the trace, so adding PEs never makes a trace slower. The input image is
loaded from DRAM once per inference.

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

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from spikeforge.api import public
from spikeforge.errors import InvalidDataError, InvalidHardwareSpecError
from spikeforge.hardware.spec import presets, read_spec
from spikeforge.ir.hardware import MAX_COUNT, MAX_QUANTITY

__all__ = [
    "AcceleratorLayer",
    "AcceleratorReport",
    "AcceleratorSpec",
    "ActivityTrace",
    "LayerActivity",
    "ReferenceFigures",
    "accelerator_report",
    "list_accelerator_presets",
    "load_accelerator",
]


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
    distribution: Literal["channel", "neuron"] = "channel"
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
                 ("power_w", self.power_w > 0, "must be > 0"))
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


def _busiest(ops: np.ndarray, active: int) -> np.ndarray:
    """Busiest PE's load per (t, n) when units are dealt round-robin over ``active`` PEs."""
    T, N, U = ops.shape
    pad = (-U) % active
    if pad:
        ops = np.concatenate([ops, np.zeros((T, N, pad), ops.dtype)], axis=2)
    return ops.reshape(T, N, -1, active).sum(axis=2, dtype=np.float64).max(axis=2)


def _layer_cycles(layer, hw: AcceleratorSpec, memory_cycles: float) -> tuple[np.ndarray, dict[str, Any]]:
    ops = layer.ops
    units = ops.shape[2]
    neurons = layer.neurons_per_unit.astype(np.float64)[None, None, :]
    dispatch = layer.events.astype(np.float64) * hw.event_dispatch_cycles
    best = None
    for active in range(1, min(hw.pes, units) + 1):
        load = _busiest(ops, active)
        upd = float(_busiest(neurons, active).max())
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


@public
def accelerator_report(trace: ActivityTrace, hw: AcceleratorSpec | str | os.PathLike, *, input_bits: int = 8,
                       neurons: int | None = None) -> AcceleratorReport:
    """Evaluate a recorded trace (:class:`~spikeforge.quantize.SpikeTrace`) on an accelerator.

    Parameters
    ----------
    trace : ActivityTrace
    hw : AcceleratorSpec or str
    input_bits : int
        Bits per input value loaded from DRAM per inference.
    neurons : int, optional
        Neurons whose membrane state is kept on chip (default: the layers' output neurons).

    Raises
    ------
    InvalidHardwareSpecError
        ``hw`` is not a valid spec.
    InvalidDataError
        The trace is empty or its arrays disagree in shape.
    """
    hw = load_accelerator(hw)
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
    weight_bits = sum(layer.parameters for layer in trace.layers) * hw.weight_bits
    needed = int(weight_bits + neurons * hw.membrane_bits)
    fits = needed <= hw.on_chip_memory_kib * 8192
    bytes_per_cycle = hw.off_chip_bandwidth_gb_s * 1e9 / hw.clock_hz
    per_sample = np.zeros(trace.samples)
    layers = []
    for layer in trace.layers:
        memory = 0.0 if fits else math.ceil(layer.parameters * hw.weight_bits / 8 / bytes_per_cycle)
        cycles, info = _layer_cycles(layer, hw, memory)
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
        f"active PEs per layer chosen on this trace (round-robin {hw.distribution}s)",
        "energy = board power × latency (estimate; the power was measured by the paper at its load)",
        "weights and membrane state stay on chip when they fit, else weights stream from DRAM every timestep",
    )
    return AcceleratorReport(
        hw.name, trace.network, trace.timesteps, trace.samples, hw.pes, hw.clock_mhz, hw.peak_gops, ops, cycles,
        float(per_sample.max()), latency, gops, gops / hw.peak_gops, gops / hw.pes, gops / hw.dsp_slices,
        gops / hw.power_w, hw.power_w, hw.power_w * latency, input_cycles, needed, bool(fits), tuple(layers),
        hw.reference, assumptions)
