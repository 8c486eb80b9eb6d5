r"""Partitioners: an SNN and its profile → clusters that each fit one crossbar.

Strategies (registry :data:`PARTITIONERS`; :func:`partition` takes a name, or a :class:`Partitioner`
object carrying its options such as ``HypergraphPartitioner(backend="metis")``):

``greedy``
    The seed's neuron-level greedy clustering (Song et al., LCTES 2020): neurons whose fan-in
    exceeds the crossbar rows are unrolled (or split), then neurons are added in layer order to
    the open cluster while its columns, distinct input rows and synapse memory fit; a neuron that
    does not fit closes the cluster. Materialises per-synapse lists: small networks only.
``tiles``
    Structure-aware: each layer is cut into (channel block × spatial block) tiles, the tile shape
    chosen to need the fewest crossbars; exact input rows and synapses come from the separable
    receptive field (:mod:`spikeforge.mapping.connectivity`), never from synapse lists. Small
    tiles of different layers are then packed into shared crossbars without closing a cycle
    between crossbars; on small networks a layer takes another shape of its shortlist when the
    network then packs into fewer crossbars.
``hypergraph``
    Minimises the connectivity objective :math:`\sum_n r_n (\lambda_n - 1)` (a spike goes once
    to each of the :math:`\lambda_n` clusters that need it; :math:`r_n` = profiled rate). Small
    networks: neuron-level KaHyPar (km1) on the hypergraph of presynaptic nets with column
    balance, blocks that break the row or memory limit re-bisected. Large networks: tile grids
    whose shape minimises the same objective, computed exactly per axis.

Recurrent networks: a loop's layers are cut like any other; a connection through Delays becomes
a connection between clusters that reads the producer's earlier timestep (its dataflow channel
starts with one token per timestep of delay), so a cycle of clusters is allowed when it runs
through one. Every strategy only keeps clusters of several layers or parts off a cycle of
*undelayed* connections (:func:`_split_cycles`).

Fan-in above the crossbar rows (``fan_in``): ``"split"`` cuts a neuron's inputs into chunks on
several crossbars whose partial sums are accumulated at the neuron; ``"unroll"`` builds the
seed's chain of intermediate neurons, the first taking :math:`F` inputs and each next one the
previous plus :math:`F-1`; ``None`` raises :class:`~spikeforge.errors.InfeasibleMappingError`.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import scipy.sparse as sp

from spikeforge.api import public
from spikeforge.errors import (
    InfeasibleMappingError,
    InvalidDataError,
)
from spikeforge.hardware.spec import load_hardware
from spikeforge.ir import network as ir
from spikeforge.ir.hardware import Hardware
from spikeforge.ir.partition import Partition
from spikeforge.mapping.connectivity import (
    Afferent,
    afferent_delays,
    afferents,
    mapped_layers,
    shape3,
)
from spikeforge.strategies import Registry

if TYPE_CHECKING:
    from spikeforge.sim.simulator import Profile

__all__ = ["partition", "PARTITIONERS", "Partitioner", "GreedyPartitioner", "TilesPartitioner",
           "HypergraphPartitioner", "unroll_chain", "chain_sum", "crossbar_limits", "DEFAULT_PARTITIONER"]

#: The partitioner ``partition``, ``compile`` and ``map`` use unless told otherwise.
DEFAULT_PARTITIONER = "hypergraph"
_OBJECTIVES = ("rows", "connectivity")
_BACKENDS = ("auto", "kahypar", "metis")
FAN_IN_MODES = ("split", "unroll", None)
NEURON_LEVEL_LIMIT = 20_000_000  # synapses materialised by neuron-level strategies
# Peak memory of the tile partitioners per tile (piece): U-Net-512 on xbar-mesh, 1,490,944 clusters,
# peaked at 4.3 GB (about 2.9 KB each; its tiles are its clusters). Checked before tiles are built.
BYTES_PER_TILE = 3072
PLAN_SEARCH_WORK = 10_000  # tiles × alternative shapes: one round of the tile-shape search


# ---------------------------------------------------------------------------------------------
# fan-in chains
def unroll_chain(fan_in: int, limit: int) -> list[int]:
    r"""Inputs taken by each node of the seed's unrolled chain for a neuron of ``fan_in`` inputs.

    The first node takes :math:`F` inputs, each next one the previous node's output plus
    :math:`F-1` new inputs; the last node is the neuron itself. The chain has
    :math:`1 + \lceil (n - F)/(F - 1) \rceil` nodes for :math:`n > F`.

    Parameters
    ----------
    fan_in : int
        Presynaptic inputs of the neuron (n ≥ 1).
    limit : int
        Inputs per node (F ≥ 2).

    Returns
    -------
    list of int
        New inputs per node, in chain order (sums to ``fan_in``).

    Raises
    ------
    InfeasibleMappingError
        ``limit`` < 2 with ``fan_in`` > ``limit`` (no chain can progress).

    Examples
    --------
    >>> unroll_chain(5, 2), unroll_chain(2, 2)
    ([2, 1, 1, 1], [2])
    """
    if fan_in <= limit:
        return [int(fan_in)]
    if limit < 2:
        raise InfeasibleMappingError(f"fan-in {fan_in} cannot be unrolled with {limit} input(s) per node")
    nodes = 1 + -(-(fan_in - limit) // (limit - 1))
    counts = [limit] + [limit - 1] * (nodes - 1)
    counts[-1] = fan_in - limit - (limit - 1) * (nodes - 2)
    return counts


def chain_sum(values: np.ndarray, weights: np.ndarray, limit: int) -> float:
    """Evaluate a weighted sum through the unrolled chain (each node adds the previous node's output).

    Examples
    --------
    >>> chain_sum(np.arange(5.0), np.ones(5), 2)
    10.0
    """
    out, start = 0.0, 0
    for i, n in enumerate(unroll_chain(len(values), limit)):
        node = float(np.dot(values[start:start + n], weights[start:start + n]))
        out = node if i == 0 else out + node
        start += n
    return out


# ---------------------------------------------------------------------------------------------
@dataclass
class _Limits:
    rows: int
    columns: int
    memory_bits: int
    weight_bits: int

    def as_dict(self) -> dict[str, int]:
        return {"rows": self.rows, "columns": self.columns, "memory_bits": self.memory_bits}


@public
def crossbar_limits(hw: Hardware) -> dict[str, int]:
    """Rows, columns and synapse memory (bits) of one crossbar cluster on ``hw``.

    Examples
    --------
    >>> crossbar_limits(load_hardware("loihi"))
    {'rows': 4096, 'columns': 1024, 'memory_bits': 1048576}
    """
    return _limits(hw).as_dict()


def _limits(hw: Hardware) -> _Limits:
    c = hw.core
    rows = min(c.crossbar_rows, c.max_fan_in_per_neuron or c.crossbar_rows)
    cols = min(c.crossbar_columns, c.neurons_per_core)
    mem = min(c.crossbar_rows * c.crossbar_columns * hw.precision.weight_bits, hw.synapse_memory_bits_per_core)
    return _Limits(rows, cols, mem, hw.precision.weight_bits)


@dataclass
class _Ctx:
    net: ir.Network
    hw: Hardware
    lim: _Limits
    fan_in: str | None
    timesteps: int
    layers: list[str]
    shapes: list[tuple[int, int, int]]
    aff: list[list[Afferent]]
    rates: dict[str, np.ndarray]  # per mapped layer, (C, H, W); input sources absent
    index: dict[str, int]
    delays: list[dict[str, int]]  # per mapped layer: timesteps of delay from each source (afferent_delays)


def _context(snn: ir.Network, profile, hw: Hardware, fan_in: str | None) -> _Ctx:
    if fan_in not in FAN_IN_MODES:
        raise InvalidDataError(f"fan_in={fan_in!r}: use 'split', 'unroll' or None")
    snn.require_snn("partition")
    layers = mapped_layers(snn)
    memo: dict = {}
    shapes = [shape3(snn.shape(n)) for n in layers]
    aff = [afferents(snn, n, memo) for n in layers]
    rates = {}
    for name, shape in zip(layers, shapes):
        if snn.node(name).is_neuron:
            try:
                r = np.asarray(profile.rates(name), dtype=np.float64)
            except Exception as exc:  # SimulationError from a profile of another network
                raise InvalidDataError(f"profile has no spike counts for layer {name}: {exc}") from None
            if r.size != int(np.prod(shape)):
                raise InvalidDataError(f"profile of layer {name}: {r.size} neurons, network has {int(np.prod(shape))}")
            rates[name] = r.reshape(shape)
        else:
            rates[name] = np.zeros(shape)
    return _Ctx(snn, hw, _limits(hw), fan_in, int(profile.timesteps), layers, shapes, aff, rates,
                {n: i for i, n in enumerate(layers)}, [afferent_delays(snn, n) for n in layers])


def _no_fan_in(ctx: _Ctx, layer: str, fan: np.ndarray) -> InfeasibleMappingError:
    idx = tuple(int(v) for v in np.unravel_index(int(np.argmax(fan)), fan.shape))
    return InfeasibleMappingError(
        f"layer {layer}: neuron {idx} has {int(fan.max())} inputs, crossbar has {ctx.lim.rows} rows; "
        "allow fan_in='split' or 'unroll'")


# ---------------------------------------------------------------------------------------------
# tiles
def _blocks(n: int, b: int) -> sp.csr_matrix:
    """Block indicator (ceil(n/b) × n)."""
    i = np.arange(n)
    return sp.csr_matrix((np.ones(n, np.float32), (i // b, i)), shape=(-(-n // b), n))


def _candidates(n: int) -> list[int]:
    c = {n, 1}
    p = 1
    while p < n:
        c.add(p)
        p *= 2
    for k in range(2, 9):
        c.add(-(-n // k))
    return sorted(v for v in c if 1 <= v <= n)


@dataclass
class _AxisStat:
    union: np.ndarray  # per block: distinct source indices
    syn: np.ndarray    # per block: Σ per-output fan-in along the axis
    used: sp.csr_matrix  # block × source indicator
    lam: np.ndarray    # per source: blocks that read it


def _axis_stat(m: sp.csr_matrix, b: int) -> _AxisStat:
    used = _blocks(m.shape[0], b) @ m
    used = sp.csr_matrix(used)
    syn = np.asarray(used.sum(axis=1)).ravel()
    used.data[:] = 1.0
    lam = np.bincount(used.indices, minlength=m.shape[1]).astype(np.float64)
    return _AxisStat(np.diff(used.indptr).astype(np.int64), syn, used, lam)


@dataclass
class _TilePlan:
    layer: int
    cc: int
    bh: int
    bw: int
    chunks: list[list[np.ndarray]]  # per part: per afferent, the source channel indices
    clusters: int
    cost: float


def _chunk(costs_rows: np.ndarray, costs_mem: np.ndarray, rows: int, mem: int) -> list[tuple[int, int]] | None:
    """Greedy cut of a sequence into runs whose row and memory sums fit; None if an item alone does not."""
    if (costs_rows > rows).any() or (costs_mem > mem).any():
        return None
    cr = np.concatenate([[0], np.cumsum(costs_rows)])
    cm = np.concatenate([[0], np.cumsum(costs_mem)])
    out, start, n = [], 0, len(costs_rows)
    while start < n:
        e1 = np.searchsorted(cr, cr[start] + rows, side="right") - 1
        e2 = np.searchsorted(cm, cm[start] + mem, side="right") - 1
        end = max(start + 1, min(e1, e2))
        out.append((start, end))
        start = end
    return out


def _plan_layer(ctx: _Ctx, li: int, objective: str) -> list[_TilePlan]:
    """Tile shapes of layer ``li`` needing the fewest crossbars (within 3 % for ``connectivity``), cheapest first.

    Per-axis statistics are computed once per (afferent, axis, block size) and the shapes are
    visited in increasing tile count, stopping once no shape can reach the shortlist. The whole
    shortlist is returned: which shape packs best with the other layers is decided by
    :func:`_tiles_partition`.
    """
    C, H, W = ctx.shapes[li]
    affs = ctx.aff[li]
    lim = ctx.lim
    name = ctx.layers[li]
    fan = sum(a.fan_in() for a in affs)
    needs_split = fan.max() > lim.rows
    if needs_split and ctx.fan_in is None:
        raise _no_fan_in(ctx, name, fan)
    cache: dict = {}

    def stat(ai: int, axis: str, b: int) -> _AxisStat:
        key = (ai, axis, b)
        if key not in cache:
            a = affs[ai]
            cache[key] = _axis_stat({"c": a.channel, "h": a.rows, "w": a.cols}[axis], b)
        return cache[key]

    # source channels read by the layer (any block), per afferent
    used = [np.flatnonzero(np.diff(sp.csc_matrix(a.channel).indptr) > 0) for a in affs]
    per_src: dict = {}

    def src_max(ai: int, cc: int) -> np.ndarray:
        """Per used source channel: most output channels of one block reading it."""
        if (ai, cc) not in per_src:
            m = sp.csr_matrix(_blocks(C, cc) @ affs[ai].channel)
            per_src[(ai, cc)] = np.asarray(m.max(axis=0).todense()).ravel()[used[ai]]
        return per_src[(ai, cc)]

    cands = [_candidates(C), _candidates(H), _candidates(W)]
    grid = np.array(np.meshgrid(*cands, indexing="ij")).reshape(3, -1).T  # original loop order
    cols = grid.prod(axis=1)
    grid = grid[cols <= lim.columns]
    ntiles = (-(-C // grid[:, 0])) * (-(-H // grid[:, 1])) * (-(-W // grid[:, 2]))
    order = np.argsort(ntiles, kind="stable")
    slack = 1.0 if objective == "rows" else 1.03
    options = []
    least = math.inf
    for idx in order:
        nt = int(ntiles[idx])
        if nt > least * slack:
            break  # every later shape has at least as many tiles
        cc, bh, bw = (int(v) for v in grid[idx])
        rows_ch, mem_ch = [], []
        for ai in range(len(affs)):
            sh, sw = stat(ai, "h", bh), stat(ai, "w", bw)
            rows_ch.append(np.full(len(used[ai]), int(sh.union.max() * sw.union.max())))
            mem_ch.append(src_max(ai, cc) * sh.syn.max() * sw.syn.max() * lim.weight_bits)
        rc = np.concatenate(rows_ch) if rows_ch else np.zeros(0, np.int64)
        mc = np.concatenate(mem_ch) if mem_ch else np.zeros(0)
        single = _chunk(rc, mc, lim.rows, lim.memory_bits)
        if single is not None and len(single) > 1:
            if ctx.fan_in is None:
                continue
            if ctx.fan_in == "unroll":
                budget = lim.rows - cc * bh * bw
                if budget < 1:
                    continue
                single = _chunk(rc, mc, budget, lim.memory_bits - cc * bh * bw * lim.weight_bits)
        if single is None:
            continue
        n_cl = nt * (len(single) if single else 1)
        least = min(least, n_cl)
        options.append((int(idx), n_cl, cc, bh, bw, single))
    if not options:
        raise InfeasibleMappingError(
            f"layer {name}: no tile fits a crossbar of {lim.rows} rows × {lim.columns} columns and "
            f"{lim.memory_bits} bits (largest fan-in {int(fan.max())}, fan_in={ctx.fan_in!r})")
    shortlist = sorted(o for o in options if o[1] <= least * slack)
    plans = []
    for _, n_cl, cc, bh, bw, single in shortlist:
        cost = _plan_cost(ctx, li, cc, bh, bw, len(single) if single else 1, objective, stat)
        chunks = []
        for s, e in single or []:
            per_aff, off = [], 0
            for ai in range(len(affs)):
                u = used[ai]
                lo, hi = max(s, off), min(e, off + len(u))
                per_aff.append(u[lo - off:hi - off] if hi > lo else u[:0])
                off += len(u)
            chunks.append(per_aff)
        if not single:
            chunks = [[used[ai] for ai in range(len(affs))]]
        plans.append(_TilePlan(li, cc, bh, bw, chunks, n_cl, cost))
    plans.sort(key=lambda t: (t.cost, t.clusters))  # stable: ties keep the visiting order
    return plans


def _plan_cost(ctx: _Ctx, li: int, cc: int, bh: int, bw: int, parts: int, objective: str, stat) -> float:
    """Connectivity cost Σ r_n λ_n of a tile shape (``hypergraph``), or total input rows (``rows``)."""
    affs = ctx.aff[li]
    total = 0.0
    for ai, a in enumerate(affs):
        sc, sh, sw = stat(ai, "c", cc), stat(ai, "h", bh), stat(ai, "w", bw)
        if objective == "rows":
            total += float(sc.union.sum()) * float(sh.union.sum()) * float(sw.union.sum())
            continue
        r = ctx.rates.get(a.source)
        lc, lh, lw = sc.lam, sh.lam, sw.lam
        if r is None:  # network input: count input rows (each one a row on every crossbar reading it)
            total += 1e-3 * lc.sum() * lh.sum() * lw.sum()
            continue
        rr = r.reshape(-1, 1, 1) if a.flat else r
        total += float(lc @ (rr @ lw) @ lh) + 1e-3 * lc.sum() * lh.sum() * lw.sum()
    return total


@dataclass
class _Built:
    piece_layer: list
    piece_part: list
    piece_box: list
    rows: list
    syn: list
    spikes: list
    grids: dict  # layer -> (cid array [ncb, parts, nhb, nwb], plan)


def _box_sums(r: np.ndarray, cc: int, bh: int, bw: int) -> np.ndarray:
    """Sum of ``r`` (C, H, W) over each tile of the grid: (ncb, nhb, nwb)."""
    C, H, W = r.shape
    pad = np.zeros((-(-C // cc) * cc, -(-H // bh) * bh, -(-W // bw) * bw))
    pad[:C, :H, :W] = r
    return pad.reshape(-(-C // cc), cc, -(-H // bh), bh, -(-W // bw), bw).sum(axis=(1, 3, 5))


def _build_tiles(ctx: _Ctx, plans: list[_TilePlan]) -> tuple[_Built, list]:
    b = _Built([], [], [], [], [], [], {})
    partial_edges: list[tuple[int, int, float]] = []
    for plan in plans:
        li = plan.layer
        C, H, W = ctx.shapes[li]
        affs = ctx.aff[li]
        ncb, nhb, nwb = -(-C // plan.cc), -(-H // plan.bh), -(-W // plan.bw)
        P = len(plan.chunks)
        Bc = _blocks(C, plan.cc)
        # exact per-cluster rows and synapses: Σ_a rows_c[cb, p] * rows_h[hb] * rows_w[wb]
        rows = np.zeros((ncb, P, nhb, nwb))
        syn = np.zeros((ncb, P, nhb, nwb))
        for ai, a in enumerate(affs):
            sh, sw = _axis_stat(a.rows, plan.bh), _axis_stat(a.cols, plan.bw)
            used_c = sp.csr_matrix(Bc @ a.channel)
            for p, chunk in enumerate(plan.chunks):
                idx = chunk[ai]
                sub = used_c[:, idx]
                syn_c = np.asarray(sub.sum(axis=1)).ravel()
                uni_c = np.asarray((sub > 0).sum(axis=1)).ravel()
                rows[:, p] += uni_c[:, None, None] * sh.union[None, :, None] * sw.union[None, None, :]
                syn[:, p] += syn_c[:, None, None] * sh.syn[None, :, None] * sw.syn[None, None, :]
        cols = np.zeros((ncb, nhb, nwb))
        cs = np.minimum(np.arange(ncb)[:, None, None] * plan.cc + plan.cc, C) - np.arange(ncb)[:, None, None] * plan.cc
        hs = np.minimum(np.arange(nhb)[None, :, None] * plan.bh + plan.bh, H) - np.arange(nhb)[None, :, None] * plan.bh
        ws = np.minimum(np.arange(nwb)[None, None, :] * plan.bw + plan.bw, W) - np.arange(nwb)[None, None, :] * plan.bw
        cols = cs * hs * ws
        if ctx.fan_in == "unroll" and P > 1:
            # every chain node but the first reads the previous one; the chain is the parts 1.. that
            # read something (the others are no pieces), then the root
            exists = rows[:, 1:] > 0
            ahead = np.cumsum(exists, axis=1) - exists
            link = np.concatenate([exists.any(axis=1)[:, None], exists & (ahead > 0)], axis=1) * cols[:, None]
            rows += link
            syn += link
        spikes = _box_sums(ctx.rates[ctx.layers[li]], plan.cc, plan.bh, plan.bw)
        cid = np.full((ncb, P, nhb, nwb), -1, np.int64)
        for cb in range(ncb):
            for p in range(P):
                for hb in range(nhb):
                    for wb in range(nwb):
                        if p > 0 and rows[cb, p, hb, wb] == 0:
                            continue
                        cid[cb, p, hb, wb] = len(b.rows)
                        b.piece_layer.append(li)
                        b.piece_part.append(p)
                        b.piece_box.append((cb * plan.cc, min(C, cb * plan.cc + plan.cc), hb * plan.bh,
                                            min(H, hb * plan.bh + plan.bh), wb * plan.bw, min(W, wb * plan.bw + plan.bw)))
                        b.rows.append(int(rows[cb, p, hb, wb]))
                        b.syn.append(int(syn[cb, p, hb, wb]))
                        b.spikes.append(float(spikes[cb, hb, wb]) if p == 0 else 0.0)
        # partial sums
        if P > 1:
            for cb in range(ncb):
                for hb in range(nhb):
                    for wb in range(nwb):
                        ids = [cid[cb, p, hb, wb] for p in range(1, P) if cid[cb, p, hb, wb] >= 0]
                        root = cid[cb, 0, hb, wb]
                        n = float(cols[cb, hb, wb])
                        if ctx.fan_in == "split":
                            partial_edges += [(i, root, n) for i in ids]
                        else:
                            chain = ids + [root]
                            rate = float(spikes[cb, hb, wb])
                            partial_edges += [(u, v, rate) for u, v in zip(chain[:-1], chain[1:])]
        b.grids[li] = (cid, plan)
    return b, partial_edges


def _pairs(A: sp.csr_matrix, G: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Rows A[a] ⊙ G[g] for every overlapping (a, g)."""
    ov = sp.coo_matrix(A @ G.T)
    pa, pg = ov.row.astype(np.int64), ov.col.astype(np.int64)
    if len(pa) == 0:
        return sp.csr_matrix((0, A.shape[1])), pa, pg
    return sp.csr_matrix(A[pa].multiply(G[pg])), pa, pg


def _tile_traffic(ctx: _Ctx, built: _Built, n: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Spikes per timestep between pieces: all of them, and those of connections without a delay."""
    rows_all, cols_all, vals_all, lagged = [], [], [], []
    for li, (cid, plan) in built.grids.items():
        C, H, W = ctx.shapes[li]
        for ai, a in enumerate(ctx.aff[li]):
            if a.source not in built.grids and a.source not in ctx.index:
                continue  # network input: external
            lagged.append(ctx.delays[li].get(a.source, 0) > 0)
            si = ctx.index[a.source]
            pcid, pplan = built.grids[si]
            r = ctx.rates[a.source]
            Cs, Hs, Ws = ctx.shapes[si]
            prod = pcid[:, 0]  # (ncb', nhb', nwb') root clusters
            # consumer row sets per axis
            Bc = _blocks(C, plan.cc)
            used_c = sp.csr_matrix(Bc @ a.channel)
            used_c.data[:] = 1.0
            masks = []
            for p, chunk in enumerate(plan.chunks):
                m = np.zeros(used_c.shape[1], np.float32)
                m[chunk[ai]] = 1.0
                masks.append(sp.csr_matrix(used_c.multiply(m[None, :])))
            Ac = sp.vstack(masks, format="csr")  # row index = p * ncb + cb
            ncb = used_c.shape[0]
            if a.flat:
                # flat view of the source: owner of every source neuron
                owner = np.repeat(np.repeat(np.repeat(prod, pplan.cc, 0)[:Cs], pplan.bh, 1)[:, :Hs], pplan.bw, 2)[:, :, :Ws]
                owner = owner.ravel()
                O = sp.csr_matrix((r.ravel(), (np.arange(owner.size), owner)), shape=(owner.size, n))
                T = sp.coo_matrix(Ac @ O)  # (P*ncb) × clusters
                p_idx, cb_idx = np.divmod(T.row, ncb)
                dst = cid[cb_idx, p_idx, 0, 0]
                keep = dst >= 0
                rows_all.append(T.col[keep]); cols_all.append(dst[keep]); vals_all.append(T.data[keep])
                lagged[-1] = np.full(int(keep.sum()), lagged[-1])
                continue
            Gc = _blocks(Cs, pplan.cc)
            Ah = _axis_stat(a.rows, plan.bh).used
            Aw = _axis_stat(a.cols, plan.bw).used
            Pc, pca, pcg = _pairs(Ac, Gc)
            Ph, pha, phg = _pairs(Ah, _blocks(Hs, pplan.bh))
            Pw, pwa, pwg = _pairs(Aw, _blocks(Ws, pplan.bw))
            if min(len(pca), len(pha), len(pwa)) == 0:
                lagged.pop()
                continue
            x = (sp.csr_matrix(r.reshape(Cs * Hs, Ws)) @ Pw.T).toarray()  # (Cs*Hs, nw)
            x = x.reshape(Cs, Hs, -1).transpose(0, 2, 1).reshape(Cs * len(pwa), Hs)
            x = (Ph @ x.T).T.reshape(Cs, len(pwa) * len(pha))  # (Cs, nw*nh)
            z = np.asarray(Pc @ x)  # (nc, nw*nh)
            z = z.reshape(len(pca), len(pwa), len(pha))
            ic, iw, ih = np.nonzero(z > 0)
            p_idx, cb_idx = np.divmod(pca[ic], ncb)
            dst = cid[cb_idx, p_idx, pha[ih], pwa[iw]]
            src = prod[pcg[ic], phg[ih], pwg[iw]]
            keep = (dst >= 0) & (src >= 0)
            rows_all.append(src[keep]); cols_all.append(dst[keep]); vals_all.append(z[ic, iw, ih][keep])
            lagged[-1] = np.full(int(keep.sum()), lagged[-1])
    if not rows_all:
        return sp.csr_matrix((n, n)), sp.csr_matrix((n, n))
    vals, rows, cols = np.concatenate(vals_all), np.concatenate(rows_all), np.concatenate(cols_all)
    traffic = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    now = ~np.concatenate(lagged)
    if now.all():  # no delays: one matrix, not a copy (a large network's traffic is its largest)
        return traffic, traffic
    return traffic, sp.csr_matrix((vals[now], (rows[now], cols[now])), shape=(n, n))


def _pack(ctx: _Ctx, built: _Built, links: sp.csr_matrix) -> np.ndarray:
    """Pack small tiles of different layers into shared crossbars, never closing a cycle; returns piece → cluster.

    The cluster graph of connections without a delay must stay acyclic (see :func:`_split_cycles`),
    and splitting a packed crossbar afterwards costs more crossbars than packing around the cycle.
    Pieces are taken largest first and put in the first crossbar that fits among those of their
    neighbours and the 32 latest, provided the join closes no cycle in the graph of ``links``
    (undelayed spikes and partial sums; a delayed connection, as in a recurrent loop, reads an
    earlier timestep and may close one) between crossbars and the pieces not yet packed. That
    graph is kept in a topological
    order (initially layer order, a split tile's parts before its root): a piece whose other
    neighbours all sit on the right side of the crossbar joins at once; otherwise a search
    bounded by the order looks for a path between the two, and a join without one reorders the
    nodes between them as in Pearce and Kelly's dynamic topological sort (JEA 2006).
    """
    n = len(built.rows)
    lim = ctx.lim
    cols = np.array([(b[1] - b[0]) * (b[3] - b[2]) * (b[5] - b[4]) for b in built.piece_box])
    rows = np.array(built.rows)
    mem = np.array(built.syn) * lim.weight_bits
    srcs = [frozenset(a.source for a in ctx.aff[li]) for li in range(len(ctx.layers))]
    layer, part = np.asarray(built.piece_layer), np.asarray(built.piece_part)
    succ, pred = links.tocsr(), links.T.tocsr()
    sym = (links + links.T).tocsr()
    pos = np.empty(n, np.int64)  # topological position of each node, a node named by its first piece
    pos[np.lexsort((part, part == 0, layer))] = np.arange(n)
    node = np.arange(n)  # piece → node
    members = [[i] for i in range(n)]

    def adjacent(g, adj):
        return {int(node[j]) for m in members[g] for j in adj.indices[adj.indptr[m]:adj.indptr[m + 1]]} - {g}

    def reach(start, avoid, adj, inside):
        """Nodes reachable from ``start`` over ``adj`` inside the window; None if ``avoid`` is, but not directly."""
        seen, stack = {start}, [start]
        while stack:
            g = stack.pop()
            for h in adjacent(g, adj):
                if h == avoid:
                    if g != start:
                        return None
                elif h not in seen and inside(pos[h]):
                    seen.add(h)
                    stack.append(h)
        return seen

    def join(i, b):
        """Merge piece ``i`` into node ``b`` if that closes no cycle; True when merged."""
        others_in, others_out = adjacent(i, pred) - {b}, adjacent(i, succ) - {b}
        if max((pos[g] for g in others_in), default=-1) < pos[b] < min((pos[g] for g in others_out), default=n):
            members[b].append(i)
            node[i] = b
            return True
        lo, hi = (i, b) if pos[i] < pos[b] else (b, i)
        ahead = reach(lo, hi, succ, lambda p: p < pos[hi])
        if ahead is None:
            return False
        behind = reach(hi, lo, pred, lambda p: p > pos[lo])
        slots = sorted(pos[g] for g in ahead | behind)
        chain = sorted(behind - {hi}, key=lambda g: pos[g]) + [b] + sorted(ahead - {lo}, key=lambda g: pos[g])
        pos[chain] = slots[:len(chain)]
        members[b].append(i)
        node[i] = b
        return True

    bins: list[dict] = []
    where = np.full(n, -1)
    for i in np.argsort(-cols, kind="stable"):
        li = layer[i]
        nb = where[sym.indices[sym.indptr[i]:sym.indptr[i + 1]]]
        for bi in dict.fromkeys([*nb[nb >= 0], *range(max(0, len(bins) - 32), len(bins))]):
            bn = bins[bi]
            if (bn["cols"] + cols[i] <= lim.columns and bn["rows"] + rows[i] <= lim.rows
                    and bn["mem"] + mem[i] <= lim.memory_bits and li not in bn["layers"]
                    and not (bn["srcs"] & srcs[li]) and join(i, bn["node"])):
                bn["cols"] += cols[i]; bn["rows"] += rows[i]; bn["mem"] += mem[i]
                bn["layers"].add(li); bn["srcs"] |= srcs[li]
                where[i] = bi
                break
        else:
            where[i] = len(bins)
            bins.append({"cols": cols[i], "rows": rows[i], "mem": mem[i], "layers": {li}, "srcs": set(srcs[li]),
                         "node": i})
    # clusters numbered by their first piece, so in layer order (placers such as ``fill`` follow it)
    first = np.array([bn["node"] for bn in bins], np.int64)
    return np.unique(first[where], return_inverse=True)[1].ravel()


def _split_cycles(assign: np.ndarray, layer: np.ndarray, part: np.ndarray, graph: sp.spmatrix) -> np.ndarray | None:
    """A refined piece → cluster assignment with fewer cycles in ``graph``, or None if it has none.

    One crossbar evaluates once per timestep, so a cluster holding pieces of two layers (packed
    to save crossbars) must not sit on a cycle of ``graph``, the cluster graph of the connections
    without a delay (spikes read in the same timestep, and partial sums): e.g. the last
    partial-sum part of a layer packed with the next layer feeds its root, which feeds the packed
    cluster back, and the dataflow graph would deadlock. (A delayed connection, such as a
    recurrent one, reads the producer's earlier timestep: its channel holds initial tokens.) Per
    strongly connected component, the cluster holding the most layers, then the most parts,
    gives up its first layer (a single-layer one is split by part); callers repeat until acyclic,
    which costs few extra crossbars. Fully split, undelayed spikes go to later layers (only a
    Delay reads a later layer) and partial sums to a later part or the root, so each call splits
    at least one cluster and the repetition ends acyclic within as many calls as pieces.
    """
    g = sp.coo_matrix(graph)
    off = g.row != g.col
    k = graph.shape[0]
    links = sp.csr_matrix((np.ones(int(off.sum())), (g.row[off], g.col[off])), shape=(k, k))
    n_scc, scc = sp.csgraph.connected_components(links, directed=True, connection="strong")
    cyclic = np.bincount(scc, minlength=n_scc) > 1
    if not cyclic.any():
        return None
    layer, part = np.asarray(layer), np.asarray(part)
    n_layers = np.bincount(np.unique(np.stack([assign, layer], 1), axis=0)[:, 0], minlength=k)
    n_parts = np.bincount(np.unique(np.stack([assign, part], 1), axis=0)[:, 0], minlength=k)
    # one cluster per cycle-bearing component: the one holding the most layers, then parts
    order = np.lexsort((-n_parts, -n_layers, scc))
    first = order[np.r_[True, scc[order][1:] != scc[order][:-1]]]
    chosen = first[cyclic[scc[first]]]
    by_layer = np.zeros(k, bool)
    by_layer[chosen] = True
    by_part = by_layer & (n_layers == 1)
    # a mixed cluster gives up only its first layer (whose output leaves and comes back to the
    # later ones); a single-layer one splits by part
    first_layer = np.full(k, np.iinfo(np.int64).max)
    np.minimum.at(first_layer, assign, layer)
    split_off = np.where(by_part[assign], layer, layer == first_layer[assign])
    root_last = np.where(part > 0, part, np.iinfo(np.int32).max)
    key = np.stack([assign, np.where(by_layer[assign], split_off, -1), np.where(by_part[assign], root_last, -1)], 1)
    return np.unique(key, axis=0, return_inverse=True)[1].ravel()


def _undelayed(p: Partition) -> sp.csr_matrix:
    """The cluster graph of ``p``'s connections without a delay: the channels of its dataflow
    graph that start without tokens (:meth:`Partition.edge_delays`, as the SDFG builder reads it)."""
    src, dst, _ = p.edges()
    now = p.edge_delays(src, dst) == 0
    k = p.n_clusters
    return sp.csr_matrix((np.ones(int(now.sum())), (src[now], dst[now])), shape=(k, k))


def _acyclic(network: str, assign: np.ndarray, layer: np.ndarray, part: np.ndarray, build) -> Partition:
    """``build(assign)``, with clusters split by :func:`_split_cycles` until no cycle of undelayed
    connections is left (at most one round per piece: each round splits a cluster).

    Raises
    ------
    InfeasibleMappingError
        A round splits nothing (a cycle among clusters of one layer part each, which only a
        connection without a delay from a layer back to an earlier one could close).
    """
    while True:
        p = build(assign)
        split = _split_cycles(assign, layer, part, _undelayed(p))
        if split is None:
            return p
        if split.max() <= assign.max():
            raise InfeasibleMappingError(
                f"partition of {network}: {p.n_clusters} clusters of {len(assign)} pieces keep a cycle of "
                f"connections without a delay that splitting cannot break")
        assign = split


def _packed_tiles(ctx: _Ctx, plans: list[_TilePlan]) -> tuple[_Built, sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """Tiles of ``plans`` packed into crossbars: (tiles, piece traffic, piece partial sums, piece → cluster)."""
    built, partial_edges = _build_tiles(ctx, plans)
    n = len(built.rows)
    traffic, undelayed = _tile_traffic(ctx, built, n)
    pe = np.array(partial_edges, dtype=np.float64).reshape(-1, 3)
    partial = sp.csr_matrix((pe[:, 2], (pe[:, 0].astype(int), pe[:, 1].astype(int))), shape=(n, n))
    return built, traffic, partial, _pack(ctx, built, (undelayed + partial).tocsr())


def _check_tiles(ctx: _Ctx, plans: list[_TilePlan]) -> None:
    """Refuse, before any tile is built, a tiling whose tiles do not fit in memory (a crossbar of
    a few rows and columns cuts a large network into as many tiles as it has synapses)."""
    from spikeforge.resources import check_memory

    tiles = sum(p.clusters for p in plans)
    top = max(plans, key=lambda p: p.clusters)
    check_memory(tiles * BYTES_PER_TILE,
                 f"partition of {ctx.net.name} on {ctx.hw.name}: {tiles:,} tiles of crossbars of "
                 f"{ctx.lim.rows} rows × {ctx.lim.columns} columns (layer {ctx.layers[top.layer]}: "
                 f"{top.clusters:,})")


def _tiles_partition(ctx: _Ctx, objective: str, strategy: str) -> Partition:
    """Tile every layer, pack the tiles, and re-plan layers whose other shortlisted shapes pack into fewer crossbars.

    Each layer's cheapest shape is the start. Shapes of equal crossbar count pack very differently
    with the other layers: on LeNet-5 on ``loihi`` the cheapest second-layer shape is six
    full-width partial-sum parts that leave no room (12 crossbars in all), while six spatial tiles
    of 192 neurons fit beside first-layer tiles (10). So each layer in turn takes the shortlisted
    shape that packs the whole network into the fewest crossbars, until no change helps. Every
    trial re-packs the network, so the search runs only when one round costs at most
    :data:`PLAN_SEARCH_WORK` (tiles × alternative shapes): small networks, where one crossbar is
    a large share.
    """
    options = [_plan_layer(ctx, li, objective) for li in range(len(ctx.layers))]
    plans = [o[0] for o in options]
    _check_tiles(ctx, plans)
    built, traffic, partial, assign = _packed_tiles(ctx, plans)
    if len(built.rows) * sum(len(o) - 1 for o in options) <= PLAN_SEARCH_WORK:
        improved = True
        while improved:
            improved = False
            for li, alts in enumerate(options):
                for alt in alts:
                    if alt is plans[li]:
                        continue
                    trial = _packed_tiles(ctx, plans[:li] + [alt] + plans[li + 1:])
                    if trial[3].max() < assign.max():  # fewer crossbars
                        built, traffic, partial, assign = trial
                        plans[li], improved = alt, True
    n = len(built.rows)
    notes = [f"tile shape of {ctx.layers[p.layer]}: {p.cc} channels × {p.bh}×{p.bw}, {len(p.chunks)} part(s)"
             for p in plans]

    def build(assign: np.ndarray) -> Partition:
        k = int(assign.max()) + 1
        agg = sp.csr_matrix((np.ones(n), (np.arange(n), assign)), shape=(n, k))
        rows, syn, spikes = (np.bincount(assign, weights=w, minlength=k) for w in (built.rows, built.syn, built.spikes))
        return _finish(ctx, strategy, assign, built.piece_layer, built.piece_part, built.piece_box, rows, syn, spikes,
                       (agg.T @ traffic @ agg).tocsr(), (agg.T @ partial @ agg).tocsr(), notes)

    # the packer closes no cycle; splitting stays as the safety net
    return _acyclic(ctx.net.name, assign, np.asarray(built.piece_layer), np.asarray(built.piece_part), build)


def _finish(ctx: _Ctx, strategy: str, assign, layer, part, box, rows, syn, spikes, traffic, partial, notes) -> Partition:
    incoming = np.asarray(traffic.sum(axis=0)).ravel()
    rows = np.asarray(rows, dtype=np.float64)
    synops = incoming * np.divide(syn, rows, out=np.zeros_like(rows), where=rows > 0)
    return Partition(
        network=ctx.net.name, hardware=ctx.hw.name, strategy=strategy, fan_in=ctx.fan_in, timesteps=ctx.timesteps,
        layers=tuple(ctx.layers), layer_shapes=tuple(ctx.shapes), piece_cluster=assign, piece_layer=layer,
        piece_part=part, piece_box=np.asarray(box, dtype=np.int64).reshape(-1, 6), cluster_rows=rows,
        cluster_synapses=syn, cluster_memory_bits=np.asarray(syn) * ctx.lim.weight_bits, cluster_spikes=spikes,
        cluster_synops=synops, traffic=traffic, partial_traffic=partial, limits=ctx.lim.as_dict(), notes=tuple(notes),
        layer_delays=tuple((ctx.index[src], ctx.index[name], steps) for name, delays in zip(ctx.layers, ctx.delays)
                           for src, steps in delays.items() if src in ctx.index))


# ---------------------------------------------------------------------------------------------
# neuron level
@dataclass
class _NeuronGraph:
    pre: sp.csr_matrix       # virtual neuron × global source id (real presynaptic neurons and inputs)
    chain_prev: np.ndarray   # virtual id of the chain predecessor feeding this node, −1 if none
    layer: np.ndarray
    part: np.ndarray
    flat: np.ndarray         # neuron index in its layer (flattened)
    owner_virtual: np.ndarray  # global source id → virtual id of the neuron (−1 for inputs)
    rate: np.ndarray         # per global source id, spikes/timestep (0 for inputs)
    vrate: np.ndarray        # per virtual neuron: rate of the neuron it belongs to


def _neuron_graph(ctx: _Ctx) -> _NeuronGraph:
    total = sum(sum(int(a.synapses()) for a in affs) for affs in ctx.aff)
    if total > NEURON_LEVEL_LIMIT:
        raise InfeasibleMappingError(
            f"network {ctx.net.name}: {total:,} synapses; neuron-level partitioning materialises them and is "
            f"limited to {NEURON_LEVEL_LIMIT:,}: use strategy='tiles' or 'hypergraph'")
    # global ids: inputs first, then mapped layers
    offsets: dict[str, int] = {}
    g = 0
    sources = [n.name for n in ctx.net.nodes if isinstance(n, ir.Input)]
    for s in sources:
        offsets[s] = g
        g += int(np.prod(ctx.net.shape(s)))
    for name, shape in zip(ctx.layers, ctx.shapes):
        offsets[name] = g
        g += int(np.prod(shape))
    rate = np.zeros(g)
    for name in ctx.layers:
        rate[offsets[name]:offsets[name] + ctx.rates[name].size] = ctx.rates[name].ravel()
    owner_virtual = np.full(g, -1, np.int64)
    blocks, chain_prev, layer, part, flat, vrate = [], [], [], [], [], []
    F = ctx.lim.rows
    v = 0
    for li, (name, affs) in enumerate(zip(ctx.layers, ctx.aff)):
        mats = []
        for a in affs:
            m = sp.kron(a.channel, sp.kron(a.rows, a.cols, format="csr"), format="csr") if not a.flat else a.channel
            m = sp.csr_matrix(m)
            if a.source not in offsets:
                raise InvalidDataError(f"layer {name}: source {a.source} is not mapped")
            m = sp.csr_matrix((m.data, m.indices + offsets[a.source], m.indptr), shape=(m.shape[0], g))
            mats.append(m)
        n_out = int(np.prod(ctx.shapes[li]))
        m = sum(mats[1:], mats[0]) if mats else sp.csr_matrix((n_out, g))
        m = sp.csr_matrix(m)
        m.sum_duplicates()
        m.sort_indices()
        fan = np.diff(m.indptr)
        if fan.max(initial=0) > F and ctx.fan_in is None:
            raise _no_fan_in(ctx, name, fan.reshape(ctx.shapes[li]))
        lr = ctx.rates[name].ravel()
        big = fan > F
        if not big.any():
            blocks.append(m)
            owner_virtual[offsets[name]:offsets[name] + n_out] = v + np.arange(n_out)
            chain_prev.append(np.full(n_out, -1)); layer.append(np.full(n_out, li)); part.append(np.zeros(n_out, int))
            flat.append(np.arange(n_out)); vrate.append(lr)
            v += n_out
            continue
        rows_i, rows_p, rows_prev = [], [], []
        indptr, indices = [0], []
        for i in range(n_out):
            cols = m.indices[m.indptr[i]:m.indptr[i + 1]]
            if fan[i] <= F:
                counts, prev_link = [len(cols)], False
            elif ctx.fan_in == "split":
                counts = [F] * (len(cols) // F) + ([len(cols) % F] if len(cols) % F else [])
                prev_link = False
            else:
                counts, prev_link = unroll_chain(len(cols), F), True
            k = len(counts)
            start = 0
            order = list(range(1, k)) + [0] if k > 1 else [0]  # parts in chain order; part 0 (the neuron) last
            for j, p in enumerate(order):
                # split: part 0 takes the first chunk; unroll: chain order, part 0 last
                c = counts[p] if not prev_link else counts[j]
                s = sum(counts[:p]) if not prev_link else start
                indices.append(cols[s:s + c])
                start += c
                indptr.append(indptr[-1] + c)
                rows_i.append(i); rows_p.append(p)
                rows_prev.append(v + j - 1 if (prev_link and j > 0) else -1)
            v += k
        mat = sp.csr_matrix((np.ones(indptr[-1], np.float32), np.concatenate(indices), indptr),
                            shape=(len(indptr) - 1, g))
        # order the layer's nodes by chain position, then neuron, so that neighbouring neurons'
        # chunks (which share inputs) are adjacent; virtual ids are renumbered accordingly
        rows_p, rows_i, rows_prev = np.array(rows_p), np.array(rows_i), np.array(rows_prev)
        first = v - len(rows_p)
        pos = np.where(rows_p == 0, 1 << 20, rows_p)
        perm = np.lexsort((rows_i, pos))
        newid = np.empty(len(perm), np.int64)
        newid[perm] = first + np.arange(len(perm))
        rows_prev = np.where(rows_prev >= 0, newid[np.maximum(rows_prev - first, 0)], -1)[perm]
        roots = rows_p == 0
        owner_virtual[offsets[name] + rows_i[roots]] = newid[np.flatnonzero(roots)]
        blocks.append(mat[perm])
        chain_prev.append(rows_prev); layer.append(np.full(len(rows_i), li)); part.append(rows_p[perm])
        flat.append(rows_i[perm]); vrate.append(lr[rows_i[perm]])
    pre = sp.vstack(blocks, format="csr")
    chain_prev, layer = np.concatenate(chain_prev), np.concatenate(layer)
    # a neuron alone must fit a crossbar's synapse memory, or no clustering (nor its repair) can hold it
    bits = (np.diff(pre.indptr) + (chain_prev >= 0)) * ctx.lim.weight_bits
    if len(bits) and bits.max() > ctx.lim.memory_bits:
        v = int(np.argmax(bits))
        raise InfeasibleMappingError(f"layer {ctx.layers[layer[v]]}: a neuron's {int(bits[v]) // ctx.lim.weight_bits} "
                                     f"synapses need {int(bits[v])} bits, a crossbar holds {ctx.lim.memory_bits}")
    return _NeuronGraph(pre, chain_prev, layer, np.concatenate(part),
                        np.concatenate(flat), owner_virtual, rate, np.concatenate(vrate))


def _neuron_partition(ctx: _Ctx, ng: _NeuronGraph, assign: np.ndarray, strategy: str, notes=()) -> Partition:
    nv = ng.pre.shape[0]
    chain = ng.chain_prev >= 0
    boxes = []
    for li, i in zip(ng.layer, ng.flat):
        C, H, W = ctx.shapes[li]
        c, rem = divmod(int(i), H * W)
        h, w = divmod(rem, W)
        boxes.append((c, c + 1, h, h + 1, w, w + 1))

    def build(assign: np.ndarray) -> Partition:
        k = int(assign.max()) + 1 if nv else 0
        A = sp.csr_matrix((np.ones(nv), (np.arange(nv), assign)), shape=(nv, k))
        need = sp.csr_matrix(A.T @ ng.pre)  # cluster × global source
        need.data[:] = 1.0
        chain_rows = np.bincount(assign[chain], minlength=k)
        rows = np.diff(need.indptr) + chain_rows
        syn = np.bincount(assign, weights=np.diff(ng.pre.indptr), minlength=k) + chain_rows
        src_cluster = np.where(ng.owner_virtual >= 0, assign[np.maximum(ng.owner_virtual, 0)], -1)
        real = np.flatnonzero(src_cluster >= 0)
        O = sp.csr_matrix((ng.rate[real], (real, src_cluster[real])), shape=(len(ng.rate), k))
        traffic = sp.csr_matrix((need @ O).T)
        spikes = np.bincount(assign, weights=np.where(ng.part == 0, ng.vrate, 0.0), minlength=k)
        # partial sums / chain links
        if ctx.fan_in == "unroll":
            u = np.flatnonzero(chain)
            partial = sp.csr_matrix((ng.vrate[u], (assign[ng.chain_prev[u]], assign[u])), shape=(k, k))
        else:
            u = np.flatnonzero(ng.part > 0)
            if len(u):
                key = ng.layer.astype(np.int64) * (1 << 32) + ng.flat
                root = {int(kk): i for i, kk in enumerate(key) if ng.part[i] == 0}
                dst = np.array([root[int(key[i])] for i in u])
                partial = sp.csr_matrix((np.ones(len(u)), (assign[u], assign[dst])), shape=(k, k))
            else:
                partial = sp.csr_matrix((k, k))
        return _finish(ctx, strategy, assign, ng.layer, ng.part, boxes, rows, syn, spikes, traffic, partial, notes)

    return _acyclic(ctx.net.name, np.unique(assign, return_inverse=True)[1].ravel(), ng.layer, ng.part, build)


def _greedy_fill(ctx: _Ctx, ng: _NeuronGraph) -> np.ndarray:
    lim = ctx.lim
    nv, g = ng.pre.shape
    marker = np.zeros(g + nv, bool)
    assign = np.empty(nv, np.int64)
    cur, rows, cols, mem, members = 0, 0, 0, 0, []
    indptr, indices = ng.pre.indptr, ng.pre.indices
    for v in range(nv):
        pre = indices[indptr[v]:indptr[v + 1]]
        if ng.chain_prev[v] >= 0:
            pre = np.append(pre, g + ng.chain_prev[v])
        new = int((~marker[pre]).sum())
        m = len(pre) * lim.weight_bits
        if cols and (cols + 1 > lim.columns or rows + new > lim.rows or mem + m > lim.memory_bits):
            for u in members:
                p = indices[indptr[u]:indptr[u + 1]]
                marker[p] = False
                if ng.chain_prev[u] >= 0:
                    marker[g + ng.chain_prev[u]] = False
            cur, rows, cols, mem, members = cur + 1, 0, 0, 0, []
            new = len(pre)
        marker[pre] = True
        rows += new
        cols += 1
        mem += m
        members.append(v)
        assign[v] = cur
    return assign


def _greedy(ctx: _Ctx) -> Partition:
    ng = _neuron_graph(ctx)
    return _neuron_partition(ctx, ng, _greedy_fill(ctx, ng), "greedy")


# ---------------------------------------------------------------------------------------------
# hypergraph
_KAHYPAR_INI = """mode=direct
objective=km1
seed=-1
cmaxnet=1000
vcycles=0
p-use-sparsifier=true
p-sparsifier-min-median-he-size=28
p-sparsifier-max-hyperedge-size=1200
p-sparsifier-max-cluster-size=10
p-sparsifier-min-cluster-size=2
p-sparsifier-num-hash-func=5
p-sparsifier-combined-num-hash-func=100
p-detect-communities=true
p-detect-communities-in-ip=true
p-reuse-communities=false
p-max-louvain-pass-iterations=100
p-min-eps-improvement=0.0001
p-louvain-edge-weight=hybrid
p-large-he-threshold=1000
p-smallest-maxnet-threshold=50000
p-maxnet-removal-factor=0.01
c-type=ml_style
c-s=1
c-t=160
c-rating-score=heavy_edge
c-rating-use-communities=true
c-rating-heavy_node_penalty=no_penalty
c-rating-acceptance-criterion=best_prefer_unmatched
c-fixed-vertex-acceptance-criterion=fixed_vertex_allowed
i-mode=recursive
i-technique=multi
i-c-type=ml_style
i-c-s=1
i-c-t=150
i-c-rating-score=heavy_edge
i-c-rating-use-communities=true
i-c-rating-heavy_node_penalty=no_penalty
i-c-rating-acceptance-criterion=best_prefer_unmatched
i-c-fixed-vertex-acceptance-criterion=fixed_vertex_allowed
i-algo=pool
i-runs=20
i-bp-algorithm=worst_fit
i-bp-heuristic-prepacking=false
i-bp-early-restart=true
i-bp-late-restart=true
i-r-type=twoway_fm
i-r-runs=-1
i-r-fm-stop=simple
i-r-fm-stop-i=50
r-type=kway_fm_km1
r-runs=-1
r-fm-stop=adaptive_opt
r-fm-stop-alpha=1
r-fm-stop-i=350
"""
_INI_PATH: str | None = None


def kahypar_available() -> bool:
    """True when the KaHyPar Python module imports."""
    try:
        import kahypar  # noqa: F401
    except ImportError:
        return False
    return True


def hypergraph_partition(n: int, nets: list[np.ndarray], net_weights: np.ndarray, node_weights: np.ndarray,
                         k: int, epsilon: float, *, seed: int = 0, backend: str = "auto") -> np.ndarray:
    """k-way partition of a hypergraph minimising the connectivity (λ − 1) objective.

    KaHyPar (km1) when available; otherwise METIS (pymetis) on the clique expansion of the nets
    (each net of weight w and size s adds w/(s−1) to the edges between its pins).

    Parameters
    ----------
    n : int
        Nodes.
    nets : list of int arrays
        Pins of each net.
    net_weights, node_weights : arrays of int
    k : int
        Blocks.
    epsilon : float
        Imbalance: blocks weigh at most (1 + ε)·⌈total/k⌉.

    Returns
    -------
    numpy.ndarray
        Block of each node.

    Raises
    ------
    InvalidDataError
        ``k`` < 1.
    """
    if k < 1:
        raise InvalidDataError(f"hypergraph partition: k = {k} must be ≥ 1")
    if k == 1 or n <= 1:
        return np.zeros(n, np.int64)
    keep = [i for i, p in enumerate(nets) if len(p) > 1]
    if backend in ("auto", "kahypar") and kahypar_available():
        import kahypar

        global _INI_PATH
        if _INI_PATH is None or not os.path.exists(_INI_PATH):
            fd, _INI_PATH = tempfile.mkstemp(prefix="spikeforge-km1-", suffix=".ini")
            with os.fdopen(fd, "w") as f:
                f.write(_KAHYPAR_INI)
        idx = np.concatenate([[0], np.cumsum([len(nets[i]) for i in keep])]).astype(int)
        pins = np.concatenate([nets[i] for i in keep]).astype(int) if keep else np.zeros(0, int)
        if not keep:
            return (np.arange(n) * k // n).astype(np.int64)
        h = kahypar.Hypergraph(n, len(keep), idx.tolist(), pins.tolist(), k,
                               [int(max(1, w)) for w in np.asarray(net_weights)[keep]],
                               [int(max(1, w)) for w in node_weights])
        ctx = kahypar.Context()
        ctx.loadINIconfiguration(_INI_PATH)
        ctx.setK(k)
        ctx.setEpsilon(float(max(epsilon, 0.0)))
        ctx.setSeed(seed)
        ctx.suppressOutput(True)
        kahypar.partition(h, ctx)
        return np.array([h.blockID(i) for i in range(n)], dtype=np.int64)
    import pymetis

    rows, cols, vals = [], [], []
    for i in keep:
        p = np.asarray(nets[i])
        if len(p) > 64:  # star expansion around the first pin keeps large nets cheap
            a, b = np.full(len(p) - 1, p[0]), p[1:]
        else:
            a, b = np.meshgrid(p, p)
            sel = a != b
            a, b = a[sel], b[sel]
        rows.append(a); cols.append(b); vals.append(np.full(len(a), float(net_weights[i]) / (len(p) - 1)))
    if not rows:
        return (np.arange(n) * k // n).astype(np.int64)
    m = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    m = (m + m.T).tocsr()
    m.setdiag(0)
    m.eliminate_zeros()
    w = np.maximum(1, np.round(m.data * 1000 / max(m.data.max(), 1e-12))).astype(np.int64)
    opts = pymetis.Options(seed=seed)
    _, parts = pymetis.part_graph(k, pymetis.CSRAdjacency(m.indptr.astype(np.int64), m.indices.astype(np.int64)),
                                  eweights=w, vweights=np.asarray(node_weights, np.int64), options=opts)
    return np.asarray(parts, dtype=np.int64)


def _hypergraph_neurons(ctx: _Ctx, ng: _NeuronGraph, backend: str = "auto") -> np.ndarray:
    lim = ctx.lim
    nv, g = ng.pre.shape
    preT = sp.csc_matrix(ng.pre)
    nets, weights = [], []
    scale = 1000.0 / max(ng.rate.max(initial=0.0), 1e-12)
    for s in range(g):
        pins = preT.indices[preT.indptr[s]:preT.indptr[s + 1]]
        if ng.owner_virtual[s] >= 0:
            pins = np.append(pins, ng.owner_virtual[s])
        if len(pins) > 1:
            nets.append(np.unique(pins))
            weights.append(1 + int(round(ng.rate[s] * scale)))
    for v in np.flatnonzero(ng.chain_prev >= 0):
        nets.append(np.array([ng.chain_prev[v], v]))
        weights.append(1 + int(round(ng.vrate[v] * scale)))
    weights = np.asarray(weights, np.int64)
    k = max(1, -(-nv // lim.columns))
    while True:
        per = -(-nv // k)
        eps = lim.columns / per - 1.0
        if eps >= 0.01 or per <= 1:
            break
        k += 1
    assign = hypergraph_partition(nv, nets, weights, np.ones(nv, np.int64), k, min(eps, 0.5), backend=backend)
    # repair: re-bisect blocks that break the column, row or memory limits
    fanin = np.diff(ng.pre.indptr) + (ng.chain_prev >= 0)
    queue = list(range(int(assign.max()) + 1))
    nxt = int(assign.max()) + 1
    while queue:
        b = queue.pop()
        members = np.flatnonzero(assign == b)
        if len(members) == 0:
            continue
        sub = ng.pre[members]
        rows = len(np.unique(sub.indices)) + int((ng.chain_prev[members] >= 0).sum())
        mem = int(fanin[members].sum()) * lim.weight_bits
        if len(members) <= lim.columns and rows <= lim.rows and mem <= lim.memory_bits:
            continue
        # members are in layer/neuron order, so cutting in order keeps neighbours (shared rows) together
        half = (np.arange(len(members)) >= len(members) // 2).astype(np.int64)
        assign[members[half == 1]] = nxt
        queue += [b, nxt]
        nxt += 1
    return assign


def _hypergraph(ctx: _Ctx, backend: str = "auto", neuron_limit: int = 6_000) -> Partition:
    total = sum(sum(int(a.synapses()) for a in affs) for affs in ctx.aff)
    neurons = sum(int(np.prod(s)) for s in ctx.shapes)
    if neurons <= neuron_limit and total <= 150_000:
        ng = _neuron_graph(ctx)
        assign = _hypergraph_neurons(ctx, ng, backend)
        tool = "KaHyPar (km1)" if kahypar_available() and backend != "metis" else "METIS (pymetis)"
        p = _neuron_partition(ctx, ng, assign, "hypergraph", (f"neuron-level hypergraph partition with {tool}",))
        # keep the neuron-level result only if it is not worse in crossbars than tiles
        t = _tiles_partition(ctx, "connectivity", "hypergraph")
        if t.n_clusters < p.n_clusters or (t.n_clusters == p.n_clusters and _cut(t) < _cut(p)):
            return t
        return p
    return _tiles_partition(ctx, "connectivity", "hypergraph")


def _cut(p: Partition) -> float:
    return float(p.traffic.sum() - p.traffic.diagonal().sum())


@dataclass(frozen=True)
class Partitioner:
    """A partitioning strategy with its options; :meth:`partition` cuts a prepared network."""

    name: ClassVar[str]

    def partition(self, ctx: _Ctx) -> Partition:
        raise NotImplementedError


@dataclass(frozen=True)
class GreedyPartitioner(Partitioner):
    """Neuron-level greedy clustering in layer order (Song et al., LCTES 2020); small networks only."""

    name: ClassVar[str] = "greedy"

    def partition(self, ctx: _Ctx) -> Partition:
        return _greedy(ctx)


@dataclass(frozen=True)
class TilesPartitioner(Partitioner):
    """Structure-aware tiles of each layer, packed into shared crossbars.

    ``objective``: ``"rows"`` picks each layer's tile shape by crossbars needed (then input
    rows), ``"connectivity"`` by the spike traffic between crossbars.
    """

    name: ClassVar[str] = "tiles"
    objective: str = "rows"

    def __post_init__(self) -> None:
        if self.objective not in _OBJECTIVES:
            raise InvalidDataError(f"tiles partitioner: objective {self.objective!r}; use "
                                   f"{' or '.join(map(repr, _OBJECTIVES))}")

    def partition(self, ctx: _Ctx) -> Partition:
        return _tiles_partition(ctx, self.objective, self.name)


@dataclass(frozen=True)
class HypergraphPartitioner(Partitioner):
    """Minimises the rate-weighted connectivity (KaHyPar km1 or METIS at neuron level, tile grids beyond).

    ``backend``: ``"auto"`` (KaHyPar when installed), ``"kahypar"`` or ``"metis"``;
    networks of at most ``neuron_limit`` neurons are partitioned neuron by neuron.
    """

    name: ClassVar[str] = "hypergraph"
    backend: str = "auto"
    neuron_limit: int = 6_000

    def __post_init__(self) -> None:
        if self.backend not in _BACKENDS:
            raise InvalidDataError(f"hypergraph partitioner: backend {self.backend!r}; use "
                                   f"{', '.join(map(repr, _BACKENDS))}")
        if isinstance(self.neuron_limit, bool) or not isinstance(self.neuron_limit, int) or self.neuron_limit < 0:
            raise InvalidDataError(f"hypergraph partitioner: neuron_limit {self.neuron_limit!r}; "
                                   "must be an integer >= 0")

    def partition(self, ctx: _Ctx) -> Partition:
        return _hypergraph(ctx, self.backend, self.neuron_limit)


#: Partitioners by name (see the module docstring).
PARTITIONERS: Registry[Partitioner] = Registry(
    "partitioner", Partitioner, (GreedyPartitioner, TilesPartitioner, HypergraphPartitioner))


@public
def partition(snn: ir.Network, profile: Profile, hw: Hardware | str | os.PathLike, *,
              strategy: str | Partitioner = DEFAULT_PARTITIONER, fan_in: str | None = "split") -> Partition:
    """Cut ``snn`` into clusters that each fit one crossbar of ``hw``.

    Parameters
    ----------
    snn : Network
        A converted SNN.
    profile : Profile
        Activity from :func:`spikeforge.sim.simulator.simulate` on calibration data; spike
        rates weight the traffic.
    hw : Hardware or str
        Target, or a preset name / TOML path.
    strategy : str or Partitioner
        A name of :data:`PARTITIONERS` (``'hypergraph'``, ``'tiles'``, ``'greedy'``, options at
        their defaults) or a partitioner object with its options, e.g.
        ``HypergraphPartitioner(backend="metis")``; see the module docstring.
    fan_in : {'split', 'unroll', None}
        How neurons with more inputs than crossbar rows are handled.

    Returns
    -------
    Partition

    Raises
    ------
    InfeasibleMappingError
        A neuron's fan-in exceeds the rows with ``fan_in=None``, no tile fits a crossbar, a
        neuron-level strategy is asked for a network too large for it, or a neuron's synapses
        alone exceed a crossbar's memory.
    UnknownStrategyError
        Unknown strategy.
    NotConvertedError
        ``snn`` is not a converted SNN.
    InvalidDataError
        Unknown fan-in mode, or a profile that does not match the network.
    UnsupportedLayerError
        A layer has no hardware mapping.

    Examples
    --------
    >>> import numpy as np
    >>> from spikeforge.ir import network as ir
    >>> from spikeforge.sim.simulator import simulate
    >>> net = ir.Network((ir.Input("x", (), (6,)),
    ...     ir.Linear("fc", ("x",), np.ones((8, 6), np.float32)),
    ...     ir.IF("n", ("fc",), threshold=np.float32(1))), outputs=("n",))
    >>> prof = simulate(net, np.ones((2, 6), np.float32), timesteps=4).profile
    >>> partition(net, prof, "xbar-mesh", strategy="greedy").n_clusters
    1
    """
    hw = load_hardware(hw)
    partitioner = PARTITIONERS.resolve(strategy)
    ctx = _context(snn, profile, hw, fan_in)
    return partitioner.partition(ctx)
