"""The compile pipeline: one explicit, linear list of passes over one typed context.

::

    import -> convert -> profile -> accuracy -> partition -> place -> dataflow -> analyse -> export

Each stage is a plain function of typed values (``import_pass`` ... ``export_pass``, also used
on their own by the application suite and the design-space exploration). A :class:`Pass` wraps
one for the pipeline: its name, a function from the :class:`CompileContext` to the context with
the stage's result filled in, and an invariant check of that result. :data:`PASSES` lists them
in order and :func:`compile_model` runs that list as it stands, showing a progress line and
timing each pass, and checking each pass's invariants before the next pass runs (a violation is
a :class:`~spikeforge.errors.PipelineInvariantError` naming the pass). It returns every value
in a :class:`Compiled`. Nothing is written before the last pass, ``export``, which builds the
output folder atomically (see :mod:`spikeforge.artifact`), so an error anywhere leaves nothing
behind.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Self

import numpy as np

from spikeforge.api import ArrayLike, public
from spikeforge.errors import (
    InvalidDataError,
    ModelFileError,
    NotConvertedError,
    PipelineInvariantError,
)
from spikeforge.resources import check_count

if TYPE_CHECKING:  # imported lazily in the passes
    from rich.console import Console

    from spikeforge.dataflow.binding import Binder, Platform, Schedule
    from spikeforge.dataflow.build import Guarantee
    from spikeforge.datasets import Dataset
    from spikeforge.ir.dataflow import DataflowGraph
    from spikeforge.ir.hardware import Hardware
    from spikeforge.ir.network import Network
    from spikeforge.ir.partition import Partition
    from spikeforge.ir.placement import Placement
    from spikeforge.mapping.partition import Partitioner
    from spikeforge.mapping.place import Placer
    from spikeforge.sim.simulator import Profile, SimulationResult

__all__ = [
    "PASSES",
    "CompileContext",
    "CompileOptions",
    "Compiled",
    "Dataflow",
    "Pass",
    "analyse_pass",
    "compile_model",
    "convert_pass",
    "dataflow_pass",
    "export_pass",
    "import_pass",
    "partition_pass",
    "place_pass",
    "profile_pass",
]


def _default(module: str, name: str) -> Callable[[], str]:
    """A strategy registry's default, read when options are made: the mapping and dataflow
    modules (scipy, pydantic) are not imported with this one."""
    return lambda: getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class CompileOptions:
    """What ``spikeforge compile`` was asked for."""

    model: str
    hardware: str
    calib: str
    output: str | None = None
    arch: str | None = None
    timesteps: int = 8
    chips: int | None = None
    partitioner: str = field(default_factory=_default("spikeforge.mapping.partition", "DEFAULT_PARTITIONER"))
    placer: str = field(default_factory=_default("spikeforge.mapping.place", "DEFAULT_PLACER"))
    binding: str = field(default_factory=_default("spikeforge.dataflow.binding", "DEFAULT_BINDER"))
    data: str | None = None
    crossbars: int | None = None
    calib_samples: int = 256
    data_samples: int | None = None


@dataclass(frozen=True, eq=False)
class Compiled:
    """Every value the pipeline produced."""

    options: CompileOptions
    hardware: Hardware
    snn: Network
    profile: Profile
    accuracy: float | None
    accuracy_on: str
    partition: Partition
    placement: Placement
    application: DataflowGraph  # unbound SDFG, with the design-time schedule (processors, orders)
    schedule: Schedule
    graph: DataflowGraph        # bound SDFG (communication actors, static orders)
    platform: Platform
    guarantee: Guarantee
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


class Dataflow(NamedTuple):
    """What the dataflow pass builds: the application, its binding, the bound graph, the platform."""

    application: DataflowGraph  # unbound SDFG, with the design-time schedule
    schedule: Schedule
    graph: DataflowGraph        # bound SDFG
    platform: Platform


# --------------------------------------------------------------------------------------------
# the stages


@public
def import_pass(model: str | os.PathLike, arch: str | None = None) -> Network:
    """A saved ANN/SNN folder, a model file imported as an ANN, or a NIR graph (``.nir``) as an SNN.

    Raises
    ------
    ModelFileError
        Missing or unreadable model, or a quantised network folder (the pipeline profiles and
        maps float SNNs: give it the network that was quantised).
    """
    from spikeforge.frontends.model_file import load_model
    from spikeforge.frontends.torch_fx import import_torch
    from spikeforge.ir.serialize import load_metadata, load_network

    p = Path(model)
    if p.is_dir():
        net = load_network(p)
        meta = load_metadata(p)
        if meta.get("quantized"):
            raise ModelFileError(f"{p}: a quantised network ({meta.get('weight_bits')}-bit weights); compile the "
                                 f"float SNN it was quantised from ({meta.get('source', 'unknown')})")
        return net
    if not p.exists():
        raise ModelFileError(f"{p}: no such network folder or model file")
    if p.suffix.lower() == ".nir":  # a NIR graph: an SNN already (spikeforge.frontends.nir, its defaults)
        from spikeforge.frontends.nir import read_nir

        return read_nir(p)
    module, shape = load_model(p, arch)
    return import_torch(module, shape, name=p.stem)


@public
def convert_pass(net: Network, calib_x: ArrayLike, timesteps: int | None = None) -> Network:
    """ANN -> SNN, calibrated for ``timesteps`` when given (an SNN passes through unchanged)."""
    from spikeforge.convert.normalise import convert

    return net if net.kind == "snn" else convert(net, calib_x, timesteps=timesteps)


@public
def profile_pass(snn: Network, calib: Dataset, timesteps: int,
                 on_batch: Callable[[int], None] | None = None) -> SimulationResult:
    """Simulate on the calibration data: the profile, and the accuracy when labelled."""
    from spikeforge.sim.simulator import simulate

    return simulate(snn, calib.x, timesteps=timesteps, labels=calib.y, on_batch=on_batch)


@public
def partition_pass(snn: Network, profile: Profile, hw: Hardware | str | os.PathLike,
                   strategy: str | Partitioner) -> Partition:
    """Partition (:func:`spikeforge.mapping.partition.partition`) by a partitioner's name or object."""
    from spikeforge.mapping.partition import partition

    return partition(snn, profile, hw, strategy=strategy)


