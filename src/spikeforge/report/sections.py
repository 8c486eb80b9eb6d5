"""The sections every report is built of: layers, accuracy, mapping, dataflow guarantee, energy,
settings and the machine; and the formatting of the numbers in them.

Each builder takes plain values (lists of layer rows, a :class:`~spikeforge.report.mesh.MappingView`,
a dataflow graph, energies) and returns a :class:`~spikeforge.report.page.Section`; the pages of
:mod:`spikeforge.report.sources` and :mod:`spikeforge.report.runs` assemble them. Figures computed
here rather than read from the input say so: link traffic and per-core load
(:mod:`spikeforge.report.mesh`), the self-timed schedule of one iteration (simulated here with
:func:`spikeforge.dataflow.selftimed.simulate`).
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spikeforge.errors import InputPathError, ModelFileError
from spikeforge.report.figures import (
    bar_chart,
    gantt_chart,
    graph_svg,
    heatmap,
    line_chart,
)
from spikeforge.report.mesh import MappingView, chip_matrix, mesh_svg
from spikeforge.report.page import Fact, Figure, Section, Table

if TYPE_CHECKING:
    from spikeforge.ir.dataflow import DataflowGraph
    from spikeforge.ir.network import Network
    from spikeforge.sim.simulator import Profile

__all__ = ["ENERGY_KEYS", "GANTT_FIRINGS", "GANTT_ROWS", "GRAPH_ACTORS", "MAX_REPORT_JSON_BYTES"]


#: Graphs up to this many actors are drawn whole; larger ones as their critical cycle.
GRAPH_ACTORS = 120


#: The Gantt chart simulates one iteration when it has at most this many firings.
GANTT_FIRINGS = 200_000


#: Rows of the Gantt chart: the critical cycle's actors first, then the busiest.
GANTT_ROWS = 40


#: Largest JSON document read (a placement of U-Net-512 on ``loihi`` is about 100 MB).
MAX_REPORT_JSON_BYTES = 4 << 30


def read_json(path: Path, what: str) -> Any:
    """A JSON document, size-checked first; every refusal a one-line :class:`ModelFileError`."""
    from spikeforge.resources import check_input_file

    try:
        check_input_file(path, MAX_REPORT_JSON_BYTES, what)
        return json.loads(path.read_bytes())
    except InputPathError as exc:
        raise ModelFileError(str(exc)) from None
    except RecursionError:
        raise ModelFileError(f"{path}: not valid JSON (nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{path}: not valid JSON ({str(exc).splitlines()[0][:200]})") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror})") from None


def grouped(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def si(value: float, unit: str) -> str:
    """``2.169e-06, 'J'`` -> ``'2.169 µJ'``."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    for scale, prefix in ((1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")):
        if abs(value) >= scale:
            return f"{value / scale:.4g} {prefix}{unit}"
    return f"{value / 1e-15:.4g} f{unit}"


def fact(label: str, value: Any, shown: str | None = None, key: str = "") -> Fact:
    if shown is None:
        shown = grouped(value) if isinstance(value, int) else f"{value:,.6g}" if isinstance(value, float) else str(value)
    return Fact(label, shown, value, key)


def cell(value: Any, digits: int = 0) -> Fact:
    if value is None:
        return Fact("", "–")
    if isinstance(value, str):
        return Fact("", value, value)
    return Fact("", grouped(value, digits) if digits >= 0 else f"{value:.3g}", value)


def environment_section() -> Section:
    from importlib.metadata import PackageNotFoundError, version

    facts = [fact("report made", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))]
    for package in ("spikeforge", "numpy", "scipy", "matplotlib", "networkx", "torch"):
        if package == "torch" and "torch" not in sys.modules:
            continue  # never imported for a report: its version is what compile ran with, not known here
        try:
            facts.append(fact(package, version(package)))
        except PackageNotFoundError:
            continue
    facts.append(fact("python", platform.python_version()))
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    facts += [fact("machine", f"{platform.system()} {platform.release()}, {platform.machine()}"),
              fact("processor", f"{cpu}, {os.cpu_count()} logical cores")]
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        facts.append(fact("memory", memory, f"{memory:.1f} GiB"))
    except (ValueError, OSError, AttributeError):
        pass
    return Section("environment", "Versions and machine (of this report)", tuple(facts))


