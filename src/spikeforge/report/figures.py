"""The report's figures as inline SVG: charts drawn by matplotlib (``svg.fonttype = none``, so
their text stays text: small, searchable, printable) and hand-drawn SVG where every element carries
a tooltip (the dataflow graph here, the chip mesh in :mod:`spikeforge.report.mesh`).

Ids inside each SVG get a per-figure prefix, so several figures share one HTML page without
clashing clip paths or markers. Raster parts (a heat map's image) are ``data:`` URLs inside the SVG.
"""

from __future__ import annotations

import html
import io
import itertools
import math
import re
from collections.abc import Sequence

__all__ = ["HIGHLIGHT", "PALETTE"]

#: Colours of categories (layers, series): matplotlib's tab10.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
HIGHLIGHT = "#d62728"
_counter = itertools.count()


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def svg_text(fig) -> str:
    """A matplotlib figure as SVG markup for inline use: no XML prolog, scalable, unique ids."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "spikeforge", "font.size": 9}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    prefix = f"f{next(_counter)}-"
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{prefix}{m.group(1)})", text)
    return re.sub(r'xlink:href="#([^"]+)"', lambda m: f'xlink:href="#{prefix}{m.group(1)}"', text)


def _plain_ticks(axis) -> None:
    """Tick labels of a log axis as plain numbers (``20``, not ``2×10¹``)."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def line_chart(series: dict[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str, *,
               references: dict[str, float] | None = None, log_x: bool = False) -> str:
    """Lines with markers, one per series; ``references`` as dashed horizontal lines."""
    fig = _figure(6.4, 3.4)
    ax = fig.subplots()
    for (label, (xs, ys)), colour in zip(series.items(), itertools.cycle(PALETTE)):
        ax.plot(list(xs), list(ys), "o-", color=colour, label=label, ms=4)
    for (label, y), colour in zip((references or {}).items(), itertools.cycle(PALETTE[::-1])):
        ax.axhline(y, ls="--", lw=1, color=colour, label=label)
    if log_x:
        ax.set_xscale("log", base=2)
        _plain_ticks(ax.xaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return svg_text(fig)


def bar_chart(labels: Sequence[str], values: Sequence[float], xlabel: str, *, colours: Sequence[str] | None = None,
              value_text: Sequence[str] | None = None) -> str:
    """Horizontal bars, top to bottom in the order given, each labelled with its value."""
    fig = _figure(6.4, 0.5 + 0.32 * max(1, len(labels)))
    ax = fig.subplots()
    y = list(range(len(labels)))[::-1]
    ax.barh(y, list(values), color=list(colours) if colours else PALETTE[0])
    ax.set_yticks(y, list(labels))
    top = max([v for v in values if math.isfinite(v)] + [0.0])
    for yi, v, t in zip(y, values, value_text or [f"{v:,.4g}" for v in values]):
        ax.text(v + 0.01 * (top or 1), yi, t, va="center", fontsize=8)
    ax.set_xlim(0, (top or 1) * 1.25)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    return svg_text(fig)


def heatmap(matrix, labels: Sequence[str], title: str, unit: str, *, annotate: bool) -> str:
    """A square matrix as a log-coloured image (source row, destination column), values in the
    cells when ``annotate``; empty cells white."""
    import numpy as np
    from matplotlib.colors import LogNorm

    m = np.asarray(matrix, dtype=np.float64)
    n = len(m)
    fig = _figure(6.2 if n > 1 else 4, 5.2 if n > 1 else 3)
    ax = fig.subplots()
    positive = m[m > 0]
    shown = np.ma.masked_where(m <= 0, m)
    norm = LogNorm(vmin=positive.min(), vmax=max(positive.max(), positive.min() * 1.0001)) if positive.size else None
    image = ax.imshow(shown, cmap="inferno_r", norm=norm, interpolation="nearest", aspect="equal")
    if positive.size:
        fig.colorbar(image, ax=ax, shrink=0.8, label=unit)
    step = max(1, math.ceil(n / 24))
    ticks = list(range(0, n, step))
    ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=90 if n > 8 else 0, fontsize=7)
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=7)
    ax.set_xlabel("to chip")
    ax.set_ylabel("from chip")
    ax.set_title(title, fontsize=9)
    if annotate:
        for (i, j), v in np.ndenumerate(m):
            if v > 0:
                ax.text(j, i, f"{v:,.0f}", ha="center", va="center", fontsize=6,
                        color="white" if norm is not None and norm(v) > 0.6 else "black")
    return svg_text(fig)


def gantt_chart(rows: Sequence[tuple[str, Sequence[tuple[float, float]], bool]], xlabel: str, *,
                marks: dict[str, float] | None = None) -> str:
    """One row per resource with its busy intervals; highlighted rows (the critical cycle) in red;
    ``marks`` as labelled vertical lines."""
    fig = _figure(7.6, 0.7 + 0.22 * max(1, len(rows)))
    ax = fig.subplots()
    for k, (label, spans, hot) in enumerate(rows):
        y = len(rows) - 1 - k
        ax.broken_barh([(s, max(e - s, 0.0)) for s, e in spans], (y - 0.38, 0.76),
                       facecolors=HIGHLIGHT if hot else PALETTE[0], edgecolors="white", linewidth=0.4)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows][::-1], fontsize=7)
    for (label, x), colour in zip((marks or {}).items(), itertools.cycle(("#444", "#8a5a00"))):
        ax.axvline(x, ls="--", lw=1, color=colour)
        ax.text(x, len(rows) - 0.4, f"{label} ", fontsize=7, color=colour, va="bottom", ha="right")
    ax.set_ylim(-0.7, len(rows) + 0.2)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    return svg_text(fig)


