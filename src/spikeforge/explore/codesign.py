r"""Hardware–software co-design search: weight bits × timesteps × hardware size → Pareto front.

A design point fixes the signed weight bit-width :math:`B_w`, the timesteps :math:`T` and one
hardware parameter: the PE count :math:`P` of an event-driven accelerator
(:mod:`spikeforge.hardware.accelerator`), or the crossbar size :math:`n` (rows = columns) of
a crossbar chip (:mod:`spikeforge.ir.hardware`). Each point is evaluated on the same data:

* **accuracy** — top-1 of the integer network (:func:`~spikeforge.quantize.quantize` at
  :math:`B_w`, then :func:`~spikeforge.quantize.simulate_integer` for :math:`T` steps, binary
  spikes);
* **latency and energy per inference** — on an accelerator, from the real spike trains of the
  same integer run (``simulate_integer(..., trace=...)`` →
  :func:`~spikeforge.hardware.accelerator.accelerator_report` with ``pes`` = :math:`P` and the
  spec's ``weight_bits`` = :math:`B_w`), :math:`E = P_\mathrm{board}\,t_\mathrm{lat}`; on a
  crossbar chip, from the mapping and the dataflow analysis of the compile pipeline
  (partition → place → SDFG → guaranteed latency and event energy, with
  ``precision.weight_bits`` = :math:`B_w`).

The sweep sees both kinds through one interface, :class:`~spikeforge.explore.target.Target`
(:class:`~spikeforge.explore.target.AcceleratorTarget`,
:class:`~spikeforge.explore.target.CrossbarTarget`): the sizes to sweep, the activity to record,
the evaluation of a point.

Neither hardware parameter changes what the integer network computes, so the activity of a
(:math:`B_w`, :math:`T`) pair is simulated **once** and reused for every :math:`P` or :math:`n`
(:class:`~spikeforge.explore.cache.SimulationCache`; optionally on disk across runs). A sweep of
:math:`|B| \times |T| \times |P|` points runs :math:`|B| \times |T|` simulations.

The front keeps the points no other point dominates (:func:`pareto_front`): :math:`a`
dominates :math:`b` when :math:`a` is at least as good in every objective (higher accuracy,
lower latency, lower energy) and strictly better in one.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from spikeforge.api import ArrayLike, public
from spikeforge.errors import (
    CapacityError,
    DesignSpaceError,
    InfeasibleMappingError,
    InvalidDataError,
    QuantizationError,
    SimulationError,
)
from spikeforge.explore.cache import (
    Simulated,
    SimulationCache,
    fingerprint,
    network_fingerprint,
)
from spikeforge.explore.engine import Engine, InProcess
from spikeforge.explore.target import (
    DesignPoint,
    Evaluation,
    Target,
    as_target,
    check_axis,
    positive,
)
from spikeforge.hardware.accelerator import AcceleratorSpec
from spikeforge.hardware.target import load_target
from spikeforge.ir import network as ir
from spikeforge.ir.hardware import Hardware
from spikeforge.mapping.partition import TilesPartitioner
from spikeforge.mapping.place import DEFAULT_PLACER
from spikeforge.quantize import QuantizedNetwork, check_bits, quantize
from spikeforge.sim.simulator import check_labels

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["OBJECTIVES", "SweepResult", "pareto_front", "pareto_mask", "sweep"]

#: Default objectives: (Evaluation attribute, "max" or "min").
OBJECTIVES: tuple[tuple[str, str], ...] = (("accuracy", "max"), ("latency_s", "min"), ("energy_j", "min"))


@dataclass(frozen=True)
class SweepResult:
    """All evaluations of a sweep, its Pareto front and what it cost.

    ``simulations`` counts the integer simulations run (cache misses), ``cache_hits`` the
    (bits, T) pairs served from the cache; ``simulations + cache_hits`` is the number of pairs
    (a pair counts once per activity recorded, e.g. channel- and neuron-granular traces).
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


