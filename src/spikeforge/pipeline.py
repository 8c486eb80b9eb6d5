"""The compile pipeline: one explicit, linear list of named passes.

::

    import -> convert -> profile -> partition -> place -> dataflow -> analyse -> export

Each pass is a plain function of typed values (no shared state); :func:`compile_model` calls
them in this order, showing a progress line per pass, and returns every intermediate value in
a :class:`Compiled`. Nothing is written before the last pass, ``export``, which builds the
output folder atomically (see :mod:`spikeforge.artifact`), so an error anywhere leaves nothing
behind.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spikeforge.api import ArrayLike, public
from spikeforge.errors import InvalidDataError, ModelFileError
from spikeforge.resources import check_count

if TYPE_CHECKING:  # imported lazily in the passes
    from rich.console import Console

    from spikeforge.dataflow.binding import Platform, Schedule
    from spikeforge.datasets import Dataset
    from spikeforge.ir.dataflow import DataflowGraph
    from spikeforge.ir.hardware import Hardware
    from spikeforge.ir.network import Network
    from spikeforge.ir.partition import Partition
    from spikeforge.ir.placement import Placement
    from spikeforge.sim.simulator import Profile

__all__ = [
    "PASSES",
    "CompileOptions",
    "Compiled",
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

#: The passes, in order.
PASSES = ("import", "convert", "profile", "partition", "place", "dataflow", "analyse", "export")


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
    partitioner: str = "hypergraph"
    placer: str = "min-cut"
    binding: str = "local-search"
    data: str | None = None
    crossbars: int | None = None
    calib_samples: int = 256
    data_samples: int | None = None


@dataclass(frozen=True, eq=False)
class Compiled:
    """Every value the pipeline produced."""

    options: CompileOptions
    hardware: Any
    snn: Any
    profile: Any
    accuracy: float | None
    accuracy_on: str
    partition: Any
    placement: Any
    application: Any           # unbound SDFG, with the design-time schedule (processors, orders)
    schedule: Any              # binding.Schedule
    graph: Any                 # bound SDFG (communication actors, static orders)
    platform: Any
    guarantee: Any             # dataflow.build.Guarantee
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# the passes


@public
def import_pass(model: str | os.PathLike, arch: str | None = None):
    """A saved ANN/SNN folder, or a model file imported as an ANN.

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
    module, shape = load_model(p, arch)
    return import_torch(module, shape, name=p.stem)


@public
def convert_pass(net: Network, calib_x: ArrayLike):
    """ANN -> SNN (an SNN passes through unchanged)."""
    from spikeforge.convert.normalise import convert

    return net if net.kind == "snn" else convert(net, calib_x)


@public
def profile_pass(snn: Network, calib: Dataset, timesteps: int, on_batch: Callable[[int], None] | None = None):
    """Simulate on the calibration data: the profile, and the accuracy when labelled."""
    from spikeforge.sim.simulator import simulate

    return simulate(snn, calib.x, timesteps=timesteps, labels=calib.y, on_batch=on_batch)


@public
def partition_pass(snn: Network, profile: Profile, hw: Hardware | str | os.PathLike, strategy: str):
    from spikeforge.mapping.partition import partition

    return partition(snn, profile, hw, strategy=strategy)