def pareto_chart(points: Sequence[dict], front: Sequence[dict], chosen: dict | None) -> str:
    """Accuracy against energy and against latency (log axes): every point grey, the front red,
    the chosen point ringed. Points are dicts with ``accuracy``, ``energy_j``, ``latency_s``, ``label``."""
    fig = _figure(9.6, 3.8)
    on_front = {id(p) for p in front}
    for ax, attr, unit in zip(fig.subplots(1, 2), ("energy_j", "latency_s"), ("µJ", "µs")):
        rest = [p for p in points if id(p) not in on_front]
        ax.scatter([p[attr] * 1e6 for p in rest], [100 * p["accuracy"] for p in rest], s=16, c="0.7",
                   label="dominated")
        best = sorted(front, key=lambda p: p[attr])
        ax.plot([p[attr] * 1e6 for p in best], [100 * p["accuracy"] for p in best], "o", c=HIGHLIGHT, ms=5,
                label="Pareto front")
        for p in best:
            ax.annotate(p["label"], (p[attr] * 1e6, 100 * p["accuracy"]), fontsize=6.5, xytext=(3, 3),
                        textcoords="offset points")
        if chosen is not None:
            ax.plot([chosen[attr] * 1e6], [100 * chosen["accuracy"]], "o", ms=13, mfc="none", mec="#000",
                    mew=1.6, label="chosen")
        ax.set_xscale("log")
        _plain_ticks(ax.xaxis)
        ax.set_xlabel(f"{attr.split('_')[0]} per inference ({unit}, log) — estimate")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7, loc="lower right")
    return svg_text(fig)


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def graph_svg(nodes: Sequence[str], edges: Sequence[tuple[str, str, str]], critical: Sequence[str],
              critical_edges: Sequence[str], tips: dict[str, str]) -> str:
    """A dataflow graph drawn in layers (longest path over the edges that carry no initial
    token, listed as ``(name, src, dst)`` with a ``*`` suffix on names of edges with tokens);
    the critical cycle's actors and channels in red and thick. Every actor and channel has a tooltip."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    forward = [(s, d) for name, s, d in edges if not name.endswith("*") and s != d]
    g.add_edges_from(forward)
    if not nx.is_directed_acyclic_graph(g):  # token-free cycles only where the graph deadlocks
        g = nx.DiGraph()
        g.add_nodes_from(nodes)
    depth: dict[str, int] = {}
    for n in nx.topological_sort(g):
        depth[n] = max((depth[p] + 1 for p in g.predecessors(n)), default=0)
    layers: dict[int, list[str]] = {}
    for n in nodes:
        layers.setdefault(depth[n], []).append(n)
    dx, dy, w, h = 120, 34, 96, 22
    rows = max(len(v) for v in layers.values())
    width, height = dx * len(layers) + 20, dy * rows + 20
    pos = {n: (10 + dx * d + w / 2, 10 + dy * (i + (rows - len(v)) / 2) + h / 2)
           for d, v in layers.items() for i, n in enumerate(v)}
    hot, hot_edges = set(critical), set(critical_edges)
    arrow = f"arrow{next(_counter)}"
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'class="graph" font-size="10" font-family="sans-serif">'),
           (f'<defs><marker id="{arrow}" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="6" markerHeight="6" '
           'orient="auto"><path d="M0,0L8,4L0,8z" fill="#666"/></marker></defs>')]
    for name, s, d in edges:
        bare = name.rstrip("*")
        (x1, y1), (x2, y2) = pos[s], pos[d]
        red = bare in hot_edges
        colour, width_ = (HIGHLIGHT, 2.4) if red else ("#9aa3b2", 0.8)
        dash = ' stroke-dasharray="4 3"' if name.endswith("*") else ""
        if s == d:
            path = f"M{x1 - 10},{y1 - h / 2} c-6,-16 26,-16 20,0"
        else:
            bend = 18 if name.endswith("*") else 0
            path = f"M{x1 + w / 2 * (1 if x2 >= x1 else -1)},{y1} Q{(x1 + x2) / 2},{(y1 + y2) / 2 + bend} " \
                   f"{x2 - w / 2 * (1 if x2 >= x1 else -1)},{y2}"
        flag = ' data-critical="1"' if red else ""
        out.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{width_}"{dash} '
                   f'marker-end="url(#{arrow})" data-tip="{_esc(tips.get(bare, bare))}"{flag}/>')
    for n in nodes:
        x, y = pos[n]
        red = n in hot
        flag = ' data-critical="1"' if red else ""
        out.append(f'<g data-tip="{_esc(tips.get(n, n))}"{flag}>'
                   f'<rect x="{x - w / 2}" y="{y - h / 2}" width="{w}" height="{h}" rx="4" '
                   f'fill="{"#fde7e6" if red else "#eef2fb"}" stroke="{HIGHLIGHT if red else "#6b7a99"}" '
                   f'stroke-width="{2 if red else 1}"/><text x="{x}" y="{y + 3.5}" text-anchor="middle">'
                   f'{_esc(n if len(n) <= 16 else n[:15] + "…")}</text></g>')
    out.append("</svg>")
    return "".join(out)