def settings_section(settings: dict[str, Any], note: str) -> Section:
    def shown(v: Any) -> Any:
        if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
            return "; ".join(v)
        return v if isinstance(v, (int, float, str)) else json.dumps(v, ensure_ascii=False)

    facts = tuple(fact(k, shown(v), key=f"settings.{k}") for k, v in settings.items()
                  if v is not None and not callable(v))
    return Section("settings", "Settings of the run", facts, notes=(note,))


def layer_rows(net: Network) -> list[dict]:
    return [{"name": r.name, "type": r.kind, "shape": list(r.shape), "neurons": r.neurons, "synapses": r.synapses}
            for r in net.summary()]


def layers_section(layers: Sequence[dict], view: MappingView | None, profile: Profile | None,
                    rates: dict[str, float] | None = None, note: str = "") -> Section:
    """The layer table: neurons, synapses, firing rate and synaptic operations per layer (from
    ``profile``, else ``rates`` where the input stores them), and where a mapping is given each
    layer's clusters and chips."""
    mapped: dict[str, tuple[int, int]] = {}
    if view is not None:
        chip = view.cluster_chip
        for li, name in enumerate(view.layer_names):
            sel = view.cluster_layer == li
            if sel.any():
                mapped[name] = (int(sel.sum()), len(np.unique(chip[sel])))
    prof = {layer.name: layer for layer in profile.layers} if profile is not None else {}
    rows = []
    for r in layers:
        p = prof.get(r["name"])
        rate = (p.spikes / (profile.samples * profile.timesteps * p.neurons) if p is not None and p.neurons else
                (rates or {}).get(r["name"]))
        synops = p.synops / profile.samples if p is not None and p.synops else None
        clusters, chips = mapped.get(r["name"], (None, None))
        rows.append((cell(r["name"]), cell(r.get("type", "")), cell("×".join(map(str, r.get("shape", ())))),
                     cell(r["neurons"]), cell(r.get("synapses")),
                     Fact("", "–") if rate is None else Fact("", f"{rate:.4f}", rate),
                     cell(synops), cell(clusters), cell(chips)))
    totals = (cell("total"), cell(""), cell(""), cell(sum(r["neurons"] for r in layers)),
              cell(sum(r.get("synapses") or 0 for r in layers)), Fact("", ""),
              cell(profile.synops_per_sample if profile is not None else None),
              cell(view.clusters if view is not None else None),
              cell(len(np.unique(view.cluster_chip)) if view is not None else None))
    notes = []
    if profile is not None:
        notes.append(f"Firing rate: spikes per neuron per timestep; synaptic operations per inference; from the "
                     f"profile of {profile.samples} samples at T = {profile.timesteps}.")
    if note:
        notes.append(note)
    table = Table("layers-table", f"{len(layers)} layers", ("layer", "type", "shape", "neurons", "synapses",
                                                            "firing rate", "synaptic ops", "clusters", "chips"),
                  tuple(rows) + (totals,))
    return Section("layers", "Layers", (table,), notes=tuple(notes))