def chips_needed(n_crossbars: int, hw) -> int:
    """The fewest chips of ``hw`` that hold ``n_crossbars`` crossbars (at least one)."""
    return max(1, -(-n_crossbars // hw.crossbars_per_chip))


def _board_chips(hw: Hardware, clusters: int, chips: int | None, crossbars: int | None) -> int:
    """The chips of the board ``place_pass`` places on: with time-multiplexing onto fewer
    crossbars than clusters, enough for a crossbar per cluster."""
    if crossbars is not None and crossbars < clusters:
        return max(chips or hw.chips, chips_needed(clusters, hw))
    return chips or hw.chips


@public
def place_pass(part: Partition, hw: Hardware, strategy: str | Placer, chips: int | None,
               crossbars: int | None) -> Placement:
    """Place; with ``crossbars`` (time-multiplexing) the placement is only the spatial layout
    of a board with a crossbar per cluster, and the dataflow pass binds onto fewer."""
    from spikeforge.mapping.place import place

    if crossbars is not None and crossbars < part.n_clusters:
        chips = _board_chips(hw, part.n_clusters, chips, crossbars)
    return place(part, hw, strategy=strategy, chips=chips)


@public
def dataflow_pass(placement: Placement, profile: Profile | None, hw: Hardware, strategy: str | Binder,
                  crossbars: int | None) -> Dataflow:
    """The application SDFG, its binding (placement or time-multiplexed) and the bound graph."""
    from spikeforge.dataflow.binding import Platform, bind, evaluate, with_schedule
    from spikeforge.dataflow.build import (
        application_graph,
        build_sdfg,
        placement_binding,
    )

    part = placement.partition
    app = application_graph(part, profile, hw)
    if crossbars is not None and crossbars < part.n_clusters:
        if crossbars < 1:
            raise InvalidDataError(f"--crossbars {crossbars}: must be >= 1")
        board = hw.with_chips(max(hw.chips, chips_needed(crossbars, hw)))
        platform = Platform.from_hardware(board)
        schedule = bind(app, platform, strategy, crossbars=crossbars)
    else:
        platform = Platform.from_hardware(placement.hardware)
        binding = placement_binding(placement)
        orders = {x: (a,) for a, x in binding.items()}
        schedule = evaluate(app, binding, orders, platform, strategy="placement")
    graph = build_sdfg(placement, profile, hw, timesteps=part.timesteps, schedule=schedule,
                       platform=platform)
    return Dataflow(with_schedule(app, schedule), schedule, graph, platform)


@public
def analyse_pass(graph: DataflowGraph, placement: Placement, profile: Profile, schedule: Schedule,
                 platform: Platform, timesteps: int) -> tuple[Guarantee, dict[str, Any]]:
    """Guaranteed throughput, latency, bottleneck, resources and energy (estimate,
    :func:`spikeforge.mapping.report.mapping_energy` over the guaranteed period)."""
    from spikeforge.dataflow.build import guarantee
    from spikeforge.mapping.report import mapping_energy

    part = placement.partition
    g = guarantee(graph, timesteps, part)
    hw = platform.hardware
    xbar = np.array([schedule.binding[f"c{i}"] for i in range(part.n_clusters)], dtype=np.int64)
    # the bound graph carries spikes and partial sums of a cluster pair on one channel
    use = mapping_energy(part, hw, xbar // hw.core.crossbars_per_core, profile=profile,
                         time_s=timesteps * g.period_ns * 1e-9, timesteps=timesteps,
                         streams=(part.traffic + part.partial_traffic,))
    energy = use.energy
    assumptions = list(energy.assumptions) + [
        "event counts are the calibration profile's averages per inference",
        "static energy over T x the guaranteed period (steady-state pipelined inference)"]
    resources = {
        "clusters": part.n_clusters, "crossbars": len(set(xbar.tolist())),
        "cores": use.cores_used, "chips": use.chips_used,
        "crossbars_available": hw.total_crossbars,
        "neurons": int(part.cluster_neurons.sum()), "synapses": int(part.cluster_synapses.sum()),
        "column_utilisation": part.summary()["column_utilisation"],
        "actors": len(graph.actors), "channels": len(graph.channels),
        "communication_actors": sum(1 for a in graph.actors if a.name.startswith("link[")),
    }
    figures = {
        "guarantee": g.as_dict(),
        "resources": resources,
        "energy_per_inference_j": energy.total_j,
        "energy": {k: v for k, v in energy.rows()},
        "energy_assumptions": assumptions,
    }
    return g, figures


def _inputs(o: CompileOptions) -> tuple[str | None, ...]:
    """The paths a compile reads, which its output must neither be, hold nor lie inside."""
    return (o.model, o.hardware, o.calib, o.data)


@public
def export_pass(output: str | os.PathLike, compiled: Compiled) -> Path:
    from spikeforge.artifact import write_artifact

    return write_artifact(output, compiled, _inputs(compiled.options))


# --------------------------------------------------------------------------------------------
# the pass list


@dataclass(frozen=True)
class CompileContext:
    """What the passes share: the request, its inputs and strategies, and each pass's result
    (``None`` until that pass ran)."""

    options: CompileOptions
    hardware: Hardware
    partitioner: Partitioner
    placer: Placer
    binder: Binder
    calib: Dataset
    test: Dataset | None = None
    network: Network | None = None                # import
    snn: Network | None = None                    # convert
    profiled: SimulationResult | None = None      # profile: the calibration run
    accuracy: float | None = None                 # accuracy
    accuracy_on: str = ""
    partition: Partition | None = None
    placement: Placement | None = None
    dataflow: Dataflow | None = None
    guarantee: Guarantee | None = None            # analyse
    figures: dict[str, Any] = field(default_factory=dict)
    artifact: Path | None = None                  # export

    def compiled(self, seconds: dict[str, float] | None = None) -> Compiled:
        """The results as a :class:`Compiled` (every pass up to ``analyse`` has run)."""
        d = self.dataflow
        return Compiled(self.options, self.hardware, self.snn, self.profiled.profile, self.accuracy,
                        self.accuracy_on, self.partition, self.placement, d.application, d.schedule,
                        d.graph, d.platform, self.guarantee, self.figures, dict(seconds or {}))


#: A pass's progress: called with the units done so far.
Tick = Callable[[int], None]


def _no_check(ctx: CompileContext) -> str | None:
    return None


def _one_unit(ctx: CompileContext) -> int:
    return 1


def _always(ctx: CompileContext) -> bool:
    return True


@dataclass(frozen=True)
class Pass:
    """One pass of the pipeline.

    Attributes
    ----------
    name : str
        Its progress line and its key in :attr:`Compiled.seconds`.
    run : callable ``(context, progress) -> context``
        The context with this pass's result filled in; ``progress`` (or ``None``) takes the
        units done.
    check : callable ``context -> str or None``
        The invariants the later passes rely on, checked on ``run``'s result: what is broken,
        or ``None``.
    units : callable ``context -> int``
        Units of work, the length of the progress bar.
    enabled : callable ``context -> bool``
        Whether the pass runs at all.
    """

    name: str
    run: Callable[[CompileContext, Tick | None], CompileContext]
    check: Callable[[CompileContext], str | None] = _no_check
    units: Callable[[CompileContext], int] = _one_unit
    enabled: Callable[[CompileContext], bool] = _always


def _import(ctx: CompileContext, progress: Tick | None) -> CompileContext:
    return dataclasses.replace(ctx, network=import_pass(ctx.options.model, ctx.options.arch))


def _convert(ctx: CompileContext, progress: Tick | None) -> CompileContext:
    return dataclasses.replace(ctx, snn=convert_pass(ctx.network, ctx.calib.x, ctx.options.timesteps))


def _converted(ctx: CompileContext) -> str | None:
    try:
        ctx.snn.require_snn("convert")
    except NotConvertedError as exc:
        return str(exc)
    return None


def _profile(ctx: CompileContext, progress: Tick | None) -> CompileContext:
    return dataclasses.replace(ctx, profiled=profile_pass(ctx.snn, ctx.calib, ctx.options.timesteps,
                                                          on_batch=progress))


def _profiled(ctx: CompileContext) -> str | None:
    prof, T = ctx.profiled.profile, ctx.options.timesteps
    if prof.timesteps != T or prof.samples != len(ctx.calib):
        return (f"profile of {prof.samples} samples over {prof.timesteps} timesteps; "
                f"{len(ctx.calib)} calibration samples over {T} asked for")
    return None


def _accuracy(ctx: CompileContext, progress: Tick | None) -> CompileContext:
    """On the test data when given (a run without counters), else the calibration run's."""
    o, T = ctx.options, ctx.options.timesteps
    if ctx.test is None:
        return dataclasses.replace(ctx, accuracy=(ctx.profiled.accuracy or {}).get(T),
                                   accuracy_on=f"{ctx.calib.name or o.calib} ({len(ctx.calib)} samples, "
                                               "calibration data)")
    from spikeforge.sim.simulator import simulate

    run = simulate(ctx.snn, ctx.test.x, timesteps=T, labels=ctx.test.y, counters=False, on_batch=progress)
    return dataclasses.replace(ctx, accuracy=(run.accuracy or {}).get(T),
                               accuracy_on=f"{ctx.test.name or o.data} ({len(ctx.test)} samples, --data)")


def _accuracy_checked(ctx: CompileContext) -> str | None:
    a = ctx.accuracy
    return None if a is None or 0.0 <= a <= 1.0 else f"accuracy {a!r} outside [0, 1]"


def _partition(ctx: CompileContext, progress: Tick | None) -> CompileContext:
    return dataclasses.replace(ctx, partition=partition_pass(ctx.snn, ctx.profiled.profile, ctx.hardware,
                                                             ctx.partitioner))


def _cover(boxes: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """How many of ``boxes`` (c0, c1, y0, y1, x0, x1) hold each neuron of a (C, H, W) layer:
    a box adds ±1 at its eight corners of a difference array, three running sums add up."""
    C, H, W = shape
    d = np.zeros((C + 1, H + 1, W + 1), np.int32)
    c0, c1, y0, y1, x0, x1 = boxes.T
    for c, sc in ((c0, 1), (c1, -1)):
        for y, sy in ((y0, 1), (y1, -1)):
            for x, sx in ((x0, 1), (x1, -1)):
                np.add.at(d, (c, y, x), sc * sy * sx)
    for axis in range(3):
        np.cumsum(d, axis=axis, out=d)
    return d[:C, :H, :W]


def _partitioned(ctx: CompileContext) -> str | None:
    """Every neuron of every mapped layer in exactly one cluster (its part-0 piece), and every
    cluster within the crossbar of the hardware."""
    from spikeforge.mapping.partition import crossbar_limits

    part = ctx.partition
    for li, (name, shape) in enumerate(zip(part.layers, part.layer_shapes)):
        count = _cover(part.piece_box[(part.piece_layer == li) & (part.piece_part == 0)], shape)
        bad = count != 1
        if bad.any():
            at = tuple(int(v) for v in np.unravel_index(int(np.argmax(bad)), bad.shape))
            return f"layer {name}: neuron {at} is in {int(count[at])} clusters, not 1"
    limits = crossbar_limits(ctx.hardware)
    for what, values in (("rows", part.cluster_rows), ("columns", part.cluster_columns),
                         ("memory_bits", part.cluster_memory_bits)):
        if part.n_clusters and values.max() > limits[what]:
            i = int(np.argmax(values))
            return (f"{part.describe(i)}: {int(values[i])} {what.replace('_', ' ')}, the crossbar of "
                    f"{ctx.hardware.name} has {limits[what]}")
    return None


def _place(ctx: CompileContext, progress: Tick | None) -> CompileContext:
    o = ctx.options
    return dataclasses.replace(ctx, placement=place_pass(ctx.partition, ctx.hardware, ctx.placer, o.chips,
                                                         o.crossbars))


def _placed(ctx: CompileContext) -> str | None:
    """Every cluster of the partition on a core of the board, on no more chips than allowed."""
    pl, part, o = ctx.placement, ctx.partition, ctx.options
    if pl.partition is not part:
        return "the placement is of another partition than the partition pass made"
    if len(pl.cluster_core) != part.n_clusters:
        return f"{len(pl.cluster_core)} clusters placed, the partition has {part.n_clusters}"
    if part.n_clusters and not 0 <= int(pl.cluster_core.min()) <= int(pl.cluster_core.max()) < pl.hardware.total_cores:
        return f"a cluster on no core of the {pl.hardware.total_cores} of the board"
    allowed = _board_chips(ctx.hardware, part.n_clusters, o.chips, o.crossbars)
    if pl.chips_used > allowed:
        return f"{pl.chips_used} chips used, {allowed} allowed"
    return None


def _dataflow(ctx: CompileContext, progress: Tick | None) -> CompileContext:
    return dataclasses.replace(ctx, dataflow=dataflow_pass(ctx.placement, ctx.profiled.profile, ctx.hardware,
                                                           ctx.binder, ctx.options.crossbars))


def _bound(ctx: CompileContext) -> str | None:
    """Every cluster bound to a crossbar of the platform, and a consistent bound graph."""
    from spikeforge.dataflow.consistency import repetition_vector
    from spikeforge.errors import InvalidGraphError

    d, n = ctx.dataflow, ctx.partition.n_clusters
    unbound = [f"c{i}" for i in range(n) if f"c{i}" not in d.schedule.binding]
    if unbound:
        return f"{len(unbound)} of {n} clusters not bound to a crossbar ({', '.join(unbound[:3])})"
    outside = [x for x in d.schedule.binding.values() if not 0 <= x < d.platform.crossbars]
    if outside:
        return f"a cluster bound to crossbar {outside[0]}, the platform has {d.platform.crossbars}"
    try:
        repetition_vector(d.graph)
    except InvalidGraphError as exc:
        return f"the bound graph is inconsistent: {exc}"
    return None


def _analyse(ctx: CompileContext, progress: Tick | None) -> CompileContext:
    d = ctx.dataflow
    g, figures = analyse_pass(d.graph, ctx.placement, ctx.profiled.profile, d.schedule, d.platform,
                              ctx.options.timesteps)
    return dataclasses.replace(ctx, guarantee=g,
                               figures={"accuracy": ctx.accuracy, "accuracy_on": ctx.accuracy_on, **figures})


def _analysed(ctx: CompileContext) -> str | None:
    g, e = ctx.guarantee, ctx.figures["energy_per_inference_j"]
    if g.timesteps != ctx.options.timesteps:
        return f"a guarantee for {g.timesteps} timesteps, {ctx.options.timesteps} asked for"
    if not (math.isfinite(e) and e >= 0):
        return f"energy per inference {e!r} J"
    return None


def _export(ctx: CompileContext, progress: Tick | None) -> CompileContext:
    return dataclasses.replace(ctx, artifact=export_pass(ctx.options.output, ctx.compiled()))


#: The passes, in the order :func:`compile_model` runs them.
PASSES: tuple[Pass, ...] = (
    Pass("import", _import),
    Pass("convert", _convert, _converted),
    Pass("profile", _profile, _profiled, units=lambda ctx: len(ctx.calib)),
    Pass("accuracy", _accuracy, _accuracy_checked,
         units=lambda ctx: 1 if ctx.test is None else len(ctx.test)),
    Pass("partition", _partition, _partitioned),
    Pass("place", _place, _placed),
    Pass("dataflow", _dataflow, _bound),
    Pass("analyse", _analyse, _analysed),
    Pass("export", _export, enabled=lambda ctx: bool(ctx.options.output)),
)


class _Lines:
    """A progress line per pass (rich), unless quiet."""

    def __init__(self, console: Console | None, quiet: bool):
        self.console, self.quiet, self.progress = console, quiet, None

    def __enter__(self) -> Self:
        if not self.quiet:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )
            self.progress = Progress(TextColumn("{task.description:<12}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(),
                                     console=self.console, transient=False)
            self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def line(self, name: str, total: int) -> tuple[Tick | None, Callable[[], None]]:
        """The progress callback of a new line, and what marks it complete."""
        if self.progress is None:
            return None, lambda: None
        task = self.progress.add_task(name, total=total)
        return (lambda n: self.progress.update(task, completed=n),
                lambda: self.progress.update(task, completed=total))


def _load(spec: str, samples: int | None, what: str) -> Dataset:
    from spikeforge.datasets import load_data

    data = load_data(spec)
    if samples is not None:
        if samples < 1:
            raise InvalidDataError(f"{what}: {samples} samples asked for, need >= 1")
        data = data.take(samples)
    return data


@public
def compile_model(options: CompileOptions, *, console: Console | None = None, quiet: bool = False,
                  passes: Sequence[Pass] = PASSES) -> Compiled:
    """Run ``passes`` (default :data:`PASSES`) in order, checking each one's invariants before
    the next; ``export`` writes only when ``options.output`` is set.

    Raises
    ------
    SpikeforgeError
        Any stage's error (unknown hardware, missing data, model or strategy, capacity...);
        nothing is written then.
    PipelineInvariantError
        A pass broke an invariant (a bug); the message names the pass.
    """
    from spikeforge.dataflow.binding import BINDERS
    from spikeforge.hardware import load_hardware
    from spikeforge.mapping.partition import PARTITIONERS
    from spikeforge.mapping.place import PLACERS

    o = options
    if isinstance(o.timesteps, bool) or not isinstance(o.timesteps, int) or o.timesteps < 1:
        raise InvalidDataError(f"--timesteps {o.timesteps}: must be an integer >= 1")
    if o.chips is not None and o.chips < 1:
        raise InvalidDataError(f"--chips {o.chips}: must be >= 1")
    for flag, value in (("--calib-samples", o.calib_samples), ("--samples", o.data_samples)):
        if value is not None:
            check_count(value, flag)
    if o.crossbars is not None and o.crossbars < 1:
        raise InvalidDataError(f"--crossbars {o.crossbars}: must be >= 1")
    strategies = PARTITIONERS.resolve(o.partitioner), PLACERS.resolve(o.placer), BINDERS.resolve(o.binding)
    if o.output:  # before any work: never replace a folder of the user's or one of the inputs
        from spikeforge.outputs import check_output_folder

        check_output_folder(o.output, _inputs(o))
    hw = load_hardware(o.hardware)                       # fail fast on a wrong name
    calib = _load(o.calib, o.calib_samples, "--calib")
    test = _load(o.data, o.data_samples, "--data") if o.data else None
    ctx = CompileContext(o, hw, *strategies, calib, test)
    seconds: dict[str, float] = {}
    with _Lines(console, quiet) as lines:
        for p in passes:
            if not p.enabled(ctx):
                continue
            progress, done = lines.line(p.name, p.units(ctx))
            t0 = time.perf_counter()
            ctx = p.run(ctx, progress)
            seconds[p.name] = time.perf_counter() - t0
            done()
            problem = p.check(ctx)
            if problem is not None:
                raise PipelineInvariantError(f"compile, pass {p.name}: {problem}")
    return ctx.compiled(seconds)


def summary_rows(c: Compiled) -> list[tuple[str, str]]:
    """``(figure, value)`` rows of the compile report."""
    g, f, r = c.guarantee, c.figures, c.figures["resources"]
    acc = "n/a (no labels)" if c.accuracy is None else f"{100 * c.accuracy:.2f}%"
    lat = f"{g.latency_ns / 1e3:,.3f} µs" + ("" if g.latency_simulated else " (estimate)")
    rate = "unbounded" if math.isinf(g.inferences_per_s) else f"{g.inferences_per_s:,.0f}"
    return [
        (f"accuracy at T={g.timesteps}", f"{acc} on {c.accuracy_on}"),
        ("clusters / crossbars",
         f"{r['clusters']:,} on {r['crossbars']:,} crossbars ({c.schedule.strategy})"),
        ("cores / chips", f"{r['cores']:,} / {r['chips']}"),
        ("neurons / synapses", f"{r['neurons']:,} / {r['synapses']:,}"),
        ("SDFG", (f"{r['actors']:,} actors ({r['communication_actors']:,} links), "
                  f"{r['channels']:,} channels")),
        ("guaranteed throughput", f"{rate} inferences/s, {g.timesteps_per_s:,.0f} timesteps/s"),
        ("period per timestep", f"{g.period_ns:,.1f} ns"),
        ("latency per inference", lat),
        ("energy per inference", f"{f['energy']['total (estimate)']} (estimate)"),
        ("bottleneck", g.bottleneck),
    ]
