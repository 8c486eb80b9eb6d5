"""Outputs of a co-design sweep: a rich table, CSV rows and a PNG of the Pareto front."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from spikeforge.api import public
from spikeforge.explore.codesign import SweepResult
from spikeforge.explore.target import Evaluation

__all__ = ["CSV_COLUMNS", "csv_rows", "plot_front", "sweep_table", "write_csv"]

CSV_COLUMNS = ("weight_bits", "timesteps", "pes", "crossbar_size", "accuracy", "latency_s", "energy_j", "synops",
               "effective_gops", "crossbars", "on_front", "knobs")


def knob_text(knobs: tuple[tuple[str, object], ...]) -> str:
    """``'event_dispatch_cycles=0.5;ops_per_cycle_per_pe=12'`` (empty without extra hardware axes)."""
    return ";".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in knobs)


@public
def csv_rows(evaluations: Iterable[Evaluation], front: Iterable[Evaluation]) -> list[dict[str, object]]:
    """One dict per evaluation with the :data:`CSV_COLUMNS` (empty string for a missing figure)."""
    on_front = set(front)
    rows = []
    for e in evaluations:
        p = e.point
        values = (p.weight_bits, p.timesteps, p.pes, p.crossbar_size, e.accuracy, e.latency_s, e.energy_j,
                  e.synops, e.effective_gops, e.crossbars, int(e in on_front), knob_text(p.knobs))
        rows.append({k: "" if v is None else v for k, v in zip(CSV_COLUMNS, values)})
    return rows


@public
def write_csv(path: str | os.PathLike, evaluations: Iterable[Evaluation], front: Iterable[Evaluation]) -> Path:
    """Write :func:`csv_rows` to ``path`` (the caller makes the folder atomic)."""
    path = Path(path)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_rows(evaluations, front))
    return path


def sweep_table(result: SweepResult, evaluations: Iterable[Evaluation] | None = None, *,
                title: str | None = None) -> Table:
    """Design points with accuracy, latency, energy and synaptic operations per inference, and
    effective GOPS (accelerators) or crossbars used; front points marked ``*``. The title (with
    the network and hardware names) is shown as it is: rich markup in it is escaped."""
    shown = result.evaluations if evaluations is None else tuple(evaluations)
    front = set(result.front)
    accel = result.target == "accelerator"
    table = Table(title=escape(title or f"co-design sweep: {result.network} on {result.hardware}, "
                                        f"{result.samples} samples ({len(result.front)} of "
                                        f"{len(result.evaluations)} points on the front); per inference"))
    knobs = any(e.point.knobs for e in shown)
    cols = ["front", "bits", "T", "PEs" if accel else "crossbar", *(["hardware"] if knobs else []), "accuracy",
            "latency", "energy", "synops", "GOPS" if accel else "crossbars"]
    for col in cols:
        table.add_column(col, justify="center" if col == "front" else "right")
    for e in shown:
        p = e.point
        hw = p.pes if accel else (p.crossbar_size or "preset")
        extra = f"{e.effective_gops:.3f}" if accel else f"{e.crossbars:,}"
        table.add_row("*" if e in front else "", str(p.weight_bits), str(p.timesteps), str(hw),
                      *([escape(knob_text(p.knobs).replace(";", " "))] if knobs else []), f"{100 * e.accuracy:.2f}%", f"{e.latency_s * 1e6:,.2f} µs", f"{e.energy_j * 1e6:,.3f} µJ",
                      f"{e.synops:,.0f}", extra)
    return table


def _front_labels(front: list[Evaluation], attr: str, scale: float) -> list[tuple[tuple[float, float], str]]:
    """One label per plotted position: tied points (same bits, T and figures, different
    hardware size) share it, e.g. ``'8b T2 16/32/64PE'``."""
    groups: dict[tuple, list[Evaluation]] = {}
    for e in front:
        key = (e.point.weight_bits, e.point.timesteps, getattr(e, attr) * scale, 100 * e.accuracy)
        groups.setdefault(key, []).append(e)
    labels = []
    for (bits, t, x, y), members in groups.items():
        sizes = [m.point.pes if m.point.pes is not None else m.point.crossbar_size for m in members]
        hw = "/".join(str(v) for v in sizes if v is not None)
        unit = "PE" if members[0].point.pes is not None else "x"
        labels.append(((x, y), f"{bits}b T{t}" + (f" {hw}{unit}" if hw else "")))
    return labels


@public
def plot_front(result: SweepResult, path: str | os.PathLike) -> Path:
    """PNG with accuracy against energy and against latency; every point grey, the front
    highlighted and labelled (bits, T, hardware size). Uses matplotlib's Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    front = set(result.front)
    for ax, attr, scale, unit in zip(fig.subplots(1, 2), ("energy_j", "latency_s"), (1e6, 1e6), ("µJ", "µs")):
        rest = [e for e in result.evaluations if e not in front]
        ax.scatter([getattr(e, attr) * scale for e in rest], [100 * e.accuracy for e in rest], s=18, c="0.7",
                   label="dominated")
        best = sorted(result.front, key=lambda e: getattr(e, attr))
        ax.plot([getattr(e, attr) * scale for e in best], [100 * e.accuracy for e in best], "o", c="tab:red",
                ms=6, label="Pareto front (acc., latency, energy)")
        for xy, label in _front_labels(best, attr, scale):
            ax.annotate(label, xy, fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel(f"{attr.split('_')[0]} per inference ({unit}, log)")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{result.network} on {result.hardware}: {len(result.evaluations)} design points, "
                 f"{result.samples} samples")
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path