def mapping_section(view: MappingView, bound: float | None, bound_note: str, facts: Sequence[Fact] = ()) -> Section:
    hw = view.hardware
    achieved = view.interchip_traffic()
    used, m = chip_matrix(view)
    svg, what = mesh_svg(view)
    items: list = [
        fact("hardware", f"{hw.name}: {hw.board.chips} chip(s) of {hw.cores_per_chip} cores × "
                          f"{hw.core.crossbars_per_core} crossbar(s)", key="hardware"),
        fact("clusters", view.clusters, key="mapping.clusters"),
        fact("cores used", len(np.unique(view.cluster_core)), key="mapping.cores"),
        fact("chips used", len(used), key="mapping.chips"),
        fact("inter-chip traffic (achieved)", achieved, f"{achieved:,.0f} tokens per inference",
              key="traffic.interchip"),
    ]
    if bound is not None:
        ratio = f" ({achieved / bound:.2f}× the bound)" if bound > 0 else ""
        items.append(fact("inter-chip traffic, least possible", bound,
                           f"{bound:,.0f} tokens per inference (lower bound, any placement){ratio}",
                           key="traffic.bound"))
    items += list(facts)
    items.append(Figure("mesh", "Chips and cores", svg,
                        f"Shown {what}. Fill: load (neuron columns over capacity); small squares: clusters, "
                        "coloured by layer; lines: links coloured by the tokens (spikes and partial sums) they "
                        "carry per inference under X-then-Y routes. Hover for details."))
    if len(used) > 1:
        labels = [str(c) for c in used]
        items.append(Figure("interchip-matrix", "Inter-chip traffic", heatmap(
            m, labels, f"{len(used)} chips in use", "tokens per inference", annotate=len(used) <= 12),
            f"Tokens per inference from each chip (row) to each chip (column); the total is {achieved:,.0f}."))
        if bound is not None:
            items.append(Figure("traffic-bound", "Achieved inter-chip traffic and its lower bound", bar_chart(
                ["achieved (this placement)", "least possible (bound)"], [achieved, bound], "tokens per inference",
                colours=["#1f77b4", "#7f7f7f"], value_text=[f"{achieved:,.0f}", f"{bound:,.0f}"]), bound_note))
    else:
        items.append(Fact("inter-chip traffic matrix", "one chip in use: no traffic between chips", None))
    return Section("mapping", "Mapping on the hardware", tuple(items),
                   notes=(("Traffic per inference = per timestep × T. Link loads and per-core load are computed for "
                          "this report from the stored placement and streams."),))


def _cycle_channels(graph: DataflowGraph, actors: Sequence[str]) -> list[str]:
    """The channels linking consecutive actors of a cycle (the last back to the first)."""
    out = []
    for a, b in zip(actors, list(actors[1:]) + list(actors[:1])):
        out += [c.name for c in graph.channels if c.src == a and c.dst == b]
    return out


def _graph_figure(graph: DataflowGraph, critical: Sequence[str], critical_channels: Sequence[str]) -> Figure:
    hot = set(critical)
    if len(graph.actors) <= GRAPH_ACTORS:
        nodes = [a.name for a in graph.actors]
        what = f"all {len(nodes)} actors and {len(graph.channels)} channels"
    else:
        keep = set(hot)
        for c in graph.channels:
            if c.src in hot and c.dst in hot:
                keep.update((c.src, c.dst))
        nodes = [a.name for a in graph.actors if a.name in keep]
        what = f"the critical cycle's {len(nodes)} actors of {len(graph.actors):,} (the graph is too large to draw)"
    shown = set(nodes)
    edges = [(c.name + ("*" if c.initial_tokens else ""), c.src, c.dst) for c in graph.channels
             if c.src in shown and c.dst in shown]
    tips = {a.name: f"actor {a.name}: execution time {float(a.execution_time):,.6g}"
                    + (f", on {a.processor}" if a.processor else "") for a in graph.actors if a.name in shown}
    tips.update({c.name: f"channel {c.name}: {c.src} → {c.dst}, rates {c.production}/{c.consumption}, "
                         f"{c.initial_tokens} initial token(s)" for c in graph.channels
                 if c.src in shown and c.dst in shown})
    return Figure("dataflow-graph", "Dataflow graph", graph_svg(nodes, edges, critical, critical_channels, tips),
                  f"Showing {what}, in layers along the channels without initial tokens; dashed: channels "
                  "with initial tokens (back-edges, self-loops); red: the critical cycle, which sets the period.")


def _gantt_figure(graph: DataflowGraph, critical: Sequence[str], unit: str) -> Figure | Fact:
    from spikeforge.dataflow.consistency import repetition_vector
    from spikeforge.dataflow.selftimed import simulate

    q = repetition_vector(graph)
    firings = sum(q.values())
    if firings > GANTT_FIRINGS:
        return Fact("self-timed schedule", f"not drawn: one iteration fires {firings:,} actors, more than the "
                                           f"{GANTT_FIRINGS:,} this report simulates")
    run = simulate(graph, 1, warmup=0)
    spans: dict[str, list[tuple[float, float]]] = {}
    for f in run.trace:
        spans.setdefault(f.actor, []).append((float(f.start), float(f.end)))
    hot = [a for a in dict.fromkeys(critical) if a in spans]
    rest = sorted((a for a in spans if a not in set(hot)), key=lambda a: -sum(e - s for s, e in spans[a]))
    shown = hot + rest[:max(0, GANTT_ROWS - len(hot))]
    shown.sort(key=lambda a: (spans[a][0][0], a))
    end = float(run.iteration_end[0])
    rows = [(a, spans[a], a in set(hot)) for a in shown]
    hidden = len(spans) - len(shown)
    return Figure("gantt", "Self-timed schedule of one iteration", gantt_chart(
        rows, f"time ({unit})", marks={"iteration complete": end}),
        "The first iteration from an empty pipeline, every firing at its worst-case execution time, as the "
        "self-timed simulator runs it (dataflow/selftimed.py); red: actors of the critical cycle. "
        + (f"{hidden:,} less busy actors not shown." if hidden else "Every actor shown."))


