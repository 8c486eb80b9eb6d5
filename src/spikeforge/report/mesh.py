"""Where a network sits on the chips: the mapping view of a report.

:class:`MappingView` holds what every mapped input has in common (a compile artifact, a ``map``
placement JSON, or the live :class:`~spikeforge.ir.placement.Placement`): each cluster's global
core and layer, its neuron columns, and the cluster-to-cluster token streams per timestep. From it:

* **link traffic**: every stream routed X then Y on the global core grid (the route
  :mod:`spikeforge.hardware.geometry` counts hops on), summed per directed link with difference
  arrays (no per-stream loop);
* **the mesh figure**: small mappings show every chip's cores, each core's clusters (coloured by
  layer) and load, and every busy link coloured by its traffic; large ones (more than
  :data:`SHOW_CLUSTERS` clusters or :data:`SHOW_CORES` cores) are aggregated per chip, with the
  links between chips coloured by the traffic crossing them;
* **the inter-chip traffic matrix** and the achieved inter-chip traffic beside its lower bound.

A core's **load** is its neuron columns over ``neurons_per_core`` (the capacity a placement is
checked against); a chip's load is the same over all its cores.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np

from spikeforge.ir.hardware import Hardware
from spikeforge.report.figures import PALETTE

__all__ = ["SHOW_CLUSTERS", "SHOW_CORES", "MappingView"]

#: Mappings up to this many clusters (and :data:`SHOW_CORES` cores drawn) show every cluster.
SHOW_CLUSTERS = 5000
SHOW_CORES = 20000
#: Least width of a mesh figure: its legend's.
LEGEND_WIDTH = 640


@dataclass(frozen=True, eq=False)
class MappingView:
    """Clusters on cores of ``hardware`` and their streams (tokens per timestep, no self-streams)."""

    hardware: Hardware
    timesteps: int
    cluster_core: np.ndarray
    cluster_layer: np.ndarray          # index into layer_names
    layer_names: tuple[str, ...]
    cluster_columns: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    tokens: np.ndarray

    @property
    def clusters(self) -> int:
        return len(self.cluster_core)

    @property
    def cluster_chip(self) -> np.ndarray:
        return self.cluster_core // self.hardware.cores_per_chip

    def interchip_traffic(self) -> float:
        """Tokens (spikes and partial sums) crossing a chip boundary per inference."""
        chip = self.cluster_chip
        return float(self.tokens[chip[self.src] != chip[self.dst]].sum()) * self.timesteps

    def grid_xy(self, core: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global grid column and row of global cores (chips row-major on the board)."""
        hw = self.hardware
        chip, local = np.divmod(np.asarray(core, np.int64), hw.cores_per_chip)
        nx, ny, bx = hw.chip.mesh_x, hw.chip.mesh_y, hw.board.mesh_x
        return (chip % bx) * nx + local % nx, (chip // bx) * ny + local // nx


def stream_bound(src: np.ndarray, dst: np.ndarray, tokens: np.ndarray, clusters: int, per_chip: int) -> float:
    """A lower bound on the tokens per timestep that any placement sends between chips holding
    ``per_chip`` clusters each: of one cluster's outgoing (or incoming) streams at most
    ``per_chip - 1`` stay on its chip, so all but its largest ``per_chip - 1`` cross; the larger of
    the two sums. (:func:`spikeforge.mapping.report.interchip_bound` applies the same argument to
    spikes, and a tighter one to partial sums, which an artifact does not store apart.)"""
    best = 0.0
    for own in (src, dst):
        order = np.lexsort((-tokens, own))
        first = np.searchsorted(own[order], np.arange(clusters))
        rank = np.arange(len(order)) - first[own[order]]
        best = max(best, float(tokens[order][rank >= per_chip - 1].sum()))
    return best


def link_grid(view: MappingView) -> dict[str, np.ndarray]:
    """Tokens per inference on every directed link of the global core grid under X-then-Y routes:
    ``east``/``west`` of shape (rows, columns - 1) (link from column x to x + 1 and back),
    ``south``/``north`` of shape (rows - 1, columns)."""
    hw = view.hardware
    cols, rows = hw.chip.mesh_x * hw.board.mesh_x, hw.chip.mesh_y * hw.board.mesh_y
    x1, y1 = view.grid_xy(view.cluster_core[view.src])
    x2, y2 = view.grid_xy(view.cluster_core[view.dst])
    w = view.tokens * view.timesteps
    out = {}
    for name, lo, hi, fixed, along, across, sel in (
            ("east", x1, x2, y1, cols, rows, x1 < x2), ("west", x2, x1, y1, cols, rows, x2 < x1),
            ("south", y1, y2, x2, rows, cols, y1 < y2), ("north", y2, y1, x2, rows, cols, y2 < y1)):
        d = np.zeros((across, along + 1))
        np.add.at(d, (fixed[sel], lo[sel]), w[sel])
        np.add.at(d, (fixed[sel], hi[sel]), -w[sel])
        load = np.cumsum(d, axis=1)[:, :along - 1]
        out[name] = load if name in ("east", "west") else load.T
    return out


def chip_matrix(view: MappingView) -> tuple[np.ndarray, np.ndarray]:
    """The chips in use and the tokens per inference from each (row) to each (column) of them."""
    chip = view.cluster_chip
    used = np.unique(chip)
    index = np.searchsorted(used, chip)
    m = np.zeros((len(used), len(used)))
    a, b = index[view.src], index[view.dst]
    cross = a != b
    np.add.at(m, (a[cross], b[cross]), view.tokens[cross] * view.timesteps)
    return used, m


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _blue(t: float) -> str:
    """White (0) to dark blue (1)."""
    t = min(max(t, 0.0), 1.0)
    return f"#{round(255 - 224 * t):02x}{round(255 - 177 * t):02x}{round(255 - 99 * t):02x}"


def _heat(values: np.ndarray) -> tuple[list[str], float, float]:
    """Colours (yellow to red, log scale) of positive values, with the range."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["YlOrRd"]
    lo, hi = float(values.min()), float(values.max())
    span = math.log(hi / lo) if hi > lo else 1.0
    ts = 0.25 + 0.75 * (np.log(values / lo) / span if hi > lo else np.ones_like(values))
    return [to_hex(cmap(float(t))) for t in ts], lo, hi


def _legend(x: float, y: float, lo: float, hi: float, what: str, gid: str) -> str:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["YlOrRd"]
    stops = "".join(f'<stop offset="{t:.2f}" stop-color="{to_hex(cmap(0.25 + 0.75 * t))}"/>'
                    for t in (0, 0.25, 0.5, 0.75, 1))
    return (f'<defs><linearGradient id="{gid}">{stops}</linearGradient></defs>'
            f'<rect x="{x}" y="{y}" width="160" height="8" fill="url(#{gid})"/>'
            f'<text x="{x}" y="{y + 19}">{lo:,.0f}</text><text x="{x + 160}" y="{y + 19}" text-anchor="end">'
            f'{hi:,.0f}</text><text x="{x + 170}" y="{y + 8}">{_esc(what)} (log colour)</text>'
            f'<rect x="{x + 420}" y="{y}" width="10" height="10" fill="{_blue(0.1)}" stroke="#888"/>'
            f'<rect x="{x + 432}" y="{y}" width="10" height="10" fill="{_blue(0.5)}" stroke="#888"/>'
            f'<rect x="{x + 444}" y="{y}" width="10" height="10" fill="{_blue(0.95)}" stroke="#888"/>'
            f'<text x="{x + 460}" y="{y + 9}">load (neurons / capacity)</text>')


def _layers_text(view: MappingView, members: np.ndarray, top: int = 3) -> str:
    if not len(members):
        return ""
    names, counts = np.unique(view.cluster_layer[members], return_counts=True)
    order = np.argsort(-counts)[:top]
    text = ", ".join(f"{view.layer_names[names[i]]} ({counts[i]})" for i in order)
    return text + (f" and {len(names) - top} more" if len(names) > top else "")


def _board_rows(view: MappingView) -> int:
    hw = view.hardware
    return -(-hw.board.chips // hw.board.mesh_x)


def mesh_svg(view: MappingView) -> tuple[str, str]:
    """The mesh figure and what it shows (per cluster, or aggregated per chip)."""
    hw = view.hardware
    shown_cores = len(np.unique(view.cluster_chip)) * hw.cores_per_chip
    if view.clusters <= SHOW_CLUSTERS and shown_cores <= SHOW_CORES:
        return _cluster_mesh(view), "every chip in use with its cores and clusters"
    return _chip_mesh(view), (f"aggregated per chip ({view.clusters:,} clusters on {shown_cores:,} cores: more "
                              f"than {SHOW_CLUSTERS:,} clusters or {SHOW_CORES:,} cores are drawn per chip)")


def _links(segments: list[tuple[float, float, float, float, float, str]], width: float) -> tuple[list[str], float, float]:
    """Lines coloured by traffic: (x1, y1, x2, y2, tokens, tooltip) each; the range for the legend."""
    busy = [s for s in segments if s[4] > 0]
    if not busy:
        return [], 0.0, 0.0
    colours, lo, hi = _heat(np.array([s[4] for s in busy]))
    return [f'<line x1="{a:.1f}" y1="{b:.1f}" x2="{c:.1f}" y2="{d:.1f}" stroke="{col}" stroke-width="{width}" '
            f'stroke-linecap="round" data-link="1" data-tip="{_esc(tip)}"/>'
            for (a, b, c, d, _, tip), col in zip(busy, colours)], lo, hi


def _cluster_mesh(view: MappingView) -> str:
    hw = view.hardware
    nx, ny, bx = hw.chip.mesh_x, hw.chip.mesh_y, hw.board.mesh_x
    chips = np.unique(view.cluster_chip)
    across = (int((chips % bx).max()) - int((chips % bx).min()) + 1) * nx
    cell, gap, pad = int(min(56, max(22, 760 // across))), 14, 10
    chip_w, chip_h = nx * cell, ny * cell
    bxs, bys = chips % bx, chips // bx
    x0, y0 = int(bxs.min()), int(bys.min())
    width = max(LEGEND_WIDTH, (int(bxs.max()) - x0 + 1) * (chip_w + gap) + 2 * pad)
    height = (int(bys.max()) - y0 + 1) * (chip_h + gap) + 2 * pad + 40
    per = hw.core.crossbars_per_core
    core_cols = np.bincount(view.cluster_core, weights=view.cluster_columns, minlength=hw.total_cores)
    by_core: dict[int, list[int]] = {}
    for i, c in enumerate(view.cluster_core.tolist()):
        by_core.setdefault(c, []).append(i)

    def origin(chip: int) -> tuple[float, float]:
        return (pad + (chip % bx - x0) * (chip_w + gap), pad + (chip // bx - y0) * (chip_h + gap))

    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" class="mesh" '
           f'font-size="10" font-family="sans-serif" data-view="clusters">')]
    for chip in chips.tolist():
        ox, oy = origin(chip)
        out.append(f'<rect x="{ox - 3}" y="{oy - 3}" width="{chip_w + 6}" height="{chip_h + 6}" fill="none" '
                   f'stroke="#6b7a99" rx="4" data-chip="{chip}"/>')
        for local in range(hw.cores_per_chip):
            core = chip * hw.cores_per_chip + local
            x, y = ox + (local % nx) * cell, oy + (local // nx) * cell
            members = by_core.get(core, [])
            load = core_cols[core] / hw.core.neurons_per_core
            tip = (f"chip {chip}, core {core} ({local % nx}, {local // nx}): {len(members)} of {per} crossbars; "
                   f"{core_cols[core]:,.0f} of {hw.core.neurons_per_core:,} neurons ({load:.0%})")
            if members:
                tip += "\nclusters " + ", ".join(map(str, members[:8])) + (", …" if len(members) > 8 else "")
                tip += "\nlayers: " + _layers_text(view, np.array(members))
            out.append(f'<rect x="{x + 1}" y="{y + 1}" width="{cell - 2}" height="{cell - 2}" fill="{_blue(load)}" '
                       f'stroke="#c5ccd8" data-core="{core}" data-clusters="{len(members)}" data-tip="{_esc(tip)}"/>')
            shown = members[: min(per, 16)]
            side = (cell - 6) / max(4, math.ceil(math.sqrt(len(shown) or 1)))
            for k, i in enumerate(shown):
                colour = PALETTE[int(view.cluster_layer[i]) % len(PALETTE)]
                cx = x + 3 + (k % 4) * side
                cy = y + 3 + (k // 4) * side
                out.append(f'<rect x="{cx:.1f}" y="{cy:.1f}" width="{side - 1:.1f}" height="{side - 1:.1f}" '
                           f'fill="{colour}" data-cluster="{i}" data-tip="cluster {i}: layer '
                           f'{_esc(view.layer_names[view.cluster_layer[i]])}, {view.cluster_columns[i]:,} columns"/>')
    loads = link_grid(view)
    segments = []
    chip_set = set(chips.tolist())

    def centre(gx: int, gy: int) -> tuple[float, float] | None:
        chip = (gy // ny) * bx + gx // nx
        if chip not in chip_set:
            return None
        ox, oy = origin(chip)
        return ox + (gx % nx + 0.5) * cell, oy + (gy % ny + 0.5) * cell

    for name, (dxs, dys) in (("east", (1, 0)), ("south", (0, 1))):
        back = "west" if name == "east" else "north"
        fwd, rev = loads[name], loads[back]
        for gy, gx in zip(*np.nonzero(fwd + rev)):
            a, b = centre(gx, gy), centre(gx + dxs, gy + dys)
            if a is None or b is None:
                continue
            kind = "inter-chip" if (dxs and (gx + 1) % nx == 0) or (dys and (gy + 1) % ny == 0) else "on-chip"
            segments.append((*a, *b, float(fwd[gy, gx] + rev[gy, gx]),
                             (f"{kind} link ({gx}, {gy})–({gx + dxs}, {gy + dys}): {fwd[gy, gx]:,.0f} {name}, "
                             f"{rev[gy, gx]:,.0f} {back} tokens per inference")))
    lines, lo, hi = _links(segments, 3)
    out += lines
    if lines:
        out.append(_legend(pad, height - 28, lo, hi, "tokens per inference on a link", "mesh-legend"))
    out.append("</svg>")
    return "".join(out)


def _chip_mesh(view: MappingView) -> str:
    hw = view.hardware
    bx, nx, ny = hw.board.mesh_x, hw.chip.mesh_x, hw.chip.mesh_y
    by = _board_rows(view)
    cell, pad = max(8, min(28, 900 // max(bx, 1))), 10
    width, height = max(LEGEND_WIDTH, bx * cell + 2 * pad), by * cell + 2 * pad + 40
    chip = view.cluster_chip
    n_chips = hw.board.chips
    clusters = np.bincount(chip, minlength=n_chips)
    cols = np.bincount(chip, weights=view.cluster_columns, minlength=n_chips)
    capacity = hw.cores_per_chip * hw.core.neurons_per_core
    cores_used = np.bincount(np.unique(view.cluster_core) // hw.cores_per_chip, minlength=n_chips)
    used, m = chip_matrix(view)
    out_t = np.zeros(n_chips)
    in_t = np.zeros(n_chips)
    out_t[used], in_t[used] = m.sum(1), m.sum(0)
    order = np.argsort(chip, kind="stable")
    starts = np.searchsorted(chip[order], np.arange(n_chips + 1))
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" class="mesh" '
           f'font-size="10" font-family="sans-serif" data-view="chips">')]
    for c in range(n_chips):
        x, y = pad + (c % bx) * cell, pad + (c // bx) * cell
        load = cols[c] / capacity
        members = order[starts[c]:starts[c + 1]]
        tip = (f"chip {c} (board {c % bx}, {c // bx}): {clusters[c]:,} clusters on {cores_used[c]} of "
               f"{hw.cores_per_chip} cores; {cols[c]:,.0f} of {capacity:,} neurons ({load:.0%})\n"
               f"to other chips {out_t[c]:,.0f}, from them {in_t[c]:,.0f} tokens per inference")
        if len(members):
            tip += "\nlayers: " + _layers_text(view, members)
        out.append(f'<rect x="{x + 0.5}" y="{y + 0.5}" width="{cell - 1}" height="{cell - 1}" '
                   f'fill="{_blue(load) if clusters[c] else "#f3f4f6"}" stroke="#c5ccd8" stroke-width="0.5" '
                   f'data-chip="{c}" data-clusters="{clusters[c]}" data-tip="{_esc(tip)}"/>')
    loads = link_grid(view)
    rows = hw.chip.mesh_y * hw.board.mesh_y
    segments = []
    if bx > 1:  # east/west links at chip boundaries, summed over the rows of one chip
        h = (loads["east"] + loads["west"])[:, nx - 1::nx].reshape(rows // ny, ny, -1).sum(1)
        for r, k in zip(*np.nonzero(h)):
            a = r * bx + k
            segments.append((pad + (k + 0.5) * cell, pad + (r + 0.5) * cell, pad + (k + 1.5) * cell,
                             pad + (r + 0.5) * cell, float(h[r, k]),
                             f"chips {a}–{a + 1}: {h[r, k]:,.0f} tokens per inference over {ny} links"))
    if rows // ny > 1:
        v = (loads["south"] + loads["north"])[ny - 1::ny, :].reshape(-1, bx, nx).sum(2)
        for r, k in zip(*np.nonzero(v)):
            a = r * bx + k
            segments.append((pad + (k + 0.5) * cell, pad + (r + 0.5) * cell, pad + (k + 0.5) * cell,
                             pad + (r + 1.5) * cell, float(v[r, k]),
                             f"chips {a}–{a + bx}: {v[r, k]:,.0f} tokens per inference over {nx} links"))
    lines, lo, hi = _links(segments, max(1.0, cell / 12))
    out += lines
    if lines:
        out.append(_legend(pad, height - 28, lo, hi, "tokens per inference between two chips", "chip-legend"))
    out.append("</svg>")
    return "".join(out)
