"""What a report is made from: :func:`load_report` reads what ``spikeforge report`` is pointed at —
a compile artifact folder, a ``map`` placement JSON, an SDF3 graph (``analyse``), a ``codesign``
output folder or a ``demo`` folder — and builds its :class:`~spikeforge.report.page.Page`.

The pages of an SDF3 graph (:func:`graph_page`), a co-design sweep (:func:`sweep_page`) and a demo
(:func:`demo_page`) are here; those of mapped runs in :mod:`spikeforge.report.runs`. The commands'
``--report`` options call the same builders with the values they hold. Every figure shown is read
from the input or computed from it and said so; estimates are labelled with their assumptions.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spikeforge.api import public
from spikeforge.errors import (
    InputPathError,
    InvalidDataError,
    ModelFileError,
    SpikeforgeError,
)
from spikeforge.report.figures import line_chart, pareto_chart
from spikeforge.report.page import Fact, Figure, Page, Section, Table
from spikeforge.report.sections import (
    MAX_REPORT_JSON_BYTES,
    accuracy_section,
    cell,
    dataflow_section,
    environment_section,
    fact,
    layer_rows,
    layers_section,
    read_json,
    settings_section,
)

if TYPE_CHECKING:
    from spikeforge.ir.dataflow import DataflowGraph

__all__ = ["CHOSEN_ACCURACY_DROP", "demo_page", "graph_page", "load_report", "sweep_page"]


#: The chosen co-design point: the lowest-energy point of the front within this accuracy (a
#: fraction, 0.01 = one point) of the front's best.
CHOSEN_ACCURACY_DROP = 0.01


@public
def graph_page(graph: DataflowGraph, source: str, *, report: dict | None = None, settings: dict | None = None) -> Page:
    """The report of an SDF3 dataflow graph (``analyse``): guaranteed throughput, period,
    latency, the critical cycle drawn, the self-timed schedule of one iteration and the buffer
    trade-off. ``report`` is :func:`spikeforge.dataflow.report.analyse_report`'s result (run
    here when not given).

    Raises
    ------
    InvalidGraphError, DeadlockError
        From the analysis.
    """
    from spikeforge.dataflow.report import analyse_report

    if report is None:
        report = analyse_report(graph)
        report.pop("_raw", None)
    crit = report["critical_cycle"]["actors"]
    facts = [
        fact("guaranteed throughput", _as_float(report["throughput"]),
             f"{_shown(report['throughput'])} iterations per time unit", key="analyse.throughput"),
        fact("period", _as_float(report["period"]), f"{_shown(report['period'])} time units per iteration",
             key="analyse.period"),
        fact("latency (first iteration)", _as_float(report["latency"]), f"{_shown(report['latency'])} time units",
             key="analyse.latency"),
        fact("bottleneck", " → ".join(crit) or "none (no cycle limits the throughput)", key="analyse.bottleneck"),
        fact("actors / channels", report["actors"], f"{report['actors']:,} / {report['channels']:,}",
             key="analyse.actors"),
    ]
    sections = [dataflow_section(graph, crit, facts, "time units", notes=(
        ("Max-plus analysis (dataflow/analysis.py), exact (fractions) when every execution time is an integer or "
        "a fraction; the critical cycle's actors and channels are drawn in red."),))]
    points = report.get("buffer_tradeoff", [])
    if points:
        rows = tuple((cell(p["total_size"]), cell(p["memory"]),
                      Fact("", _shown(p["throughput"]), _as_float(p["throughput"]))) for p in points)
        chart = line_chart({"Pareto points": ([p["total_size"] for p in points],
                                              [_as_float(p["throughput"]) for p in points])},
                           "total buffer size (tokens)", "throughput (iterations per time unit)")
        sections.append(Section("buffers", "Buffer size against throughput", (
            Figure("buffer-chart", "Buffer trade-off", chart, "SDF3's storage distributions on the Pareto front."),
            Table("buffer-table", f"{len(points)} Pareto points", ("total size (tokens)", "memory", "throughput"),
                  rows)), notes=() if report.get("buffer_tradeoff_complete") else
            ("The search stopped before the throughput of unbounded buffers (raise --max-steps).",)))
    sections += [settings_section({"graph": source, "name": report.get("graph")} | (settings or {}), "Of the analysis."),
                 environment_section()]
    return Page(f"dataflow graph {report.get('graph') or Path(source).name}", "analyse", source, tuple(sections),
                tuple(facts[:3]))


def _shown(value: Any) -> str:
    """A figure of :func:`~spikeforge.dataflow.report.analyse_report`: ``"p/q"`` with its decimal value,
    a float to 6 significant digits, ``"inf"`` as it is."""
    if isinstance(value, str) and value.endswith("/1"):
        return value[:-2]
    if isinstance(value, str) and "/" in value:
        return f"{value} ({_as_float(value):.6g})"
    return value if isinstance(value, str) else f"{value:.6g}"


def _as_float(value: Any) -> float:
    if isinstance(value, str):
        if "/" in value:
            p, q = value.split("/")
            return int(p) / int(q)
        return float(value)
    return float(value)


#: The range (inclusive; None: unbounded) of each figure of a sweep row; a value outside it, NaN or
#: an infinity is a damaged file, not a design point.
_SWEEP_RANGES = {"bits": (1, 64), "T": (1, None), "size": (1, None), "accuracy": (0, 1), "latency_s": (0, None),
                 "energy_j": (0, None), "synops": (0, None)}


def _sweep_points(rows: Sequence[dict], source: str) -> list[dict]:
    points = []
    for i, r in enumerate(rows):
        try:
            size = r.get("pes") or r.get("crossbar_size")
            points.append({"bits": int(r["weight_bits"]), "T": int(r["timesteps"]), "size": int(size) if size else None,
                           "unit": "PE" if r.get("pes") else "x", "accuracy": float(r["accuracy"]),
                           "latency_s": float(r["latency_s"]), "energy_j": float(r["energy_j"]),
                           "synops": float(r["synops"]), "front": str(r.get("on_front")) in ("1", "True")})
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{source}: row {i + 2}: not a co-design sweep row ({type(exc).__name__}: {exc})") \
                from None
        p = points[-1]
        for key, (low, high) in _SWEEP_RANGES.items():
            value = p[key]
            if value is not None and not (math.isfinite(value) and low <= value and (high is None or value <= high)):
                raise ModelFileError(f"{source}: row {i + 2}: {key} {value!r} is not in [{low}, "
                                     f"{'∞' if high is None else high}] (a damaged co-design sweep)")
        p["label"] = f"{p['bits']}b T{p['T']}" + (f" {p['size']}{p['unit']}" if p["size"] else "")
    if not points:
        raise ModelFileError(f"{source}: no design points")
    return points


def _chosen(front: Sequence[dict], drop: float) -> dict:
    best = max(p["accuracy"] for p in front)
    return min((p for p in front if p["accuracy"] >= best - drop), key=lambda p: (p["energy_j"], p["latency_s"]))


@public
def sweep_page(rows: list, source: str, *, meta: dict | None = None, settings: dict | None = None,
               accuracy_drop: float = CHOSEN_ACCURACY_DROP) -> Page:
    """The report of a co-design sweep: its rows as ``sweep.csv`` has them (dicts of
    :data:`spikeforge.explore.report.CSV_COLUMNS`), ``meta`` naming the network, hardware and
    samples where known. The chosen point is the front's lowest-energy point within
    ``accuracy_drop`` of its best accuracy.

    Raises
    ------
    ModelFileError
        A row is not a sweep row, or there are none.
    InvalidDataError
        ``accuracy_drop`` outside [0, 1].
    """
    if not 0 <= accuracy_drop <= 1:
        raise InvalidDataError(f"accuracy drop {accuracy_drop}: must be in [0, 1]")
    points = _sweep_points(rows, source)
    front = [p for p in points if p["front"]] or points
    chosen = _chosen(front, accuracy_drop)
    meta = meta or {}
    acc: dict[str, dict[int, float]] = {}
    for p in points:
        acc.setdefault(f"{p['bits']}-bit weights", {})[p["T"]] = max(p["accuracy"], acc.get(
            f"{p['bits']}-bit weights", {}).get(p["T"], 0.0))
    table_rows = tuple((Fact("", "★" if p is chosen else "*" if p["front"] else ""), cell(p["bits"]), cell(p["T"]),
                        cell(p["size"]), Fact("", f"{100 * p['accuracy']:.2f}%", p["accuracy"]),
                        Fact("", f"{p['latency_s'] * 1e6:,.2f} µs", p["latency_s"]),
                        Fact("", f"{p['energy_j'] * 1e6:,.3f} µJ", p["energy_j"]), cell(p["synops"]))
                       for p in points)
    chosen_text = (f"{chosen['label']}: {100 * chosen['accuracy']:.2f}%, {chosen['latency_s'] * 1e6:,.2f} µs, "
                   f"{chosen['energy_j'] * 1e6:,.3f} µJ per inference")
    codesign = Section("codesign", "Co-design: Pareto front", (
        fact("design points", len(points), key="codesign.points"),
        fact("on the Pareto front", len(front), key="codesign.front"),
        fact("chosen point", chosen["label"], chosen_text, key="codesign.chosen"),
        Figure("pareto-chart", "Accuracy against energy and latency", pareto_chart(points, front, chosen),
               "Every design point (grey), the Pareto front of accuracy, latency and energy (red) and the chosen "
               f"point (ringed): the front's lowest-energy point within {100 * accuracy_drop:g} accuracy point(s) of "
               "its best."),
        Table("sweep-table", "design points (★ chosen, * on the front)",
              ("", "bits", "T", "PEs" if points[0]["unit"] == "PE" else "crossbar", "accuracy", "latency", "energy",
               "synops"), table_rows)), estimate=True, assumptions=(
        ("latency and energy per inference are estimates: the accelerator model (cycle-approximate, from the integer "
        "network's spike trains, E = board power × latency) or, on crossbar chips, the mapping's guarantee and "
        "event energies"),
        "accuracy is measured: the integer simulation on the evaluation samples"))
    samples = meta.get("samples")
    accuracy = accuracy_section(acc, {}, [], "timesteps T (log)", "Best accuracy over hardware sizes, one line per "
                                 "weight bit-width" + (f"; {samples} samples." if samples else "."))
    sections = [accuracy, codesign, settings_section(meta | (settings or {}), "Of the sweep."), environment_section()]
    title = f"co-design of {meta['network']} on {meta['hardware']}" if "network" in meta else "co-design sweep"
    return Page(title, "codesign", source, tuple(sections), (codesign.items[2],))


@public
def demo_page(folder: str | os.PathLike) -> Page:
    """The report of a ``spikeforge demo`` folder: the network's layers and accuracy against T of
    each model beside its ANN.

    Raises
    ------
    ModelFileError
        No readable ``results.json`` or ``snn/`` network in it.
    """
    from spikeforge.ir.serialize import load_network

    folder = Path(folder)
    results = read_json(folder / "results.json", "demo results")
    try:
        models = results["models"]
        series = {f"SNN ({k})": {int(t): float(a) for t, a in m["snn_accuracy"].items()} for k, m in models.items()}
        ann = {k: float(m["ann_accuracy"]) for k, m in models.items()}
        spikes = {k: float(m["spikes_per_image_T32"]) for k, m in models.items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(f"{folder / 'results.json'}: not demo results ({type(exc).__name__}: {exc})") from None
    net = load_network(folder / "snn")
    facts = [fact(f"ANN accuracy ({k})", v, f"{100 * v:.2f}%", key=f"demo.ann.{k}") for k, v in ann.items()]
    facts += [fact(f"spikes per image at T=32 ({k})", v, f"{v:,.0f}", key=f"demo.spikes.{k}")
              for k, v in spikes.items()]
    sections = [
        layers_section(layer_rows(net), None, None, note="The demo's results record activity per image, "
                        "not per layer; `spikeforge simulate` prints it per layer."),
        accuracy_section(series, {f"ANN ({k})": v for k, v in ann.items()}, facts, "timesteps T (log)",
                          f"Top-1 on the {results.get('dataset', '')} test set, binary spikes; dashed: the ANNs."),
        settings_section({"dataset": results.get("dataset"), "timesteps": results.get("timesteps")}, "As in results.json."),
        environment_section()]
    best = max(series.items(), key=lambda kv: max(kv[1].values()))
    t_best = max(best[1], key=lambda t: best[1][t])
    return Page(f"demo: {net.name}", "demo", str(folder), tuple(sections),
                (fact(f"best SNN accuracy ({best[0]})", best[1][t_best], f"{100 * best[1][t_best]:.2f}% at T={t_best}",
                       key="demo.best"),))


@public
def load_report(path: str | os.PathLike, *, hardware: str | None = None) -> Page:
    """The report of what ``path`` is: a compile artifact folder, a co-design folder, a demo
    folder, a placement JSON or an SDF3 XML graph.

    Raises
    ------
    InputPathError
        ``path`` does not exist.
    ModelFileError
        ``path`` is none of those, or is damaged (the message names the file and the field).
    """
    p = Path(path)
    if not p.exists():
        raise InputPathError(f"{p}: no such file or folder")
    if p.is_dir():
        if (p / "artifact.json").exists():
            from spikeforge.artifact import load_artifact
            from spikeforge.report.runs import artifact_page

            return artifact_page(load_artifact(p))
        if (p / "sweep.csv").exists():
            return _sweep_folder(p)
        if (p / "results.json").exists() and (p / "snn").is_dir():
            return demo_page(p)
        raise ModelFileError(f"{p}: not a compile artifact (artifact.json), co-design (sweep.csv) or demo "
                             "(results.json and snn/) folder")
    if p.suffix.lower() == ".xml":
        from spikeforge.dataflow.sdf3 import read_sdf3

        return graph_page(read_sdf3(p), str(p))
    try:
        doc = read_json(p, "placement JSON")
    except SpikeforgeError as exc:
        raise ModelFileError(f"{exc}; `spikeforge report` reads a compile artifact, co-design or demo folder, a "
                             "placement JSON or an SDF3 graph") from None
    hw = None
    if hardware is not None:
        from spikeforge.hardware import load_hardware

        hw = load_hardware(hardware)
    from spikeforge.report.runs import placement_page

    return placement_page(doc, str(p), hardware=hw)


def _sweep_folder(folder: Path) -> Page:
    from spikeforge.resources import check_input_file

    path = folder / "sweep.csv"
    try:
        check_input_file(path, MAX_REPORT_JSON_BYTES, "co-design sweep CSV")
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except InputPathError as exc:
        raise ModelFileError(str(exc)) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ModelFileError(f"{path}: unreadable ({exc})") from None
    return sweep_page(rows, str(folder))
