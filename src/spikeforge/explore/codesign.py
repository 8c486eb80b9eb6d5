r"""Hardware–software co-design search: weight bits × timesteps × hardware size → Pareto front.

A design point fixes the signed weight bit-width :math:`B_w`, the timesteps :math:`T` and one
hardware parameter: the PE count :math:`P` of an event-driven accelerator
(:mod:`spikeforge.hardware.accelerator`), or the crossbar size :math:`n` (rows = columns) of
a crossbar chip (:mod:`spikeforge.ir.hardware`). Each point is evaluated on the same data:

* **accuracy** — top-1 of the integer network (:func:`~spikeforge.quantize.quantize` at
  :math:`B_w`, then :func:`~spikeforge.quantize.simulate_integer` for :math:`T` steps, binary
  spikes);
* **latency and energy per inference** — on an accelerator, from the real spike trains
  (:func:`~spikeforge.quantize.record_trace` →
  :func:`~spikeforge.hardware.accelerator.accelerator_report` with ``pes`` = :math:`P` and the
  spec's ``weight_bits`` = :math:`B_w`), :math:`E = P_\mathrm{board}\,t_\mathrm{lat}`; on a
  crossbar chip, from the mapping and the dataflow analysis of the compile pipeline
  (partition → place → SDFG → guaranteed latency and event energy, with
  ``precision.weight_bits`` = :math:`B_w`).

Neither hardware parameter changes what the integer network computes, so the activity of a
(:math:`B_w`, :math:`T`) pair is simulated **once** and reused for every :math:`P` or :math:`n`
(:class:`~spikeforge.explore.cache.SimulationCache`; optionally on disk across runs). A sweep of
:math:`|B| \times |T| \times |P|` points runs :math:`|B| \times |T|` simulations.

The front keeps the points no other point dominates (:func:`pareto_front`): :math:`a`
dominates :math:`b` when :math:`a` is at least as good in every objective (higher accuracy,
lower latency, lower energy) and strictly better in one.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from spikeforge.api import ArrayLike, public
from spikeforge.errors import (
    CapacityError,
    DesignSpaceError,
    InfeasibleMappingError,
    InvalidDataError,
    InvalidHardwareSpecError,
    QuantizationError,
    SimulationError,
)
from spikeforge.explore.cache import (
    Simulated,
    SimulationCache,
    fingerprint,
    network_fingerprint,
)
from spikeforge.hardware.accelerator import (
    AcceleratorSpec,
    accelerator_report,
    list_accelerator_presets,
    load_accelerator,
)
from spikeforge.hardware.spec import list_presets, load_hardware
from spikeforge.ir import network as ir
from spikeforge.ir.hardware import Hardware
from spikeforge.quantize import (
    QuantizedNetwork,
    check_bits,
    quantize,
    record_trace,
    simulate_integer,
)
from spikeforge.sim.simulator import check_labels

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "OBJECTIVES",
    "DesignPoint",
    "Evaluation",
    "SweepResult",
    "crossbar_variant",
    "load_target",
    "pareto_front",
    "pareto_mask",
    "sweep",
]

#: Default objectives: (Evaluation attribute, "max" or "min").
OBJECTIVES: tuple[tuple[str, str], ...] = (("accuracy", "max"), ("latency_s", "min"), ("energy_j", "min"))


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

    @property
    def label(self) -> str:
        """Short name, e.g. ``'4b T8 64PE'`` or ``'8b T4 128x'``."""
        hw = "" if self.pes is None and self.crossbar_size is None else \
            (f" {self.pes}PE" if self.pes is not None else f" {self.crossbar_size}x")
        return f"{self.weight_bits}b T{self.timesteps}{hw}"


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


@dataclass(frozen=True)
class SweepResult:
    """All evaluations of a sweep, its Pareto front and what it cost.

    ``simulations`` counts the integer simulations run (cache misses), ``cache_hits`` the
    (bits, T) pairs served from the cache; ``simulations + cache_hits`` is the number of pairs.
    ``evaluated`` counts the points the hardware model computed (the rest came from the cache).
    ``infeasible`` lists the points the hardware cannot hold (e.g. crossbars too small for a
    layer's fan-in), with the reason; they are a result of the search, not an error.
    """

    network: str
    hardware: str
    target: Literal["accelerator", "crossbar"]
    samples: int
    evaluations: tuple[Evaluation, ...]
    front: tuple[Evaluation, ...]
    simulations: int
    cache_hits: int
    evaluated: int
    seconds: float
    infeasible: tuple[tuple[DesignPoint, str], ...] = ()


@public
def pareto_mask(values: ArrayLike, maximize: ArrayLike) -> np.ndarray:
    r"""Which rows of ``values`` no other row dominates.

    Row :math:`a` dominates row :math:`b` when, with every minimised column negated,
    :math:`a_k \ge b_k` for all :math:`k` and :math:`a_k > b_k` for some :math:`k`. Equal rows
    do not dominate each other, so duplicates of a front row are all on the front.

    Parameters
    ----------
    values : array-like (n, k)
        One row per point, one column per objective; finite numbers (±inf allowed).
    maximize : sequence of k bools
        True for a column to maximise, False to minimise.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)

    Raises
    ------
    InvalidDataError
        ``values`` is not 2-D, holds NaN, or has a column count other than ``len(maximize)``.

    Examples
    --------
    >>> pareto_mask([[0.9, 2.0], [0.8, 1.0], [0.7, 3.0], [0.9, 2.0]], maximize=[True, False]).tolist()
    [True, True, False, True]
    """
    v = np.asarray(values, dtype=np.float64)
    signs = np.where(np.asarray(maximize, dtype=bool), 1.0, -1.0)
    if v.ndim != 2 or v.shape[1] != signs.size:
        raise InvalidDataError(f"pareto values: shape {v.shape}, expected (n, {signs.size}) for "
                               f"{signs.size} objectives")
    if np.isnan(v).any():
        raise InvalidDataError(f"pareto values: {int(np.isnan(v).any(axis=1).sum())} of {v.shape[0]} rows hold NaN")
    g = v * signs
    mask = np.ones(v.shape[0], dtype=bool)
    for i in range(v.shape[0]):  # O(n² k) time, O(n k) memory
        mask[i] = not bool(np.any(np.all(g >= g[i], axis=1) & np.any(g > g[i], axis=1)))
    return mask


@public
def pareto_front(evaluations: Iterable[Evaluation], objectives: Sequence[tuple[str, str]] = OBJECTIVES
                 ) -> tuple[Evaluation, ...]:
    """The evaluations no other one dominates, in their given order.

    Parameters
    ----------
    evaluations : iterable of Evaluation
    objectives : sequence of (attribute, 'max' | 'min')
        Default :data:`OBJECTIVES`: maximise accuracy, minimise latency and energy.

    Returns
    -------
    tuple of Evaluation

    Raises
    ------
    DesignSpaceError
        No objectives, an objective names no numeric attribute of :class:`Evaluation`, or a
        sense other than 'max' / 'min'.
    InvalidDataError
        An objective value is NaN or missing (e.g. ``pes`` of a crossbar design).

    Examples
    --------
    >>> e = [Evaluation(DesignPoint(8, 8, 64), 0.98, 2e-5, 3e-5, 1e5),
    ...      Evaluation(DesignPoint(4, 4, 64), 0.95, 1e-5, 2e-5, 5e4),
    ...      Evaluation(DesignPoint(2, 8, 64), 0.90, 2e-5, 3e-5, 9e4)]
    >>> [x.point.label for x in pareto_front(e)]
    ['8b T8 64PE', '4b T4 64PE']
    """
    items = list(evaluations)
    if not objectives:
        raise DesignSpaceError("objectives: empty; give at least one (attribute, 'max'|'min')")
    numeric = {"accuracy", "latency_s", "energy_j", "synops", "effective_gops", "crossbars", "pes"}
    for name, sense in objectives:
        if name not in numeric:
            raise DesignSpaceError(f"objective {name!r}: not an Evaluation figure; use one of "
                                   f"{', '.join(sorted(numeric))}")
        if sense not in ("max", "min"):
            raise DesignSpaceError(f"objective {name!r}: sense {sense!r}, use 'max' or 'min'")
    if not items:
        return ()
    values = [[math.nan if getattr(e, n) is None else float(getattr(e, n)) for n, _ in objectives] for e in items]
    mask = pareto_mask(values, [s == "max" for _, s in objectives])
    return tuple(e for e, keep in zip(items, mask) if keep)


@public
def load_target(hardware: str | Path | AcceleratorSpec | Hardware) -> AcceleratorSpec | Hardware:
    """An accelerator spec or a crossbar chip, by preset name, TOML file or value.

    A TOML file with a top-level ``pes`` field is an accelerator, anything else a crossbar chip.

    Raises
    ------
    InvalidHardwareSpecError
        Neither a preset nor a readable, valid TOML file of either kind.
    """
    if isinstance(hardware, (AcceleratorSpec, Hardware)):
        return hardware
    text = str(hardware)
    if text in list_accelerator_presets():
        return load_accelerator(text)
    if text in list_presets():
        return load_hardware(text)
    path = Path(text)
    if not path.is_file():
        raise InvalidHardwareSpecError(
            f"--hw {text}: not a preset (accelerators: {', '.join(list_accelerator_presets())}; crossbar chips: "
            f"{', '.join(list_presets())}) and no such file")
    try:
        is_accelerator = "pes" in tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidHardwareSpecError(f"{text}: cannot read hardware file: {exc}") from None
    return load_accelerator(path) if is_accelerator else load_hardware(path)


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
    >>> hw = crossbar_variant(load_hardware("xbar-mesh"), 256)
    >>> hw.core.crossbar_rows, hw.core.neurons_per_core, hw.core.max_fan_in_per_neuron
    (256, 256, 256)
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise InvalidHardwareSpecError(f"{hw.name}: crossbar size {size!r}: must be an integer ≥ 1")
    c = hw.core
    size = int(size)
    core = {"crossbar_rows": size, "crossbar_columns": size,
            "neurons_per_core": max(1, round(c.neurons_per_core * size / c.crossbar_columns))}
    if c.max_fan_in_per_neuron == c.crossbar_rows:
        core["max_fan_in_per_neuron"] = size
    if c.synapse_memory_bits is not None:
        area = size * size / (c.crossbar_rows * c.crossbar_columns)
        core["synapse_memory_bits"] = max(1, round(c.synapse_memory_bits * area))
    return hw.replace(name=f"{hw.name}-x{size}", core=core)


def _axis(name: str, values: Sequence[int] | None, check: Callable[[str, object], int]) -> tuple[int, ...]:
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


def _positive(error: type[Exception]) -> Callable[[str, object], int]:
    def check(name: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise error(f"{name}={value!r}: must be an integer ≥ 1")
        return int(value)
    return check


def _check_data(net: ir.Network, x: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    x = net.check_input(x, "x")
    if labels is None:
        raise InvalidDataError(f"labels: none given; accuracy needs one label per sample ({x.shape[0]})")
    return x, check_labels(labels, x.shape[0], net.shape(net.outputs[0]))


def _evaluate_accelerator(point: DesignPoint, run: Simulated, hw: AcceleratorSpec, input_bits: int) -> Evaluation:
    spec = hw.replace(pes=point.pes, weight_bits=point.weight_bits)
    r = accelerator_report(run.trace, spec, input_bits=input_bits)
    return Evaluation(point, run.accuracy, r.latency_s, r.energy_per_inference_j, r.ops_per_inference,
                      effective_gops=r.effective_gops)


def _evaluate_crossbar(point: DesignPoint, run: Simulated, q: QuantizedNetwork, hw: Hardware,
                       partitioner: str, placer: str) -> Evaluation:
    from spikeforge.pipeline import (
        analyse_pass,
        dataflow_pass,
        partition_pass,
        place_pass,
    )

    target = hw if point.crossbar_size is None else crossbar_variant(hw, point.crossbar_size)
    target = target.replace(**{"precision.weight_bits": point.weight_bits})
    profile = run.profile
    part = partition_pass(q.network, profile, target, partitioner)
    chips = max(target.chips, -(-part.n_clusters // target.crossbars_per_chip))
    placement = place_pass(part, target, placer, chips, None)
    _, schedule, graph, platform = dataflow_pass(placement, profile, target, "in-order", None)
    g, figures = analyse_pass(graph, placement, profile, schedule, platform, point.timesteps)
    synops = profile.synops_per_sample + profile.input_macs_per_sample
    return Evaluation(point, run.accuracy, g.latency_ns * 1e-9, figures["energy_per_inference_j"], synops,
                      crossbars=int(figures["resources"]["crossbars"]))


_FIGURES = ("accuracy", "latency_s", "energy_j", "synops", "effective_gops", "crossbars")


@public(own_checks="snn bits timesteps pes crossbar_sizes input_bits")
def sweep(snn: ir.Network, x: ArrayLike, labels: ArrayLike | None,
          hardware: str | Path | AcceleratorSpec | Hardware = "pynq-z2-accel", *,
          bits: Sequence[int] = (2, 4, 8), timesteps: Sequence[int] = (2, 4, 6, 8),
          pes: Sequence[int] | None = None, crossbar_sizes: Sequence[int] | None = None,
          threshold_bits: int = 16, input_bits: int = 8, per_channel: bool = False,
          calib: ArrayLike | None = None, cache: SimulationCache | None = None,
          partitioner: str = "tiles", placer: str = "min-cut",
          quiet: bool = False, console: Console | None = None) -> SweepResult:
    """Evaluate every (bits, timesteps, hardware size) combination; see the module docstring.

    Parameters
    ----------
    snn : Network
        A converted float SNN (IF neurons).
    x : array (N, *input_shape)
        Analog inputs.
    labels : array (N,)
        Class labels for the accuracy.
    hardware : str, path, AcceleratorSpec or Hardware
        Accelerator or crossbar chip (see :func:`load_target`); default ``pynq-z2-accel``.
    bits : sequence of int
        Signed weight bit-widths, 2..8.
    timesteps : sequence of int
        Timesteps per inference, ≥ 1.
    pes : sequence of int, optional
        Accelerator targets: PE counts (default: the spec's).
    crossbar_sizes : sequence of int, optional
        Crossbar targets: crossbar rows = columns (default: the chip's own crossbars).
    threshold_bits, input_bits, per_channel, calib
        Passed to :func:`~spikeforge.quantize.quantize` (``calib`` sets the input range).
    cache : SimulationCache, optional
        Reuse simulations across sweeps (default: a fresh in-memory cache).
    partitioner, placer : str
        Crossbar targets: mapping strategies (default ``tiles``, the fast structure-aware
        partitioner, and ``min-cut``).
    quiet : bool
        No progress bar; otherwise a transient rich progress bar goes to ``console``.
    console : rich.console.Console, optional

    Returns
    -------
    SweepResult
        Evaluations ordered by (bits, T, hardware size), and their Pareto front.

    Raises
    ------
    DesignSpaceError
        An axis is empty or repeats a value; ``pes`` for a crossbar chip or ``crossbar_sizes``
        for an accelerator.
    QuantizationError
        A bit-width is not an integer in 2..8; ``snn`` is not a float SNN (an ANN, or already
        quantised); other quantisation limits (see :func:`~spikeforge.quantize.quantize`).
    SimulationError
        A timestep count is not an integer ≥ 1.
    InvalidHardwareSpecError
        A PE count or crossbar size is not an integer ≥ 1; unknown or invalid hardware.
    InvalidDataError
        ``x`` does not match the network's input, is empty, or ``labels`` are missing or of
        the wrong length.
    InfeasibleMappingError
        No design point fits the hardware (points that do not fit are otherwise listed in
        :attr:`SweepResult.infeasible`).

    Examples
    --------
    >>> import numpy as np
    >>> net = ir.Network((ir.Input("x", (), (4,)), ir.Linear("fc", ("x",), np.eye(4, dtype=np.float32)),
    ...                   ir.IF("n", ("fc",), threshold=np.float32(0.5)),
    ...                   ir.Linear("out", ("n",), np.eye(4, dtype=np.float32))), ("out",))
    >>> x = np.eye(4, dtype=np.float32)
    >>> r = sweep(net, x, np.arange(4), bits=[4, 8], timesteps=[2, 4], pes=[1, 2], quiet=True)
    >>> len(r.evaluations), r.simulations, r.evaluations[0].accuracy
    (8, 4, 1.0)
    """
    started = time.perf_counter()
    if isinstance(snn, QuantizedNetwork):
        raise QuantizationError(f"network {snn.network.name}: already quantised ({snn.weight_bits}-bit weights); "
                                f"sweep the float SNN")
    if not isinstance(snn, ir.Network):
        raise QuantizationError(f"sweep needs a converted SNN (Network), got {type(snn).__name__}")
    if snn.kind != "snn":
        raise QuantizationError(f"network {snn.name} has no spiking neurons (an ANN); convert it first")
    x, y = _check_data(snn, x, labels)
    target = load_target(hardware)
    accel = isinstance(target, AcceleratorSpec)
    bit_axis = _axis("bits", bits, lambda n, v: check_bits(n, v, 2, 8))
    t_axis = _axis("timesteps", timesteps, _positive(SimulationError))
    if accel:
        if crossbar_sizes is not None:
            raise DesignSpaceError(f"crossbar_sizes: accelerator {target.name} has no crossbars; sweep pes instead")
        hw_axis: tuple[int | None, ...] = (target.pes,) if pes is None else \
            _axis("pes", pes, _positive(InvalidHardwareSpecError))
    else:
        if pes is not None:
            raise DesignSpaceError(f"pes: crossbar chip {target.name} has no PE array; sweep crossbar_sizes instead")
        hw_axis = (None,) if crossbar_sizes is None else \
            _axis("crossbar_sizes", crossbar_sizes, _positive(InvalidHardwareSpecError))
    input_bits = check_bits("input_bits", input_bits, 1, 16)
    cache = SimulationCache() if cache is None else cache
    base = (network_fingerprint(snn), x, y, None if calib is None else np.asarray(calib), threshold_bits,
            input_bits, bool(per_channel), target.distribution if accel else "profile")
    hw_key = fingerprint(json.dumps(target.model_dump(mode="json"), sort_keys=True))
    quantized: dict[int, QuantizedNetwork] = {}

    def quantized_net(b: int) -> QuantizedNetwork:
        if b not in quantized:
            quantized[b] = quantize(snn, weight_bits=b, threshold_bits=threshold_bits, input_bits=input_bits,
                                    per_channel=per_channel, calib=calib)
        return quantized[b]

    def simulated(b: int, t: int) -> tuple[str, Simulated, bool]:
        key = fingerprint(*base, b, t)
        run = cache.get(key)
        if run is not None:
            return key, run, False
        q = quantized_net(b)
        accuracy = simulate_integer(q, x, t).accuracy(y)
        if accel:
            run = Simulated(b, t, accuracy, trace=record_trace(q, x, t, granularity=target.distribution))
        else:
            from spikeforge.sim.simulator import simulate

            profile = simulate(q.network, q.quantize_input(x), timesteps=t, integer=True).profile
            run = Simulated(b, t, accuracy, profile=profile)
        return key, cache.put(key, run), True

    def evaluated(run_key: str, run: Simulated, point: DesignPoint) -> tuple[Evaluation | str, bool]:
        """The point's figures, or the reason it does not fit; and whether it was computed now."""
        key = fingerprint(run_key, hw_key, point.pes, point.crossbar_size, partitioner, placer)
        figures = cache.get_figures(key)
        if figures is not None:
            return figures["infeasible"] if "infeasible" in figures else Evaluation(point, **figures), False
        try:
            if accel:
                e = _evaluate_accelerator(point, run, target, input_bits)
            else:
                e = _evaluate_crossbar(point, run, quantized_net(point.weight_bits), target, partitioner, placer)
        except (CapacityError, InfeasibleMappingError) as exc:
            return cache.put_figures(key, {"infeasible": str(exc)})["infeasible"], True
        cache.put_figures(key, {k: getattr(e, k) for k in _FIGURES})
        return e, True

    evaluations: list[Evaluation] = []
    infeasible: list[tuple[DesignPoint, str]] = []
    misses = hits = computed = 0
    total = len(bit_axis) * len(t_axis) * len(hw_axis)
    with _Progress(console, quiet, total, target.name) as advance:
        for b in bit_axis:
            for t in t_axis:
                run_key, run, missed = simulated(b, t)
                misses += missed
                hits += not missed
                for h in hw_axis:
                    point = DesignPoint(b, t, h if accel else None, None if accel else h)
                    e, new = evaluated(run_key, run, point)
                    if isinstance(e, str):
                        infeasible.append((point, e))
                    else:
                        evaluations.append(e)
                    computed += new
                    advance(point)
    if not evaluations:
        point, reason = infeasible[0]
        raise InfeasibleMappingError(f"all {len(infeasible)} design points are infeasible on {target.name}; "
                                     f"first, {point.label}: {reason}")
    return SweepResult(snn.name, target.name, "accelerator" if accel else "crossbar", int(x.shape[0]),
                       tuple(evaluations), pareto_front(evaluations), misses, hits, computed,
                       time.perf_counter() - started, tuple(infeasible))


class _Progress:
    """A rich progress bar over the design points, or nothing when ``quiet``."""

    def __init__(self, console, quiet: bool, total: int, hardware: str) -> None:
        self.bar = None
        if not quiet:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=console, transient=True)
            self.task = self.bar.add_task(f"co-design on {hardware}", total=total)

    def __enter__(self) -> Callable[[DesignPoint], None]:
        if self.bar is None:
            return lambda _point: None
        self.bar.__enter__()
        return lambda point: self.bar.update(self.task, advance=1, description=f"co-design {point.label}")

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