def _check_data(net: ir.Network, x: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    x = net.check_input(x, "x")
    if labels is None:
        raise InvalidDataError(f"labels: none given; accuracy needs one label per sample ({x.shape[0]})")
    return x, check_labels(labels, x.shape[0], net.shape(net.outputs[0]))


_FIGURES = ("accuracy", "latency_s", "energy_j", "synops", "effective_gops", "crossbars")


@public(own_checks="snn bits timesteps pes crossbar_sizes input_bits knobs engine search")
def sweep(snn: ir.Network, x: ArrayLike, labels: ArrayLike | None,
          hardware: str | Path | AcceleratorSpec | Hardware = "pynq-z2-accel", *,
          bits: Sequence[int] = (2, 4, 8), timesteps: Sequence[int] = (2, 4, 6, 8),
          pes: Sequence[int] | None = None, crossbar_sizes: Sequence[int] | None = None,
          threshold_bits: int = 16, input_bits: int = 8, per_channel: bool = False,
          calib: ArrayLike | None = None, cache: SimulationCache | None = None,
          partitioner: str = TilesPartitioner.name, placer: str = DEFAULT_PLACER,
          knobs: Mapping[str, Sequence[Any]] | None = None, engine: Engine | None = None,
          search: Literal["grid", "nsga2"] = "grid", trials: int = 100, population: int = 16, seed: int = 0,
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
        Accelerator or crossbar chip (see :func:`~spikeforge.hardware.target.load_target`); default
        ``pynq-z2-accel``.
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
        partitioner rather than :data:`~spikeforge.mapping.partition.DEFAULT_PARTITIONER`: a sweep
        maps every point; and :data:`~spikeforge.mapping.place.DEFAULT_PLACER`).
    knobs : mapping of str to sequence, optional
        More hardware axes, each swept in full (see :data:`~spikeforge.explore.target.KNOBS`):
        accelerators ``ops_per_cycle_per_pe``, ``event_dispatch_cycles``, ``on_chip_memory_kib``,
        ``distribution``; crossbar chips ``placer``.
    engine : Engine, optional
        Where tasks run (:mod:`spikeforge.explore.engine`): default in this process; a
        :class:`~spikeforge.explore.engine.DaskEngine` spreads the simulations and design points
        over a Dask cluster's workers, which write each finished point to ``cache``'s folder.
    quiet : bool
        No progress bar; otherwise a transient rich progress bar goes to ``console``, advanced as
        points finish on any worker.
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
    NotConvertedError
        ``snn`` has no spiking neurons (an ANN) or ReLU layers left.
    QuantizationError
        A bit-width is not an integer in 2..8; ``snn`` is not a float SNN (already quantised, or
        not a Network); other quantisation limits (see :func:`~spikeforge.quantize.quantize`).
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
    run = Run.prepare(snn, x, labels, hardware, bits=bits, timesteps=timesteps, threshold_bits=threshold_bits,
                      input_bits=input_bits, per_channel=per_channel, calib=calib, cache=cache,
                      partitioner=partitioner, placer=placer)
    hw_axis = run.target.sizes(pes=pes, crossbar_sizes=crossbar_sizes)
    knob_axes = run.target.knob_axes(knobs or {})
    points = [run.target.point(b, t, h, dict(zip(knob_axes, combo)))
              for b in run.bits for t in run.timesteps for h in hw_axis
              for combo in itertools.product(*knob_axes.values())]
    if engine is None:
        engine = InProcess()
    if search == "nsga2":
        from spikeforge.explore.search import search_points

        size = "crossbar_size" if run.target.axis == "crossbar_sizes" else run.target.axis
        axes = {"weight_bits": run.bits, "timesteps": run.timesteps, size: hw_axis, **knob_axes}
        with _Progress(console, quiet, trials, f"NSGA-II on {run.target.name}, {engine.label}") as advance:
            return search_points(run, axes, trials=trials, population=population, seed=seed, engine=engine,
                                 advance=advance, started=started)
    if search != "grid":
        raise DesignSpaceError(f"search {search!r}: unknown; use 'grid' or 'nsga2'")
    with _Progress(console, quiet, len(points), f"{run.target.name}, {engine.label}") as advance:
        results = run.evaluate(points, engine, advance)
    return run.result(points, results, started)


def _quantize_task(snn: ir.Network, weight_bits: int, options: dict) -> QuantizedNetwork:
    return quantize(snn, weight_bits=weight_bits, **options)


def _record_task(target: Target, q: QuantizedNetwork, x: np.ndarray, y: np.ndarray, timesteps: int,
                 activity: str, folder: str | None, key: str) -> Simulated:
    """A (bits, T) simulation, from the shared cache folder when another task already stored it."""
    cache = SimulationCache(folder)
    run = cache.get(key)
    return run if run is not None else cache.put(key, target.record(q, x, y, timesteps, activity))


def _evaluate_task(target: Target, point: DesignPoint, run: Simulated, q: QuantizedNetwork | None,
                   folder: str | None, key: str) -> dict:
    """A design point's figures (or ``{'infeasible': reason}``), written to the cache folder by
    the worker that computed them, so nothing finished is lost if the driver dies."""
    try:
        e = target.evaluate(point, run, q)
        figures: dict = {k: getattr(e, k) for k in _FIGURES}
    except (CapacityError, InfeasibleMappingError) as exc:
        figures = {"infeasible": str(exc)}
    if folder is not None:
        SimulationCache(folder).put_figures(key, figures)
    return figures


@dataclass
class Run:
    """The fixed part of a sweep or search: network, data, target, quantisation options, cache,
    and the counts of what was simulated, served from the cache and computed."""

    snn: ir.Network
    x: np.ndarray
    y: np.ndarray
    target: Target
    bits: tuple[int, ...]
    timesteps: tuple[int, ...]
    options: dict
    calib: np.ndarray | None
    cache: SimulationCache
    base: tuple
    hw_key: str
    simulations: int = 0
    computed: int = 0

    @classmethod
    def prepare(cls, snn, x, labels, hardware, *, bits, timesteps, threshold_bits, input_bits, per_channel,
                calib, cache, partitioner, placer) -> Run:
        """Check everything a sweep or search is given, before any work (see :func:`sweep`)."""
        if isinstance(snn, QuantizedNetwork):
            raise QuantizationError(f"network {snn.network.name}: already quantised ({snn.weight_bits}-bit "
                                    f"weights); sweep the float SNN")
        if not isinstance(snn, ir.Network):
            raise QuantizationError(f"sweep needs a converted SNN (Network), got {type(snn).__name__}")
        snn.require_snn("codesign")
        x, y = _check_data(snn, x, labels)
        spec = load_target(hardware)
        bit_axis = check_axis("bits", bits, lambda n, v: check_bits(n, v, 2, 8))
        t_axis = check_axis("timesteps", timesteps, positive(SimulationError))
        input_bits = check_bits("input_bits", input_bits, 1, 16)
        target = as_target(spec, input_bits=input_bits, partitioner=partitioner, placer=placer).for_network(snn)
        cache = SimulationCache() if cache is None else cache
        calib = None if calib is None else np.asarray(calib)
        options = {"threshold_bits": threshold_bits, "input_bits": input_bits, "per_channel": bool(per_channel),
                   "calib": calib}
        base = (network_fingerprint(snn), x, y, calib, threshold_bits, input_bits, bool(per_channel),
                target.activity)
        hw_key = fingerprint(json.dumps(target.spec.model_dump(mode="json"), sort_keys=True))
        return cls(snn, x, y, target, bit_axis, t_axis, options, calib, cache, base, hw_key)

    def run_key(self, b: int, t: int, activity: str | None = None) -> str:
        """The key of the (bits, T) run recording ``activity`` (default: the target's own)."""
        other = () if activity in (None, self.target.activity) else (activity,)
        return fingerprint(*self.base, b, t, *other)

    def point_key(self, point: DesignPoint) -> str:
        t = self.target
        run = self.run_key(point.weight_bits, point.timesteps, t.activity_of(point))
        return fingerprint(run, self.hw_key, point.pes,
                           point.crossbar_size, getattr(t, "partitioner", TilesPartitioner.name),
                           getattr(t, "placer", DEFAULT_PLACER), *((point.knobs,) if point.knobs else ()))

    def evaluate(self, points: Sequence[DesignPoint], engine: Engine,
                 advance: Callable[[DesignPoint], None]) -> dict[DesignPoint, Evaluation | str]:
        """Every point's evaluation (or the reason it is infeasible): from the cache, else as tasks
        on ``engine`` — one quantisation per bit-width and one simulation per (bits, T, activity) at
        most. Each point is its own task; the quantised networks are made first and copied to every
        worker, then workers run simulations, longest (largest T) first, then evaluations, so short
        tasks fill the end and two workers balance."""
        results: dict[DesignPoint, Evaluation | str] = {}
        missing: dict[DesignPoint, str] = {}
        for p in dict.fromkeys(points):
            key = self.point_key(p)
            figures = self.cache.get_figures(key)
            if figures is None:
                missing[p] = key
            else:
                results[p] = self._decode(p, figures)
                advance(p)
        if not missing:
            return results
        folder = None if self.cache.folder is None else str(self.cache.folder)
        snn = engine.scatter(self.snn)
        needs_q = self.target.needs_network
        runs, to_simulate = {}, []
        for b, t, activity in sorted({(p.weight_bits, p.timesteps, self.target.activity_of(p)) for p in missing}):
            key = self.run_key(b, t, activity)
            run = self.cache.get(key)
            if run is None:
                to_simulate.append((b, t, activity, key))
            else:
                runs[b, t, activity] = engine.scatter(run)
        # Quantised networks first, then scattered to every worker: a simulation that depended on
        # a quantisation's result would be pulled to the worker holding it, out of priority order.
        bits = {b for b, *_ in to_simulate} | ({p.weight_bits for p in missing} if needs_q else set())
        pending = {engine.submit(_quantize_task, snn, b, self.options, key=f"quantize-{b}-{self.run_key(b, 0)[:16]}"): b
                   for b in sorted(bits)}
        quantized = {pending[h]: engine.scatter(q) for h, q in engine.completed(list(pending))}
        if to_simulate:
            data = (engine.scatter(self.x), engine.scatter(self.y))
        for b, t, activity, key in sorted(to_simulate, key=lambda r: (-r[1], r[0], r[2])):  # longest first
            self.simulations += 1
            runs[b, t, activity] = engine.submit(_record_task, self.target, quantized[b], data[0], data[1], t,
                                                 activity, folder, key, key=f"simulate-{key[:24]}", priority=t)
        futures = {}
        for p, key in missing.items():
            run = runs[p.weight_bits, p.timesteps, self.target.activity_of(p)]
            h = engine.submit(_evaluate_task, self.target, p, run, quantized[p.weight_bits] if needs_q else None,
                              folder, key, key=f"evaluate-{key[:24]}", priority=0)
            futures[h] = p
        for h, figures in engine.completed(list(futures)):
            p = futures[h]
            self.cache.remember_figures(missing[p], figures)
            results[p] = self._decode(p, figures)
            self.computed += 1
            advance(p)
        return results

    @staticmethod
    def _decode(point: DesignPoint, figures: dict) -> Evaluation | str:
        return figures["infeasible"] if "infeasible" in figures else Evaluation(point, **figures)

    def result(self, points: Sequence[DesignPoint], results: dict[DesignPoint, Evaluation | str], started: float,
               objectives: Sequence[tuple[str, str]] = OBJECTIVES) -> SweepResult:
        """The :class:`SweepResult` of ``points`` in their order (each once).

        Raises
        ------
        InfeasibleMappingError
            No point fits the hardware.
        """
        evaluations: list[Evaluation] = []
        infeasible: list[tuple[DesignPoint, str]] = []
        for p in dict.fromkeys(points):
            e = results[p]
            if isinstance(e, str):
                infeasible.append((p, e))
            else:
                evaluations.append(e)
        if not evaluations:
            point, reason = infeasible[0]
            raise InfeasibleMappingError(f"all {len(infeasible)} design points are infeasible on "
                                         f"{self.target.name}; first, {point.label}: {reason}")
        pairs = len({(p.weight_bits, p.timesteps, self.target.activity_of(p)) for p in points})
        return SweepResult(self.snn.name, self.target.name, self.target.kind, int(self.x.shape[0]),
                           tuple(evaluations), pareto_front(evaluations, objectives), self.simulations,
                           pairs - self.simulations, self.computed, time.perf_counter() - started, tuple(infeasible))


class _Progress:
    """A rich progress bar over the design points, or nothing when ``quiet``."""

    def __init__(self, console, quiet: bool, total: int | None, hardware: str) -> None:
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