def dataflow_section(graph: DataflowGraph, critical: Sequence[str], facts: Sequence[Fact], unit: str,
                      notes: Sequence[str] = ()) -> Section:
    channels = _cycle_channels(graph, critical)
    items = list(facts) + [fact("critical cycle", " → ".join(critical) or "none", key="dataflow.critical"),
                           _graph_figure(graph, critical, channels), _gantt_figure(graph, critical, unit)]
    return Section("dataflow", "Dataflow guarantee", tuple(items), notes=tuple(notes))


ENERGY_KEYS = (("spikes", "spikes"), ("synops", "synaptic operations"), ("neuron_updates", "neuron updates"),
                ("hops", "routing hops"), ("interchip", "inter-chip transfers"), ("static", "static"))


def energy_section(joules: dict[str, float], shown: dict[str, str], total: float, assumptions: Sequence[str]) -> Section:
    labels = [label for _, label in ENERGY_KEYS]
    values = [joules[key] for key, _ in ENERGY_KEYS]
    texts = [shown.get(label) or si(v, "J") for label, v in zip(labels, values)]
    facts = [fact(f"{label} (estimate)", v, t, key=f"energy.{key}")
             for (key, label), v, t in zip(ENERGY_KEYS, values, texts)]
    facts.append(fact("total per inference (estimate)", total, shown.get("total (estimate)") or si(total, "J"),
                       key="energy.total"))
    scale, unit = next(((s, u) for s, u in ((1, "J"), (1e3, "mJ"), (1e6, "µJ"), (1e9, "nJ")) if total * s >= 1),
                       (1e12, "pJ"))
    chart = bar_chart(labels, [v * scale for v in values], f"energy per inference ({unit}) — estimate",
                      value_text=texts)
    return Section("energy", "Energy per inference by source", tuple(facts) + (Figure(
        "energy-chart", "Energy per inference by source (estimate)", chart,
        "From the hardware preset's per-event energies and the profiled event counts; see the assumptions."),),
        estimate=True, assumptions=tuple(assumptions))


def joules_of(text: str) -> float:
    """``'36.09 nJ'`` -> 3.609e-08 (the artifact stores energies as the CLI prints them)."""
    number, _, unit = text.strip().partition(" ")
    scale = {"J": 1.0, "mJ": 1e-3, "µJ": 1e-6, "nJ": 1e-9, "pJ": 1e-12, "fJ": 1e-15}.get(unit)
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if scale is None or not math.isfinite(value):
        raise ModelFileError(f"energy {text!r}: not a number of joules")
    return value * scale


def accuracy_section(series: dict[str, dict[int, float]], references: dict[str, float], facts: Sequence[Fact],
                      xlabel: str, note: str) -> Section:
    items: list = list(facts)
    if any(len(v) > 1 for v in series.values()):
        chart = line_chart({k: (sorted(v), [100 * v[t] for t in sorted(v)]) for k, v in series.items()},
                           xlabel, "top-1 accuracy (%)", references={k: 100 * v for k, v in references.items()},
                           log_x=True)
        items.append(Figure("accuracy-chart", "Accuracy against timesteps", chart, note))
    ts = sorted({t for v in series.values() for t in v})
    rows = tuple((cell(t),) + tuple(Fact("", f"{100 * v[t]:.2f}%", v[t]) if t in v else Fact("", "–")
                                     for v in series.values()) for t in ts)
    items.append(Table("accuracy-table", "top-1 accuracy per T", ("T",) + tuple(series), rows))
    return Section("accuracy", "Accuracy", tuple(items))


def check_field(condition: bool, where: str, what: str) -> None:
    if not condition:
        raise ModelFileError(f"{where}: {what}")