def chips_needed(n_crossbars: int, hw) -> int:
    """The fewest chips of ``hw`` that hold ``n_crossbars`` crossbars (at least one)."""
    return max(1, -(-n_crossbars // hw.crossbars_per_chip))


@public
def place_pass(part: Partition, hw: Hardware, strategy: str, chips: int | None, crossbars: int | None):
    """Place; with ``crossbars`` (time-multiplexing) the placement is only the spatial layout
    of a board with a crossbar per cluster, and the dataflow pass binds onto fewer."""
    from spikeforge.mapping.place import place

    if crossbars is not None and crossbars < part.n_clusters:
        chips = max(chips or hw.chips, chips_needed(part.n_clusters, hw))
    return place(part, hw, strategy=strategy, chips=chips)


@public
def dataflow_pass(placement: Placement, profile: Profile | None, hw: Hardware, strategy: str,
                  crossbars: int | None):
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
    return with_schedule(app, schedule), schedule, graph, platform


@public
def analyse_pass(graph: DataflowGraph, placement: Placement, profile: Profile, schedule: Schedule,
                 platform: Platform, timesteps: int):
    """Guaranteed throughput, latency, bottleneck, resources and energy (estimate)."""
    from spikeforge.dataflow.build import guarantee
    from spikeforge.hardware import estimate_energy, hop_counts

    part = placement.partition
    g = guarantee(graph, timesteps, part)
    hw = platform.hardware
    per = hw.core.crossbars_per_core
    xbar = np.array([schedule.binding[f"c{i}"] for i in range(part.n_clusters)], dtype=np.int64)
    core = xbar // per
    m = (part.traffic + part.partial_traffic).tocoo()
    noc, inter = hop_counts(hw, core[m.row], core[m.col])
    T = timesteps
    spikes = float(part.cluster_spikes.sum()) * T
    synops = float(profile.synops_per_sample + profile.input_macs_per_sample)
    time_s = T * g.period_ns * 1e-9
    cores_used = len(np.unique(core))
    chips_used = len(np.unique(core // hw.cores_per_chip))
    energy = estimate_energy(hw, spikes=spikes, synops=synops,
                             neuron_updates=float(part.cluster_columns.sum()) * T,
                             hops=float((m.data * noc).sum()) * T,
                             interchip_transfers=float((m.data * inter).sum()) * T,
                             time_s=time_s, cores_used=cores_used, chips_used=chips_used)
    assumptions = list(energy.assumptions) + [
        "event counts are the calibration profile's averages per inference",
        "static energy over T x the guaranteed period (steady-state pipelined inference)"]
    resources = {
        "clusters": part.n_clusters, "crossbars": len(set(xbar.tolist())),
        "cores": cores_used, "chips": chips_used,
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


class _Stages:
    """A progress line per pass (rich), timing each."""

    def __init__(self, console=None, quiet: bool = False):
        self.console, self.quiet, self.seconds = console, quiet, {}
        self.progress = None

    def __enter__(self):
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

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def run(self, name: str, fn: Callable, *args, total: int = 1, **kwargs):
        task = self.progress.add_task(name, total=total) if self.progress else None
        if task is not None and "on_batch" in kwargs:
            kwargs["on_batch"] = lambda n: self.progress.update(task, completed=n)
        elif "on_batch" in kwargs:
            kwargs["on_batch"] = None
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        self.seconds[name] = time.perf_counter() - t0
        if task is not None:
            self.progress.update(task, completed=total)
        return out


def _load(spec: str, samples: int | None, what: str):
    from spikeforge.datasets import load_data

    data = load_data(spec)
    if samples is not None:
        if samples < 1:
            raise InvalidDataError(f"{what}: {samples} samples asked for, need >= 1")
        data = data.take(samples)
    return data


@public
def compile_model(options: CompileOptions, *, console: Console | None = None, quiet: bool = False) -> Compiled:
    """Run the passes of :data:`PASSES` in order; export when ``options.output`` is set.

    Raises
    ------
    SpikeforgeError
        Any stage's error (unknown hardware, missing data, model or strategy, capacity...);
        nothing is written then.
    """
    from spikeforge.dataflow.binding import STRATEGIES
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
    for what, name, known in (("partitioner", o.partitioner, PARTITIONERS),
                              ("placer", o.placer, PLACERS), ("binding", o.binding, STRATEGIES)):
        if name not in known:
            raise InvalidDataError(f"unknown {what} {name!r}; known: {', '.join(sorted(known))}")
    if o.output:  # before any work: never replace a folder of the user's or one of the inputs
        from spikeforge.outputs import check_output_folder

        check_output_folder(o.output, _inputs(o))
    hw = load_hardware(o.hardware)                       # fail fast on a wrong name
    calib = _load(o.calib, o.calib_samples, "--calib")
    test = _load(o.data, o.data_samples, "--data") if o.data else None
    with _Stages(console, quiet) as st:
        net = st.run("import", import_pass, o.model, o.arch)
        snn = st.run("convert", convert_pass, net, calib.x)
        sim = st.run("profile", profile_pass, snn, calib, o.timesteps, on_batch=True,
                     total=len(calib))
        if test is not None:
            from spikeforge.sim.simulator import simulate

            run = simulate(snn, test.x, timesteps=o.timesteps, labels=test.y, counters=False)
            accuracy, accuracy_on = (run.accuracy or {}).get(o.timesteps), \
                f"{test.name or o.data} ({len(test)} samples, --data)"
        else:
            accuracy = (sim.accuracy or {}).get(o.timesteps)
            accuracy_on = f"{calib.name or o.calib} ({len(calib)} samples, calibration data)"
        part = st.run("partition", partition_pass, snn, sim.profile, hw, o.partitioner)
        pl = st.run("place", place_pass, part, hw, o.placer, o.chips, o.crossbars)
        app, schedule, graph, platform = st.run("dataflow", dataflow_pass, pl, sim.profile, hw,
                                                o.binding, o.crossbars)
        g, figures = st.run("analyse", analyse_pass, graph, pl, sim.profile, schedule, platform,
                            o.timesteps)
        figures = {"accuracy": accuracy, "accuracy_on": accuracy_on, **figures}
        compiled = Compiled(o, hw, snn, sim.profile, accuracy, accuracy_on, part, pl, app,
                            schedule, graph, platform, g, figures, st.seconds)
        if o.output:
            st.run("export", export_pass, o.output, compiled)
    compiled.seconds.update(st.seconds)
    return compiled


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
